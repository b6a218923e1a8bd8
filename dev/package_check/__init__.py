"""``python -m dev.package_check``: prove that the package Zappa uploads can migrate a database, before it is uploaded.

    python -m dev.package_check [--stage dev] [--project-dir .] [--venv .runtime/package-venv]
                                [--database-url URL] [--zip PACKAGE.zip] [--work-dir DIR] [--keep]

The sandbox runs the project's files; Lambda runs the zip that ``zappa package`` builds from them, and Zappa's
``exclude`` patterns (matched against every file and directory *name*, at any depth) can silently drop
``migrations/``, ``alembic.ini`` or a module, which only shows when ``zappa invoke production
'run.run_alembic_upgrade'`` fails. This check builds that zip and runs it the way Lambda would:

1. ``zappa package STAGE`` in a venv holding only ``requirements.txt`` (``.runtime/package-venv``, rebuilt when
   ``requirements.txt`` changes), so the zip holds what production gets and nothing the dev venv adds;
2. the zip is unpacked, every file hashed and the tree made read-only (``/var/task`` is read-only on Lambda);
3. the files the function needs (the app module, its project packages, ``migrations/alembic.ini``, ``env.py``, every
   revision, Zappa's ``handler.py`` and ``zappa_settings.py``) must be there; a missing one is named together with
   the ``exclude`` pattern that dropped it;
4. the emulator serves the package (``--package-dir``: its code and the ``zappa_settings.py`` Zappa wrote) under an
   interpreter whose ``site-packages`` is empty, so every third-party module must come from the package, as on
   Lambda; ``run.run_alembic_upgrade`` migrates a fresh database from base to head, ``run_alembic_current`` and
   ``run_alembic_check`` confirm it, ``GET /health`` goes through the API Gateway front, and a module audit lists
   anything imported from outside the package and the standard library;
5. afterwards no file in the package may have changed (as root, file modes do not stop writes: the hashes do).

The database: a fresh one created on the server of ``--database-url`` / ``DATABASE_URL`` (and dropped), else on an
embedded PostgreSQL (``dev.postgres``). Exit status 0 when every check passes, 1 when one fails, 2 when the check
could not run (no PyPI for the venv, no PostgreSQL, ...).
"""

from __future__ import annotations

import sys
from pathlib import Path

from dev.emulator.settings import FunctionConfig, SettingsError, stage_config

from .build import DEFAULT_VENV, build_package, ensure_package_venv, unpack
from .contents import check_contents, check_settings_module, compare_digests, required_files, set_writable, tree_digest
from .function import fresh_database, lambda_interpreter, run_function_checks, start_emulator
from .result import Check, PackageCheckError, progress


def package_check(
    project_dir: Path,
    stage: str,
    venv: Path,
    work_dir: Path,
    database_url: str | None,
    zip_path: Path | None = None,
) -> list[Check]:
    """Build (unless ``zip_path``), unpack read-only, serve and migrate; the list of checks, in order."""
    checks: list[Check] = []
    settings_file = project_dir / "zappa_settings.json"
    config = resolve_stage(settings_file, stage)
    if zip_path is None:
        zip_path = work_dir / "package.zip"
        checks.append(build(project_dir, stage, venv, zip_path))
    package_dir = work_dir / "package"
    files = unpack(zip_path, package_dir)

    contents = check_contents(package_dir, project_dir, config, settings_file.name)
    checks.append(contents)
    if not contents.ok:
        return checks
    checks.append(check_settings_module(package_dir, zip_path, stage))

    before = tree_digest(package_dir)
    set_writable(package_dir, False)
    checks.extend(serve_and_migrate(project_dir, package_dir, config, venv, work_dir, database_url))
    checks.append(compare_digests(before, tree_digest(package_dir)))
    checks[-1].detail += f"; {files} files unpacked read-only"
    return checks


def resolve_stage(settings_file: Path, stage: str) -> FunctionConfig:
    """The stage as Zappa resolves it, once for the whole check (nothing is cached or written in the project)."""
    if not settings_file.is_file():
        raise PackageCheckError(
            f"{settings_file} not found: pass --project-dir (the directory `zappa package` runs in)"
        )
    try:
        return stage_config(settings_file, stage, cache=False)
    except SettingsError as exc:
        raise PackageCheckError(f"{settings_file.name}: {exc}") from exc


def build(project_dir: Path, stage: str, venv: Path, zip_path: Path) -> Check:
    """``zappa package STAGE`` from a venv holding only requirements.txt."""
    ensure_package_venv(venv, project_dir / "requirements.txt")
    progress(f"building the package: `zappa package {stage}` (about 15 s) ...")
    seconds = build_package(project_dir, stage, venv, zip_path)
    size = zip_path.stat().st_size / 2**20
    return Check("build", True, f"`zappa package {stage}`: {size:.1f} MiB in {seconds:.1f} s")


def serve_and_migrate(
    project_dir: Path, package_dir: Path, config: FunctionConfig, venv: Path, work_dir: Path, database_url: str | None
) -> list[Check]:
    """The package in the emulator under an interpreter with an empty site-packages, on a fresh database."""
    venv_python = venv / "bin" / "python"
    python = lambda_interpreter(
        work_dir / "lambda-python", str(venv_python) if venv_python.is_file() else sys.executable
    )
    with fresh_database(database_url) as url:
        progress("serving the package read-only in the emulator; migrating a scratch database to head ...")
        emulator = start_emulator(
            python, project_dir, package_dir, work_dir / "runtime", config.stage, url, work_dir / "emulator.log"
        )
        try:
            return run_function_checks(emulator, config, package_dir, project_dir)
        finally:
            emulator.stop()


__all__ = [
    "DEFAULT_VENV",
    "Check",
    "PackageCheckError",
    "build_package",
    "check_contents",
    "check_settings_module",
    "compare_digests",
    "ensure_package_venv",
    "fresh_database",
    "lambda_interpreter",
    "package_check",
    "required_files",
    "resolve_stage",
    "run_function_checks",
    "set_writable",
    "start_emulator",
    "tree_digest",
    "unpack",
]

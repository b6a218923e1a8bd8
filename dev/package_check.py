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

import argparse
import ast
import base64
import fnmatch
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dev.guard import RemoteDatabaseError, check_database_url
from dev.invoke import function_name, invoke, stage_settings
from dev.postgres import EmbeddedPostgres, PostgresError, admin_execute, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path(".runtime") / "package-venv"
STAMP_NAME = ".requirements.sha256"
# Zappa's own ZIP_EXCLUDES (zappa/core.py) are applied on top of the stage's `exclude`.
ZAPPA_ZIP_EXCLUDES = ("*.exe", "*.DS_Store", "*.Python", "*.git", ".git/*", "*.zip", "*.tar.gz", "*.hg", "pip")
MIGRATION_FILES = ("alembic.ini", "env.py", "script.py.mako")

# Run inside the function with Zappa's raw_command; exec'd in a fresh namespace so comprehensions see the imports.
_AUDIT = """
import json, os, sys, sysconfig
import zappa_settings
root = os.path.realpath(os.getcwd())
stdlib = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}
site = [os.path.realpath(p) for p in sys.path if p.endswith("site-packages")]
bootstrap = os.path.realpath(sys.argv[0])  # the emulator's worker: Lambda's runtime bootstrap, not the function's
def _allowed(path):
    path = os.path.realpath(path)
    if path == bootstrap or path.startswith(root + os.sep):
        return True
    return path.startswith(tuple(stdlib)) and "site-packages" not in path
outside = sorted(
    "%s (%s)" % (name, m.__file__) for name, m in list(sys.modules.items())
    if getattr(m, "__file__", None) and not _allowed(m.__file__)
)
installed = {p: sorted(n for n in os.listdir(p) if not n.startswith("_")) for p in site if os.path.isdir(p)}
# One short line: the log tail that carries it back is only 4 KB.
print("PACKAGE-CHECK-AUDIT " + json.dumps({
    "settings_file": os.path.realpath(zappa_settings.__file__), "task_root": root,
    "outside": outside[:6], "outside_count": len(outside),
    "modules": len(sys.modules), "python": "%d.%d" % sys.version_info[:2],
    "site_packages": {p: names[:5] + (["... %d in all" % len(names)] if len(names) > 5 else [])
                      for p, names in installed.items() if names},
}))
"""


class PackageCheckError(RuntimeError):
    """The check could not run (environment, build, database); the message says what to do next."""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


# -- build --------------------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_package_venv(venv: Path, requirements: Path, python: str = sys.executable) -> Path:
    """A venv with exactly ``requirements.txt``; rebuilt from scratch when the file changed (a removed requirement
    must not linger in the package). Returns the venv directory."""
    stamp = venv / STAMP_NAME
    wanted = _sha256(requirements)
    if stamp.is_file() and stamp.read_text().strip() == wanted and (venv / "bin" / "zappa").is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    _progress(f"creating {venv} with {requirements.name} only (once per change of it) ...")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [[python, "-m", "venv", str(venv)], [*pip, "-r", str(requirements)]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            raise PackageCheckError(
                f"cannot create the package venv {venv} ({' '.join(cmd[:4])} ...):\n{tail}\n"
                "It installs requirements.txt from PyPI (or your pip index): check the network, or pass --zip "
                "with a package built elsewhere."
            )
    stamp.write_text(wanted + "\n")
    return venv


def build_package(
    project_dir: Path,
    stage: str,
    venv: Path,
    out_zip: Path,
    zappa: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> float:
    """``zappa package STAGE -o out_zip`` from ``project_dir`` with ``venv`` active; returns the seconds it took.

    ``zappa`` defaults to the venv's own CLI; another one (with an empty venv) packages the project files alone.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_", "PYTHON"))}
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        # `zappa package` makes no AWS call, but builds a boto3 session: dummy credentials keep it off the network.
        AWS_ACCESS_KEY_ID="package-check",
        AWS_SECRET_ACCESS_KEY="package-check",
        AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    env.update(extra_env or {})
    started = time.perf_counter()
    proc = subprocess.run(
        [str(zappa or venv / "bin" / "zappa"), "package", stage, "-o", str(out_zip)],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 or not out_zip.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
        raise PackageCheckError(f"`zappa package {stage}` failed (exit {proc.returncode}):\n{tail}")
    return time.perf_counter() - started


def unpack(zip_path: Path, dest: Path) -> int:
    """Extract the package (as Lambda does into /var/task); returns the number of files."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
        return sum(1 for info in archive.infolist() if not info.is_dir())


# -- contents -----------------------------------------------------------------------------------------------------


def _module_paths(project_dir: Path, module: str) -> list[Path]:
    """The files of a top-level module or package of the project (empty when it is not the project's)."""
    as_file = project_dir / f"{module}.py"
    if as_file.is_file():
        return [as_file]
    as_package = project_dir / module
    if (as_package / "__init__.py").is_file():
        return sorted(p for p in as_package.rglob("*.py") if "__pycache__" not in p.parts)
    return []


def _imported_top_level(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def required_files(project_dir: Path, stage_config: dict[str, Any], migrations: str = "migrations") -> list[str]:
    """Paths (relative, POSIX) the function cannot run without, derived from the project, not from the package.

    The app module (``app_function``), every file of the project packages it imports (transitively), Zappa's
    ``handler.py`` and ``zappa_settings.py``, and the Alembic environment with every revision.
    """
    app_module = stage_config.get("app_function", "").rsplit(".", 1)[0]
    required: set[Path] = set()
    pending = [app_module] if app_module else []
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        for path in _module_paths(project_dir, module):
            required.add(path)
            pending.extend(_imported_top_level(path) - seen)
    migrations_dir = project_dir / migrations
    if migrations_dir.is_dir():
        required.update(migrations_dir / name for name in MIGRATION_FILES if (migrations_dir / name).is_file())
        required.update(p for p in (migrations_dir / "versions").glob("*.py") if p.name != "__init__.py")
    relative = {p.relative_to(project_dir).as_posix() for p in required}
    return sorted(relative | {"handler.py", "zappa_settings.py"})


def _dropping_pattern(relpath: str, exclude: list[str], exclude_glob: list[str]) -> str | None:
    for part in relpath.split("/"):
        for pattern in [*exclude, *ZAPPA_ZIP_EXCLUDES]:
            if fnmatch.fnmatch(part, pattern):
                return f"`exclude` pattern {pattern!r}"
    for pattern in exclude_glob:
        if Path(relpath).match(pattern) or fnmatch.fnmatch(relpath, pattern):
            return f"`exclude_glob` pattern {pattern!r}"
    return None


def check_contents(package_dir: Path, project_dir: Path, stage: str, settings_file: Path) -> Check:
    """Every required file is in the unpacked package; a missing one is named with the pattern that dropped it."""
    config = stage_settings(json.loads(settings_file.read_text()), stage)
    required = required_files(project_dir, config)
    missing = [rel for rel in required if not (package_dir / rel).is_file()]
    if not missing:
        revisions = sum(1 for rel in required if "/versions/" in rel)
        return Check("contents", True, f"{len(required)} needed files present, {revisions} revisions among them")
    lines = []
    for rel in missing:
        cause = _dropping_pattern(rel, list(config.get("exclude", [])), list(config.get("exclude_glob", [])))
        lines.append(f"    {rel}" + (f"  (dropped by the {cause} of stage {stage!r})" if cause else ""))
    return Check(
        "contents",
        False,
        f"the package for stage {stage!r} misses {len(missing)} file(s) the function needs:\n"
        + "\n".join(lines)
        + f"\n  Zappa matches `exclude` against every file and directory name at any depth: narrow or remove the "
        f"pattern in {settings_file.name}, then run `make package-check` again.",
    )


# -- read-only ----------------------------------------------------------------------------------------------------


def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> sha256 of the content (or ``dir``/``link``); covers added and removed entries too."""
    digest: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            digest[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                digest[rel] = "link:" + os.readlink(path)
                continue
            sha = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(chunk)
            digest[rel] = sha.hexdigest()
    return digest


def set_writable(root: Path, writable: bool) -> None:
    """``chmod -R a-w`` (or ``u+w`` to clean up). Root ignores these modes, hence :func:`tree_digest` as well."""
    paths = [root, *root.rglob("*")]
    for path in sorted(paths, key=lambda p: len(p.parts), reverse=not writable):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        new = (mode | stat.S_IWUSR) if writable else (mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        os.chmod(path, new)


def compare_digests(before: dict[str, str], after: dict[str, str]) -> Check:
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    added, removed = sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys())
    if not (changed or added or removed):
        return Check("read-only", True, f"no file in the package changed ({len(before)} entries hashed before/after)")
    parts = [
        f"{label}: {', '.join(items[:5])}"
        for label, items in (("changed", changed), ("added", added), ("removed", removed))
        if items
    ]
    return Check(
        "read-only",
        False,
        "the function wrote into its code directory, which is read-only on Lambda (" + "; ".join(parts) + "). "
        "Write to /tmp (tempfile) instead.",
    )


# -- database -----------------------------------------------------------------------------------------------------


@contextmanager
def fresh_database(given_url: str | None) -> Iterator[str]:
    """A new empty database: on the server of ``given_url`` when set (created and dropped), else embedded."""
    from sqlalchemy.engine import make_url

    name = f"package_check_{uuid.uuid4().hex[:10]}"
    if given_url:
        try:
            check_database_url(given_url)
        except RemoteDatabaseError as exc:
            raise PackageCheckError(f"DATABASE_URL: {exc}") from exc
        admin_url = given_url
        try:
            admin_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE template0')
        except Exception as exc:
            raise PackageCheckError(
                f"cannot create a scratch database on {make_url(given_url).render_as_string(hide_password=True)}: "
                f"{str(exc).strip().splitlines()[0]}. The user needs CREATEDB; or unset DATABASE_URL to use an "
                "embedded PostgreSQL."
            ) from exc
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with suppress(Exception):
                admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    base = Path(tempfile.mkdtemp(prefix="package-check-pg-"))
    base.chmod(0o755)  # as root the server runs as an unprivileged user that must traverse it
    try:
        server = EmbeddedPostgres(base / "cluster", fast_unsafe=True).start()
    except PostgresError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise PackageCheckError(f"no DATABASE_URL and no embedded PostgreSQL: {exc}") from exc
    try:
        yield server.create_database(name)
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


# -- running the package ------------------------------------------------------------------------------------------


def lambda_interpreter(dest: Path, python: str) -> Path:
    """A venv with nothing installed: the standard library only, as Lambda's Python runtime (plus the package)."""
    proc = subprocess.run([python, "-m", "venv", "--without-pip", str(dest)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PackageCheckError(f"cannot create an empty venv at {dest}: {proc.stderr.strip()}")
    return dest / "bin" / "python"


@dataclass
class RunningEmulator:
    proc: subprocess.Popen
    port: int
    api_port: int
    log_path: Path
    function: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def call(self, event: dict[str, Any], timeout: float = 300) -> tuple[dict[str, Any] | None, Any, str]:
        """(error or None, result, decoded log tail) of one RequestResponse invocation."""
        status, headers, body = invoke(
            f"http://127.0.0.1:{self.port}", self.function, json.dumps(event).encode(), "RequestResponse", timeout
        )
        headers = {k.lower(): v for k, v in headers.items()}
        tail = base64.b64decode(headers.get("x-amz-log-result", "")).decode(errors="replace")
        if status != 200:
            return {"errorType": f"HTTP {status}", "errorMessage": body.decode(errors="replace")}, None, tail
        result = json.loads(body or b"null")
        return (result if "x-amz-function-error" in headers else None), result, tail

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_emulator(
    python: Path, project_dir: Path, package_dir: Path, runtime_dir: Path, stage: str, database_url: str, log: Path
) -> RunningEmulator:
    port, api_port = free_port(), free_port()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    # Lambda cannot write __pycache__ into /var/task; neither may anything here (see the read-only check).
    env.update(PYTHONDONTWRITEBYTECODE="1", DATABASE_URL=database_url)
    cmd = [str(python), "-m", "dev.emulator", "--project-dir", str(project_dir), "--package-dir", str(package_dir)]
    cmd += ["--runtime-dir", str(runtime_dir), "--stage", stage, "--port", str(port), "--api-port", str(api_port)]
    cmd += ["--max-concurrency", "1", "--allow-raw-command", "--pass-env", "DATABASE_URL"]
    with open(log, "wb") as handle:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    settings = json.loads((project_dir / "zappa_settings.json").read_text())
    emulator = RunningEmulator(proc, port, api_port, log, function_name(settings, stage, project_dir))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PackageCheckError(
                f"the emulator could not serve the package (exit {proc.returncode}):\n{emulator.log()}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return emulator
        except OSError:
            time.sleep(0.1)
    emulator.stop()
    raise PackageCheckError(f"the emulator did not answer /health within 60 s:\n{emulator.log()[-3000:]}")


def _explain_error(function: str, error: dict[str, Any], tail: str) -> str:
    kind, message = error.get("errorType", "Error"), error.get("errorMessage", "")
    text = f"{function} failed in the package: {kind}: {message}"
    if kind in ("ModuleNotFoundError", "ImportError") or "No module named" in message:
        text += (
            "\n  A module the function imports is not in the package: check the stage's `exclude` patterns in "
            "zappa_settings.json and that the module's distribution is in requirements.txt."
        )
    lines = [line for line in tail.splitlines() if line.strip() and not line.startswith(("END ", "REPORT "))][-10:]
    return text + ("\n  log tail:\n    " + "\n    ".join(lines) if lines else "")


def _revisions(migrations_dir: Path) -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrations_dir))
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def run_function_checks(emulator: RunningEmulator, package_dir: Path, project_dir: Path, stage: str) -> list[Check]:
    """Invoke the migration functions and the HTTP front from the package; audit where the modules came from."""
    checks: list[Check] = []
    revisions = _revisions(project_dir / "migrations")

    error, result, tail = emulator.call({"command": "run.run_alembic_upgrade"})
    if error:
        return [Check("upgrade", False, _explain_error("run.run_alembic_upgrade", error, tail))]
    applied = [step["revision"] for step in result.get("steps", [])]
    checks.append(
        Check(
            "upgrade",
            applied == revisions,
            f"base -> {result.get('to_revision')}: {len(applied)} revision(s) applied through the package"
            if applied == revisions
            else f"applied {applied}, expected every revision of migrations/ in order: {revisions}",
        )
    )

    error, result, tail = emulator.call({"command": "run.run_alembic_current"})
    ok = error is None and bool(result.get("is_head")) and result.get("revision") == revisions[-1]
    checks.append(
        Check(
            "current",
            ok,
            "the database is at head"
            if ok
            else _explain_error(
                "current", error or {"errorType": "NotAtHead", "errorMessage": json.dumps(result)}, tail
            ),
        )
    )

    error, result, tail = emulator.call({"command": "run.run_alembic_check"})
    checks.append(
        Check(
            "models",
            error is None,
            "models match the migrated schema"
            if error is None
            else _explain_error("run.run_alembic_check", error, tail),
        )
    )

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{emulator.api_port}/health", timeout=60) as response:
            status, body = response.status, response.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode(errors="replace").strip()
    checks.append(Check("http", status == 200, f"GET /health through the API Gateway front -> {status} {body[:200]}"))

    error, _, tail = emulator.call({"raw_command": f"exec({_AUDIT!r}, {{}})"})
    audit_line = next((line for line in tail.splitlines() if line.startswith("PACKAGE-CHECK-AUDIT ")), None)
    if error or audit_line is None:
        checks.append(Check("modules", False, _explain_error("the module audit", error or {}, tail)))
        return checks
    audit = json.loads(audit_line.split(" ", 1)[1])
    own_settings = str((package_dir / "zappa_settings.py").resolve())
    checks.append(
        Check(
            "settings",
            audit["settings_file"] == own_settings and audit["task_root"] == str(package_dir.resolve()),
            f"the function imported {audit['settings_file']} (task root {audit['task_root']})",
        )
    )
    leaked = {p: names for p, names in audit["site_packages"].items() if names}
    outside = audit["outside"]
    checks.append(
        Check(
            "modules",
            not outside and not leaked,
            f"{audit['modules']} modules loaded, all from the package or the standard library"
            if not outside and not leaked
            else f"{audit['outside_count']} module(s) loaded from outside the package, e.g. {outside[:3]}; "
            f"installed next to the interpreter: {leaked}",
        )
    )
    runtime = stage_settings(json.loads((project_dir / "zappa_settings.json").read_text()), stage).get(
        "runtime", "python3.11"
    )
    wanted = runtime.removeprefix("python")
    checks.append(Check("python", audit["python"] == wanted, f"Python {audit['python']}, stage runtime {runtime}"))
    return checks


def check_settings_module(package_dir: Path, zip_path: Path, stage: str) -> Check:
    """The package's zappa_settings.py is the one Zappa wrote into the zip, for this stage."""
    with zipfile.ZipFile(zip_path) as archive:
        written = archive.read("zappa_settings.py")
    on_disk = (package_dir / "zappa_settings.py").read_bytes()
    ok = (
        on_disk == written
        and written.startswith(b"# Generated by Zappa")
        and f"API_STAGE='{stage}'".encode() in written
    )
    return Check(
        "zappa-settings",
        ok,
        f"zappa_settings.py is Zappa's, for stage {stage!r}"
        if ok
        else "zappa_settings.py in the package is not the one Zappa generated for this stage",
    )


# -- the whole check ----------------------------------------------------------------------------------------------


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
    if not settings_file.is_file():
        raise PackageCheckError(
            f"{settings_file} not found: pass --project-dir (the directory `zappa package` runs in)"
        )
    try:
        stage_settings(json.loads(settings_file.read_text()), stage)
    except (KeyError, ValueError) as exc:
        raise PackageCheckError(f"{settings_file.name}: {exc}") from exc

    if zip_path is None:
        ensure_package_venv(venv, project_dir / "requirements.txt")
        zip_path = work_dir / "package.zip"
        _progress(f"building the package: `zappa package {stage}` (about 15 s) ...")
        seconds = build_package(project_dir, stage, venv, zip_path)
        checks.append(
            Check(
                "build", True, f"`zappa package {stage}`: {zip_path.stat().st_size / 2**20:.1f} MiB in {seconds:.1f} s"
            )
        )
    package_dir = work_dir / "package"
    files = unpack(zip_path, package_dir)

    contents = check_contents(package_dir, project_dir, stage, settings_file)
    checks.append(contents)
    if not contents.ok:
        return checks
    checks.append(check_settings_module(package_dir, zip_path, stage))

    before = tree_digest(package_dir)
    set_writable(package_dir, False)
    python = lambda_interpreter(
        work_dir / "lambda-python",
        str(venv / "bin" / "python") if (venv / "bin" / "python").is_file() else sys.executable,
    )
    with fresh_database(database_url) as url:
        _progress("serving the package read-only in the emulator; migrating a scratch database to head ...")
        emulator = start_emulator(
            python, project_dir, package_dir, work_dir / "runtime", stage, url, work_dir / "emulator.log"
        )
        try:
            checks.extend(run_function_checks(emulator, package_dir, project_dir, stage))
        finally:
            emulator.stop()
    checks.append(compare_digests(before, tree_digest(package_dir)))
    checks[-1].detail += f"; {files} files unpacked read-only"
    return checks


def _progress(message: str) -> None:
    print(f"package-check: {message}", flush=True)


def format_report(checks: list[Check], stage: str) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"package-check, stage {stage}:"]
    for check in checks:
        lines.append(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name:<{width}}  {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    lines.append("package-check: " + (f"FAILED ({', '.join(failed)})" if failed else "the package runs as deployed"))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.package_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="the zappa_settings.json stage to package (default: dev)")
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="where `zappa package` runs")
    parser.add_argument(
        "--venv", type=Path, help=f"venv with requirements.txt only (default: <project>/{DEFAULT_VENV})"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a scratch database is created on this server (default: $DATABASE_URL, else embedded)",
    )
    parser.add_argument("--zip", type=Path, help="check this package instead of building one")
    parser.add_argument("--work-dir", type=Path, help="where the package is unpacked (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (package, emulator log) afterwards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    project_dir = args.project_dir.resolve()
    venv = (args.venv or project_dir / DEFAULT_VENV).resolve()
    if args.work_dir:
        work_dir = args.work_dir.resolve()
        if work_dir.exists():
            set_writable(work_dir, True)
            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True)
    else:
        work_dir = Path(tempfile.mkdtemp(prefix="package-check-"))
    try:
        checks = package_check(
            project_dir, args.stage, venv, work_dir, args.database_url, args.zip.resolve() if args.zip else None
        )
    except PackageCheckError as exc:
        print(f"package-check: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"package-check: work dir kept: {work_dir} (package/, emulator.log)")
        else:
            with suppress(OSError):
                set_writable(work_dir, True)
            shutil.rmtree(work_dir, ignore_errors=True)
    print(format_report(checks, args.stage))
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

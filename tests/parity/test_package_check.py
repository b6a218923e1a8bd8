"""Production parity: the package Zappa builds is what the emulator runs, read-only, and it migrates to head.

Fast tests (``make test``) use the real ``zappa`` CLI on a copy of the project with an *empty* venv: Zappa's own
``exclude`` handling, its ``handler.py`` and its ``zappa_settings.py``, in about a second, without PyPI. The emulator
then serves that package with the dev venv's interpreter (third-party modules come from there, which the module audit
must notice). The ``slow`` tests run ``python -m dev.package_check`` end to end: a venv with only requirements.txt,
the full ``zappa package`` zip (~30 MB), an interpreter with an empty site-packages (``make package-check``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dev import package_check as pc
from dev.project_copy import copy_deployable
from tests.support.emulator_harness import start_refused

pytestmark = pytest.mark.emulator  # the real `zappa package`, served by the emulator

REPO_ROOT = Path(__file__).resolve().parents[2]

ZAPPA_CLI = Path(sys.executable).parent / "zappa"
# Zappa's PyPI update check fails at once instead of waiting (no network needed for a files-only package).
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}
STAGE = "dev"
SETTINGS = "zappa_settings.json"


def copy_project(dest: Path, extra_exclude: list[str] | None = None) -> Path:
    """What `zappa package` needs from the project: the app, migrations, settings and requirements."""
    dest.mkdir(parents=True)
    copy_deployable(dest)
    if extra_exclude:
        settings = json.loads((dest / "zappa_settings.json").read_text())
        settings[STAGE]["exclude"] = [*settings[STAGE].get("exclude", []), *extra_exclude]
        (dest / "zappa_settings.json").write_text(json.dumps(settings, indent=4))
    return dest


def files_only_package(tmp: Path, extra_exclude: list[str] | None = None) -> tuple[Path, Path, Path]:
    """(project, zip, unpacked dir): the real Zappa CLI packaging the project with an empty venv."""
    project = copy_project(tmp / "project", extra_exclude)
    venv = tmp / "empty-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    zip_path = tmp / "package.zip"
    pc.build_package(project, STAGE, venv, zip_path, zappa=ZAPPA_CLI, extra_env=OFFLINE)
    package_dir = tmp / "package"
    pc.unpack(zip_path, package_dir)
    return project, zip_path, package_dir


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return files_only_package(tmp_path_factory.mktemp("parity"))


def test_required_files_follow_the_app_module_imports() -> None:
    config = pc.resolve_stage(REPO_ROOT / "zappa_settings.json", STAGE)
    required = pc.required_files(REPO_ROOT, config.app_function)
    revisions = sorted(p.name for p in (REPO_ROOT / "migrations" / "versions").glob("*.py"))
    assert {"run.py", "handler.py", "zappa_settings.py", "yt_pubsub_handler/__init__.py"} <= set(required)
    assert {"migrations/alembic.ini", "migrations/env.py", "migrations/script.py.mako"} <= set(required)
    assert sorted(Path(r).name for r in required if r.startswith("migrations/versions/")) == revisions
    assert not [r for r in required if r.startswith(("tests/", "dev/"))], "tools are not part of the function"


def test_shipped_exclude_keeps_what_the_function_needs(built) -> None:
    project, zip_path, package_dir = built
    contents = pc.check_contents(package_dir, project, pc.resolve_stage(project / SETTINGS, STAGE), SETTINGS)
    assert contents.ok, contents.detail
    settings = pc.check_settings_module(package_dir, zip_path, STAGE)
    assert settings.ok, settings.detail


def test_exclude_that_drops_migrations_is_named(tmp_path: Path) -> None:
    """The trap this check exists for: Zappa matches `exclude` against names at any depth, silently."""
    project, _, package_dir = files_only_package(tmp_path, extra_exclude=["migrations"])
    assert not (package_dir / "migrations").exists(), "Zappa kept migrations/: the premise of this test is gone"
    contents = pc.check_contents(package_dir, project, pc.resolve_stage(project / SETTINGS, STAGE), SETTINGS)
    assert not contents.ok
    for missing in ("migrations/alembic.ini", "migrations/env.py", "migrations/versions/"):
        assert missing in contents.detail, contents.detail
    assert "`exclude` pattern 'migrations' of stage 'dev'" in contents.detail
    assert "run.py" not in contents.detail.split("\n", 1)[1].split("Zappa matches")[0]


def test_an_excluded_module_is_named(tmp_path: Path) -> None:
    project, _, package_dir = files_only_package(tmp_path, extra_exclude=["websub.py"])
    contents = pc.check_contents(package_dir, project, pc.resolve_stage(project / SETTINGS, STAGE), SETTINGS)
    assert not contents.ok
    assert "yt_pubsub_handler/websub.py  (dropped by the `exclude` pattern 'websub.py'" in contents.detail


def test_emulator_serves_the_package_read_only(built, database_url: str, tmp_path: Path) -> None:
    """--package-dir: Zappa's zappa_settings.py and code from the package, nothing written into it; the module
    audit notices every module that did not come from the package (here: the dev venv's site-packages)."""
    project, _, source = built
    package_dir = tmp_path / "package"
    shutil.copytree(source, package_dir)
    before = pc.tree_digest(package_dir)
    pc.set_writable(package_dir, False)
    runtime_dir = tmp_path / "runtime"
    emulator = pc.start_emulator(
        Path(sys.executable), project, package_dir, runtime_dir, STAGE, database_url, tmp_path / "emulator.log"
    )
    try:
        config = pc.resolve_stage(project / SETTINGS, STAGE)
        checks = {c.name: c for c in pc.run_function_checks(emulator, config, package_dir, project)}
    finally:
        emulator.stop()
        pc.set_writable(package_dir, True)
    assert "settings" in checks, f"the module audit did not run: {checks['modules'].detail}"
    for name in ("upgrade", "current", "models", "http", "settings", "python"):
        assert checks[name].ok, f"{name}: {checks[name].detail}\n{emulator.log()[-3000:]}"
    assert str(package_dir / "zappa_settings.py") in checks["settings"].detail
    assert not checks["modules"].ok and "site-packages" in checks["modules"].detail, checks["modules"].detail
    digest = pc.compare_digests(before, pc.tree_digest(package_dir))
    assert digest.ok, digest.detail
    assert (runtime_dir / STAGE / "zappa_settings.py").is_file(), "rendered settings belong in the runtime dir"
    assert not (project / ".runtime").exists(), "nothing may be written into the project either"


def test_a_write_into_the_package_is_caught(built, tmp_path: Path) -> None:
    package_dir = tmp_path / "package"
    shutil.copytree(built[2], package_dir)
    before = pc.tree_digest(package_dir)
    (package_dir / "run.py").write_text("# changed\n")
    (package_dir / "yt_pubsub_handler" / "__pycache__").mkdir()
    check = pc.compare_digests(before, pc.tree_digest(package_dir))
    assert not check.ok
    assert "changed: run.py" in check.detail and "added: yt_pubsub_handler/__pycache__" in check.detail


def _refused(tmp_path: Path, *args: str) -> str:
    """``python -m dev.emulator ARGS``, which must refuse to start; its console. Fails fast if it serves instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
    refusal = start_refused(*args, log=tmp_path / "refused.log", env=env)
    assert refusal.returncode == 2, refusal.log
    return refusal.log


def test_package_built_for_another_stage_is_refused(built, tmp_path: Path) -> None:
    project, _, package_dir = built
    args = ["--project-dir", str(project), "--package-dir", str(package_dir), "--runtime-dir", str(tmp_path)]
    log = _refused(tmp_path, *args, "--stage", "local")
    assert "the package was built for stage 'dev', not 'local'" in log, log


def test_directory_without_zappa_settings_is_refused(tmp_path: Path) -> None:
    log = _refused(tmp_path, "--project-dir", str(REPO_ROOT), "--package-dir", str(tmp_path), "--stage", STAGE)
    assert "is not an unpacked Zappa package: it has no zappa_settings.py" in log, log


# -- the real thing: `make package-check` -----------------------------------------------------------------------


def _package_check(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dev.package_check", "--stage", STAGE, "--venv", str(REPO_ROOT / pc.DEFAULT_VENV)]
    return subprocess.run([*cmd, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_package_check_real_build_migrates_to_head(pg_admin_url: str) -> None:
    proc = _package_check("--project-dir", str(REPO_ROOT), "--database-url", pg_admin_url)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    for line in ("ok    upgrade", "ok    modules", "ok    read-only", "ok    settings", "ok    python"):
        assert line in output, output
    assert "the package runs as deployed" in output


@pytest.mark.slow
def test_package_check_fails_when_exclude_drops_migrations(pg_admin_url: str, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project", extra_exclude=["migrations"])
    proc = _package_check("--project-dir", str(project), "--database-url", pg_admin_url)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "FAIL  contents" in output and "migrations/alembic.ini" in output, output
    assert "`exclude` pattern 'migrations'" in output, output


@pytest.mark.slow
def test_package_check_fails_when_a_dependency_is_excluded(pg_admin_url: str, tmp_path: Path) -> None:
    """Only an interpreter with an empty site-packages shows this: the dev venv would have lent psycopg2."""
    project = copy_project(tmp_path / "project", extra_exclude=["psycopg2"])
    proc = _package_check("--project-dir", str(project), "--database-url", pg_admin_url)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "FAIL  upgrade" in output and "No module named 'psycopg2'" in output, output
    assert "A module the function imports is not in the package" in output, output


def test_offline_the_first_package_check_says_it_needs_the_network(tmp_path: Path, monkeypatch) -> None:
    """The package venv installs requirements.txt from the index; with the index unreachable (here: an index URL on
    a port nobody listens on), the error's first line says the network is needed, not only pip's complaint."""
    from dev.package_check.build import ensure_package_venv
    from dev.ports import free_port

    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Flask-Migrate==4.1.0\n")
    with pytest.raises(pc.PackageCheckError) as caught:
        ensure_package_venv(tmp_path / "venv", requirements)
    first = str(caught.value).splitlines()[0]
    assert first.startswith("make package-check needs the network the first time: it installs requirements.txt"), first
    assert "127.0.0.1 does not answer from here" in first, first

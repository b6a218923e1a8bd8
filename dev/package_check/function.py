"""Run the package in the emulator under an interpreter with an empty site-packages, and ask the function."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from dev.emulator import client
from dev.emulator.client import EmulatorProcess, Invocation
from dev.emulator.settings import FunctionConfig
from dev.guard import RemoteDatabaseError, check_database_url
from dev.postgres import PostgresError, scratch_database

from .result import Check, PackageCheckError

REPO_ROOT = Path(__file__).resolve().parents[2]

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


@contextmanager
def fresh_database(given_url: str | None) -> Iterator[str]:
    """A new empty database: on the server of ``given_url`` when set (created and dropped), else embedded."""
    if given_url:
        try:
            check_database_url(given_url)
        except RemoteDatabaseError as exc:
            raise PackageCheckError(f"DATABASE_URL: {exc}") from exc
    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(given_url, prefix="package_check", fast_unsafe=True))
        except PostgresError as exc:
            raise PackageCheckError(f"no DATABASE_URL and no embedded PostgreSQL: {exc}") from exc
        except Exception as exc:
            where = make_url(given_url).render_as_string(hide_password=True) if given_url else "the embedded server"
            raise PackageCheckError(
                f"cannot create a scratch database on {where}: {str(exc).strip().splitlines()[0]}. "
                "The user needs CREATEDB; or unset DATABASE_URL to use an embedded PostgreSQL."
            ) from exc
        yield url


# -- running the package ------------------------------------------------------------------------------------------


def lambda_interpreter(dest: Path, python: str) -> Path:
    """A venv with nothing installed: the standard library only, as Lambda's Python runtime (plus the package)."""
    proc = subprocess.run([python, "-m", "venv", "--without-pip", str(dest)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PackageCheckError(f"cannot create an empty venv at {dest}: {proc.stderr.strip()}")
    return dest / "bin" / "python"


def start_emulator(
    python: Path, project_dir: Path, package_dir: Path, runtime_dir: Path, stage: str, database_url: str, log: Path
) -> EmulatorProcess:
    """The emulator serving the unpacked package read-only under ``python``, DATABASE_URL passed to the function."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    # Lambda cannot write __pycache__ into /var/task; neither may anything here (see the read-only check).
    env.update(PYTHONDONTWRITEBYTECODE="1", DATABASE_URL=database_url)
    args = ["--package-dir", str(package_dir), "--runtime-dir", str(runtime_dir), "--stage", stage]
    args += ["--max-concurrency", "1", "--allow-raw-command", "--pass-env", "DATABASE_URL"]
    try:
        return client.start(*args, log=log, project_dir=project_dir, env=env, python=python)
    except client.EmulatorStartError as exc:
        raise PackageCheckError(f"the emulator could not serve the package (exit {exc.returncode}):\n{exc}") from None


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


Call = Callable[[str], Invocation]  # invoke one Zappa command (``module.function``) in the packaged function


def check_upgrade(answer: Invocation, revisions: list[str]) -> Check:
    """``run.run_alembic_upgrade`` from base applied every revision of migrations/, in order."""
    if not answer.ok:
        return Check("upgrade", False, _explain_error("run.run_alembic_upgrade", answer.error() or {}, answer.log))
    result = answer.json()
    applied = [step["revision"] for step in result.get("steps", [])]
    if applied != revisions:
        return Check(
            "upgrade", False, f"applied {applied}, expected every revision of migrations/ in order: {revisions}"
        )
    detail = f"base -> {result.get('to_revision')}: {len(applied)} revision(s) applied through the package"
    return Check("upgrade", True, detail)


def check_current(call: Call, head: str) -> Check:
    answer = call("run.run_alembic_current")
    result = answer.json() if answer.ok else {}
    if answer.ok and result.get("is_head") and result.get("revision") == head:
        return Check("current", True, "the database is at head")
    error = answer.error() or {"errorType": "NotAtHead", "errorMessage": json.dumps(result)}
    return Check("current", False, _explain_error("current", error, answer.log))


def check_models(call: Call) -> Check:
    answer = call("run.run_alembic_check")
    if answer.ok:
        return Check("models", True, "models match the migrated schema")
    return Check("models", False, _explain_error("run.run_alembic_check", answer.error() or {}, answer.log))


def check_http(emulator: EmulatorProcess) -> Check:
    """The app's ``GET /health`` through the API Gateway front (Zappa's WSGI path, inside the package)."""
    answer = client.LambdaClient(emulator.api_url, timeout=60).request("GET", "/health")
    text = answer.text().strip()[:200]
    return Check("http", answer.status == 200, f"GET /health through the API Gateway front -> {answer.status} {text}")


def check_audit(emulator: EmulatorProcess, config: FunctionConfig, package_dir: Path) -> list[Check]:
    """Run the module audit inside the function: the settings module and task root it used, every module loaded
    from outside the package and the standard library, and the Python version against the stage's runtime."""
    answer = emulator.client().invoke(config.function_name, client.zappa_command(f"exec({_AUDIT!r}, {{}})", raw=True))
    line = next((line for line in answer.log.splitlines() if line.startswith("PACKAGE-CHECK-AUDIT ")), None)
    if not answer.ok or line is None:
        return [Check("modules", False, _explain_error("the module audit", answer.error() or {}, answer.log))]
    audit = json.loads(line.split(" ", 1)[1])
    own_settings = str((package_dir / "zappa_settings.py").resolve())
    settings = Check(
        "settings",
        audit["settings_file"] == own_settings and audit["task_root"] == str(package_dir.resolve()),
        f"the function imported {audit['settings_file']} (task root {audit['task_root']})",
    )
    leaked = {p: names for p, names in audit["site_packages"].items() if names}
    outside = audit["outside"]
    modules = Check(
        "modules",
        not outside and not leaked,
        f"{audit['modules']} modules loaded, all from the package or the standard library"
        if not outside and not leaked
        else f"{audit['outside_count']} module(s) loaded from outside the package, e.g. {outside[:3]}; "
        f"installed next to the interpreter: {leaked}",
    )
    runtime = config.runtime or "python3.11"
    python = Check(
        "python", audit["python"] == config.python_version, f"Python {audit['python']}, stage runtime {runtime}"
    )
    return [settings, modules, python]


def run_function_checks(
    emulator: EmulatorProcess, config: FunctionConfig, package_dir: Path, project_dir: Path
) -> list[Check]:
    """Invoke the migration functions and the HTTP front from the package; audit where the modules came from."""
    lambda_client = emulator.client()

    def call(command: str) -> Invocation:
        return lambda_client.invoke(config.function_name, client.zappa_command(command))

    revisions = _revisions(project_dir / "migrations")
    upgraded = call("run.run_alembic_upgrade")
    if not upgraded.ok:  # nothing else can pass on a database the function could not migrate
        return [check_upgrade(upgraded, revisions)]
    checks = [check_upgrade(upgraded, revisions), check_current(call, revisions[-1]), check_models(call)]
    return [*checks, check_http(emulator), *check_audit(emulator, config, package_dir)]

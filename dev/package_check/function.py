"""Run the package in the emulator under an interpreter with an empty site-packages, and ask the function."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from dev.guard import RemoteDatabaseError, check_database_url
from dev.invoke import function_name, invoke, stage_settings
from dev.postgres import PostgresError, free_port, scratch_database
from dev.services import wait_healthy

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
    outcome = wait_healthy(f"http://127.0.0.1:{port}/health", lambda: proc.poll() is not None, 60)
    if outcome == "exited":
        raise PackageCheckError(f"the emulator could not serve the package (exit {proc.returncode}):\n{emulator.log()}")
    if outcome == "timeout":
        emulator.stop()
        raise PackageCheckError(f"the emulator did not answer /health within 60 s:\n{emulator.log()[-3000:]}")
    return emulator


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

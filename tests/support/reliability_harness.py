"""Helpers for the fault and load suite: project copies, raw HTTP and CLI invocations, database state.

Everything goes through real processes and real sockets on 127.0.0.1: the emulator (``python -m dev.emulator``) is
started by ``tests/emulator/emulator_harness.py`` (reused, not copied), invocations are requests sent exactly as
given by :class:`dev.emulator.client.LambdaClient` (so malformed ones can be sent too) or ``python -m dev.invoke``
subprocesses, and the database is the real PostgreSQL of ``tests/conftest.py``.

Why copy the project: the emulator writes generated settings into ``<project>/.runtime/<stage>/``, and some tests
add revisions or stages. A copy in a temporary directory keeps the working tree untouched and lets each test
serve exactly the code it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dev import postgres
from dev.emulator.client import Invocation, LambdaClient, invoke_path
from dev.project_copy import copy_deployable
from tests.support.emulator_harness import Emulator, cli_env, free_port, start_emulator, start_refused
from tests.support.fixture_history import stack_on_head
from tests.support.paths import HISTORIES, REPO_ROOT
from tests.support.snapshot import catalog_snapshot, diff_snapshots

FAILING_REVISIONS = HISTORIES / "failing_revision" / "versions"

__all__ = [
    "APP_FUNCTION",
    "Emulator",
    "HttpResult",
    "app_env",
    "catalog_snapshot",
    "copy_app_project",
    "create_database",
    "db_state",
    "diff_snapshots",
    "drop_database",
    "free_port",
    "invoke_cli",
    "invoke_http",
    "revisions",
    "start_app_emulator",
    "start_refused",
]

APP_FUNCTION = "yt-pubsub-handler-local"  # Zappa's name for the `local` stage of zappa_settings.json


def copy_app_project(
    dest: Path, extra_versions: Path | None = None, extra_stages: dict[str, dict[str, Any]] | None = None
) -> Path:
    """A copy of this project's deployable part in ``dest``, optionally with more revisions and stages.

    ``extra_versions`` is a directory of revision files stacked on the current head of ``migrations/versions``
    (their base, written with ``down_revision = None``, is re-parented as it is copied); ``extra_stages`` are
    merged into ``zappa_settings.json`` (e.g. a stage whose ``environment_variables`` hold a bad DATABASE_URL).
    """
    dest.mkdir(parents=True)
    copy_deployable(dest)
    if extra_versions is not None:
        stack_on_head(extra_versions, dest / "migrations" / "versions")
    if extra_stages:
        settings_path = dest / "zappa_settings.json"
        settings = json.loads(settings_path.read_text())
        settings.update(extra_stages)
        settings_path.write_text(json.dumps(settings, indent=4))
    return dest


def app_env(database_url: str | None, **extra: str) -> dict[str, str]:
    """The emulator's environment: this process's, without any database or AWS variables, plus ``database_url``.

    The emulator passes DATABASE_URL on to the functions (``--pass-env``, its stand-in for ``remote_env``);
    None starts it without one, as a developer who forgot to export it would.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TEST_DATABASE_URL") and not k.startswith(("AWS_", "ZAPPA_"))
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def start_app_emulator(project: Path, database_url: str | None, *args: str, api: bool = True) -> Emulator:
    """``python -m dev.emulator`` on ``project`` (free ports), DATABASE_URL passed through when given."""
    return start_emulator(project, free_port(), *args, api=api, env=app_env(database_url), console_dir=project.parent)


#: One HTTP answer with the Lambda-specific parts decoded (``.status``, ``.function_error``, ``.json()``, ``.log``,
#: ``.seconds``, ``.describe()``): the client's own answer type.
HttpResult = Invocation


def invoke_http(
    base_url: str,
    function: str = APP_FUNCTION,
    body: bytes | str | dict | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str | None = None,
    timeout: float = 120,
) -> HttpResult:
    """Send one request as-is (any method, path, header or body bytes) and return the answer, errors included.

    The default is a synchronous Lambda Invoke of ``function`` with the log tail requested, as ``zappa invoke``
    sends it; a dict body is JSON-encoded. No answer at all raises ``EmulatorUnreachable`` (an ``OSError``).
    """
    sent = {"Content-Type": "application/json", "X-Amz-Log-Type": "Tail", **(headers or {})}
    target = path if path is not None else invoke_path(function)
    return LambdaClient(base_url, timeout=timeout).request(method, target, body, sent)


def invoke_cli(
    project: Path, endpoint: str | None, function: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m dev.invoke --settings <project>/zappa_settings.json [--endpoint E] FUNCTION ARGS...``."""
    cmd = [sys.executable, "-m", "dev.invoke", "--settings", str(project / "zappa_settings.json")]
    if endpoint is not None:
        cmd += ["--endpoint", endpoint]
    return subprocess.run(
        [*cmd, function, *args], cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )


def db_state(url: str) -> tuple[str | None, dict[str, Any]]:
    """(alembic revision, catalog snapshot): what "the database is unchanged" compares."""
    return postgres.alembic_version(url), catalog_snapshot(url)


scalar = postgres.scalar


def create_database(admin_url: str) -> str:
    """A new empty database on the server of ``admin_url``; returns its URL."""
    return postgres.create_database(admin_url, prefix="rel")


def drop_database(admin_url: str, url: str) -> None:
    postgres.drop_database(admin_url, url)


def revisions() -> list[str]:
    """The shipped revision ids, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(REPO_ROOT / "migrations"))
    return [s.revision for s in reversed(list(script.walk_revisions()))]

"""Sandbox commands shared by both modes: choosing the mode, invoking, seeding, new revisions, the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dev import migration_history, services
from dev.guard import check_database_url

from .docker import Docker, docker_available
from .embedded import Embedded
from .settings import SandboxError, Settings, say


def choose_mode(settings: Settings) -> str:
    """Forced by SANDBOX, else stay with a running embedded sandbox, else Docker if an engine answers."""
    if settings.mode != "auto":
        return settings.mode
    if Embedded(settings).state():
        return "embedded"
    return "docker" if docker_available() else "embedded"


# -- migrations against the sandbox ----------------------------------------------------------------------------
def invoke(settings: Settings, function: str, payload: dict | None = None) -> subprocess.CompletedProcess:
    """Call a Zappa function through the emulator's Invoke API, as `make invoke-*` does (HTTP only).

    stdout is the function's result as JSON; stderr the Lambda log tail.
    """
    argv = [sys.executable, "-m", "dev.invoke", "--json", "--endpoint", settings.invoke_url, function]
    if payload is not None:
        argv += ["--payload", json.dumps(payload)]
    return subprocess.run(argv, capture_output=True, text=True, cwd=settings.project_dir, timeout=300)


def seed(settings: Settings, extra: list[str] | None = None, capture: bool = False) -> subprocess.CompletedProcess:
    """``dev.seed`` against the running sandbox: its API front, its database, and the stage's WebSub secret."""
    check_database_url(settings.database_url)
    secret = services.stage_config(settings.project_dir).get("environment_variables", {}).get("WEBSUB_SECRET", "")
    argv = [sys.executable, "-m", "dev.seed", "--base-url", settings.api_url, "--database-url", settings.database_url]
    if secret:
        argv += ["--secret", secret]
    return subprocess.run(
        [*argv, *(extra or [])], cwd=settings.project_dir, capture_output=capture, text=True, timeout=300
    )


def new_migration(settings: Settings, message: str) -> Path | None:
    """``flask db migrate`` against the sandbox database brought to head first, so the diff is only your change."""
    check_database_url(settings.database_url)
    if not services.http_healthy(services.emulator_health_url(services.HOST, settings.ports.emulator)):
        raise SandboxError("the sandbox is not running: `make up` first")
    say("bringing the sandbox database to head first (as `make invoke-upgrade`) ...")
    upgraded = invoke(settings, "run.run_alembic_upgrade")
    if upgraded.returncode != 0:
        raise SandboxError(
            f"the upgrade to head failed, so a new revision would be generated against an old schema:\n"
            f"{upgraded.stdout}{upgraded.stderr}"
        )
    path, output = autogenerate_revision(settings.project_dir, settings.database_url, message)
    if path is None:
        say("No changes in schema detected: edit yt_pubsub_handler/models.py first, then run this again.")
        return None
    say(output)
    say()
    say(f"new revision: {path.relative_to(settings.project_dir)}")
    say(
        "Review it before committing: autogenerate writes a rename as drop + add (data loss), misses server\n"
        "defaults and enum value changes, and knows nothing about locks on big tables. Then:\n"
        "  make invoke-upgrade && make invoke-downgrade && make invoke-upgrade   # both directions work\n"
        "  make test\n"
        "README.md's migration history table has a row for it now: add a note saying what it does."
    )
    return path


# -- autogenerate on any checkout and database (also used by tests/migrations/test_developer_workflow.py) --------
def autogenerate_revision(project_dir: Path, database_url: str, message: str) -> tuple[Path | None, str]:
    """``flask db migrate -m MESSAGE`` in ``project_dir`` against ``database_url``, which must be at head.

    The real path: Alembic's autogenerate against that checkout's models, its migrations/script.py.mako, the ruff
    post-write hook of its alembic.ini; then its README's migration table is regenerated (dev/migration_history).
    Returns the new revision file (None when the models match the migrations) and the command's output.
    """
    versions = project_dir / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "yt_pubsub_handler", "db", "migrate", "-m", message],
        cwd=project_dir,
        env=dict(os.environ, DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise SandboxError(f"`flask db migrate` failed (exit {result.returncode}):\n{output}")
    created = sorted(set(versions.glob("*.py")) - before)
    if not created:
        return None, output
    try:
        migration_history.update_readme(project_dir)
    except migration_history.HistoryTableError as exc:
        output += f"\nnote: {exc}"
    return created[0], output


# -- output ---------------------------------------------------------------------------------------------------------
def backend(settings: Settings, mode: str | None = None) -> Embedded | Docker:
    return Docker(settings) if (mode or choose_mode(settings)) == "docker" else Embedded(settings)


def confirm_reset(settings: Settings, force: bool) -> None:
    if force:
        return
    if not sys.stdin.isatty():
        raise SandboxError("reset deletes all sandbox data and needs a confirmation: rerun as `make reset FORCE=1`")
    answer = input(f"This deletes the sandbox database {services.DB_NAME} and its data. Type 'yes' to continue: ")
    if answer.strip().lower() != "yes":
        raise SandboxError("reset cancelled (nothing was deleted)")

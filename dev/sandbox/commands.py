"""Sandbox commands shared by both modes: choosing the mode, invoking, seeding, new revisions, the summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dev import function_call, migration_history, services
from dev.emulator.settings import SettingsError, stage_config
from dev.guard import check_database_url
from dev.health import http_healthy

from . import engine
from .backend import Backend, ModeChoice
from .docker import Docker
from .embedded import Embedded
from .settings import SandboxError, Settings, say


def choose_mode(settings: Settings) -> ModeChoice:
    """Forced by SANDBOX; else stay with a running embedded sandbox; else Docker when an engine and Compose v2
    answer; else embedded. Never an error: a missing engine or a missing Compose only changes the mode."""
    if settings.mode != "auto":
        return ModeChoice(settings.mode, f"SANDBOX={settings.mode}")
    if Embedded(settings).is_running():
        return ModeChoice("embedded", "the embedded sandbox is running")
    answers, why = engine.engine_answers(settings.environ)
    if not answers:
        return ModeChoice("embedded", f"no Docker engine answers: {why}")
    compose = engine.compose_command(settings.environ)
    if compose is None:
        return ModeChoice(
            "embedded",
            "a Docker engine answers but Docker Compose v2 (`docker compose`) is not installed; install the compose "
            "plugin for the Docker mode",
        )
    return ModeChoice("docker", "a Docker engine and Docker Compose v2 answer")


# -- the functions, through the sandbox's Lambda ---------------------------------------------------------------
def function_name(settings: Settings) -> str:
    """The sandbox stage's Lambda function name, as Zappa names it."""
    try:
        return stage_config(settings.project_dir / services.SETTINGS_FILE, services.STAGE).function_name
    except SettingsError as exc:
        raise SandboxError(str(exc)) from None


def invoke(settings: Settings, function: str, payload: dict | None = None) -> Any:
    """Call a Zappa function through the sandbox's Invoke API, as `make invoke-*` does; its result.

    A function error or an unreachable emulator is a :class:`SandboxError` with the error and the log tail.
    """
    try:
        return function_call.call(settings.invoke_url, function_name(settings), function, payload)
    except function_call.FunctionCallError as exc:
        raise SandboxError(f"{exc}\n`make logs` shows the emulator's side.") from None


def seed(settings: Settings, channels: int = 3, videos: int = 5) -> dict[str, Any]:
    """``dev.seed`` against the running sandbox: subscribed through its Lambda, notified through its hub."""
    from dev import seed as seeder  # imports the app's sample feeds: only when seeding

    target = seeder.Target(settings.api_url, settings.invoke_url, function_name(settings), settings.hub_url)
    try:
        summary = seeder.seed(target, channels, videos)
    except seeder.SeedError as exc:
        raise SandboxError(f"seeding failed: {exc}") from None
    say(seeder.report(summary))
    return summary


def new_migration(settings: Settings, message: str) -> Path | None:
    """``flask db migrate`` against the sandbox database brought to head first, so the diff is only your change."""
    check_database_url(settings.database_url)
    if not http_healthy(services.emulator_health_url(services.HOST, settings.ports.emulator)):
        raise SandboxError("the sandbox is not running: `make up` first")
    say("bringing the sandbox database to head first (as `make invoke-upgrade`) ...")
    try:
        invoke(settings, "run.run_alembic_upgrade")
    except SandboxError as exc:
        raise SandboxError(
            f"the upgrade to head failed, so a new revision would be generated against an old schema:\n{exc}"
        ) from None
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


# -- autogenerate on any checkout and database (also used by tests/migration_kit/test_developer_workflow.py) --------
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
def backend(settings: Settings, mode: str | None = None) -> Backend:
    """The sandbox in ``mode`` (chosen by ``choose_mode`` when None)."""
    mode = mode or choose_mode(settings).mode
    return Docker(settings) if mode == "docker" else Embedded(settings)


def confirm_reset(settings: Settings, force: bool) -> None:
    if force:
        return
    if not sys.stdin.isatty():
        raise SandboxError("reset deletes all sandbox data and needs a confirmation: rerun as `make reset FORCE=1`")
    answer = input(f"This deletes the sandbox database {services.DB_NAME} and its data. Type 'yes' to continue: ")
    if answer.strip().lower() != "yes":
        raise SandboxError("reset cancelled (nothing was deleted)")

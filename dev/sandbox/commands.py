"""Sandbox commands shared by both modes: choosing the mode, invoking, seeding, new revisions, the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dev import services
from dev.guard import check_database_url

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
    versions = settings.project_dir / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    env = dict(os.environ, DATABASE_URL=settings.database_url)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "yt_pubsub_handler", "db", "migrate", "-m", message],
        cwd=settings.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise SandboxError(f"`flask db migrate` failed (exit {result.returncode}):\n{output}")
    created = sorted(set(versions.glob("*.py")) - before)
    if not created:
        say("No changes in schema detected: edit yt_pubsub_handler/models.py first, then run this again.")
        return None
    path = created[0]
    say(output)
    say()
    say(f"new revision: {path.relative_to(settings.project_dir)}")
    say(
        "Review it before committing: autogenerate writes a rename as drop + add (data loss), misses server\n"
        "defaults and enum value changes, and knows nothing about locks on big tables. Then:\n"
        "  make invoke-upgrade && make invoke-downgrade && make invoke-upgrade   # both directions work\n"
        "  make test"
    )
    return path


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

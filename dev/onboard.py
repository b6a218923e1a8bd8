"""First day on the project: ``make onboard``.

Checks what a new machine needs (each failure comes with its fix), brings the sandbox up, migrates it to head
through the emulator, seeds it, rehearses a rollback (downgrade one revision, upgrade again) and ends with a
summary of what works and how long each step took. The target is under 60 s once dependencies are installed; it
is safe to run again (every step is idempotent).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dev import sandbox, services
from dev.cli import run
from dev.emulator.settings import SettingsError, stage_config
from dev.health import http_healthy

TARGET_SECONDS = 60.0


@dataclass
class Prerequisite:
    """One thing a new machine needs, whether it is there, and the fix when it is not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def zappa_runtime(project_dir: Path = services.PROJECT_ROOT, stage: str = services.STAGE) -> tuple[int, int]:
    """The Python version Lambda runs for ``stage``, e.g. (3, 11) for "python3.11"."""
    try:
        version = stage_config(project_dir / services.SETTINGS_FILE, stage).python_version
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except (SettingsError, ValueError) as exc:
        raise ValueError(f"no usable Python runtime in {services.SETTINGS_FILE} for stage {stage}: {exc}") from None


def check_python() -> Prerequisite:
    wanted = zappa_runtime()
    have = sys.version_info[:2]
    text = f"Python {have[0]}.{have[1]}, Lambda runs python{wanted[0]}.{wanted[1]} ({services.SETTINGS_FILE})"
    if have == wanted:
        return Prerequisite("python", True, text)
    version = f"{wanted[0]}.{wanted[1]}"
    return Prerequisite(
        "python",
        False,
        text,
        f"install Python {version} (`apt-get install python{version}`, `brew install python@{version}` or "
        f"`pyenv install {version}`), then rebuild the venv: "
        f"`rm -rf .venv && make setup PYTHON_SYSTEM=python{version}`",
    )


def check_engine(settings: sandbox.Settings, choice: sandbox.ModeChoice) -> Prerequisite:
    if choice.mode == "docker":
        return Prerequisite("services", True, f"docker mode (docker-compose.yml): {choice.reason}")
    from dev.postgres import PostgresError, find_bindir

    try:
        bindir = find_bindir()
    except PostgresError as exc:
        return Prerequisite(
            "services",
            False,
            f"embedded mode ({choice.reason}) but no PostgreSQL server binaries",
            f"{exc} Or install and start Docker (https://docs.docker.com/get-docker/).",
        )
    return Prerequisite("services", True, f"embedded mode, PostgreSQL from {bindir}: {choice.reason}")


def check_ports(settings: sandbox.Settings, running: bool) -> list[Prerequisite]:
    if running:
        return [Prerequisite("ports", True, "the sandbox is already running (its ports are its own)")]
    checks = []
    for name in services.Ports.ENV:
        port = getattr(settings.ports, name)
        if sandbox.port_in_use(port):
            checks.append(
                Prerequisite(
                    f"port {port}",
                    False,
                    f"{services.Ports.ROLE[name]} needs it",
                    str(sandbox.port_error(settings, name)),
                )
            )
        else:
            checks.append(
                Prerequisite(f"port {port}", True, f"free ({services.Ports.ENV[name]}, {services.Ports.ROLE[name]})")
            )
    return checks


class Steps:
    """Runs named steps, timing each, and stops at the first failure with what to do next."""

    def __init__(self) -> None:
        self.done: list[tuple[str, float, str]] = []
        self.started = time.monotonic()

    def run(self, name: str, action: Callable[[], str]) -> None:
        print(f"\n== {name}", flush=True)
        began = time.monotonic()
        try:
            detail = action()
        except sandbox.SandboxError as exc:
            elapsed = time.monotonic() - began
            print(f"\nFAILED: {name} ({elapsed:.1f} s)\n{exc}", file=sys.stderr)
            raise SystemExit(1) from None
        elapsed = time.monotonic() - began
        self.done.append((name, elapsed, detail))
        print(f"   ok ({elapsed:.1f} s){': ' + detail if detail else ''}", flush=True)

    @property
    def total(self) -> float:
        return time.monotonic() - self.started


def _invoke_step(settings: sandbox.Settings, function: str, payload: dict | None = None) -> Callable[[], str]:
    return lambda: _describe(sandbox.invoke(settings, function, payload))


def _describe(result: object) -> str:
    """One line from a migrator result: what moved where, or where the schema is."""
    if not isinstance(result, dict):
        return str(result)[:160]
    if result.get("action") == "current":
        return f"at {result.get('revision')}{' (head)' if result.get('is_head') else ''}"
    steps = result.get("steps") or []
    moved = f"{result.get('from_revision') or 'empty'} -> {result.get('to_revision') or 'base'}"
    return (
        f"{moved}, {len(steps)} step(s) in {result.get('total_ms', 0):.0f} ms" if steps else f"{moved} (nothing to do)"
    )


def _seed_step(settings: sandbox.Settings) -> Callable[[], str]:
    def action() -> str:
        summary = sandbox.seed(settings)
        videos = sum(len(channel["videos"]) for channel in summary["channels"])
        return f"{len(summary['channels'])} channels subscribed through the hub, {videos} videos notified"

    return action


def main() -> int:
    steps = Steps()
    try:
        settings = sandbox.Settings.load()
    except sandbox.SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    choice = sandbox.choose_mode(settings)
    box = sandbox.backend(settings, choice.mode)
    running = http_healthy(services.emulator_health_url(services.HOST, settings.ports.emulator)) and box.is_running()

    print("== prerequisites", flush=True)
    checks = [check_python(), check_engine(settings, choice), *check_ports(settings, running)]
    for check in checks:
        print(f"   {'ok ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    failed = [check for check in checks if not check.ok]
    if failed:
        print("\nFix these, then run `make onboard` again:", file=sys.stderr)
        for check in failed:
            print(f"  - {check.name}: {check.fix}", file=sys.stderr)
        return 1

    steps.run("start the sandbox (make up)", lambda: box.up() or "")
    steps.run("migrate to head (make invoke-upgrade)", _invoke_step(settings, "run.run_alembic_upgrade"))
    steps.run("seed sample data (make seed)", _seed_step(settings))
    steps.run("rehearse a rollback (make invoke-downgrade)", _invoke_step(settings, "run.run_alembic_downgrade"))
    steps.run("and forward again (make invoke-upgrade)", _invoke_step(settings, "run.run_alembic_upgrade"))
    steps.run("where the schema is (make invoke-current)", _invoke_step(settings, "run.run_alembic_current"))

    print("\n== summary: all of this works on your machine")
    for name, elapsed, _detail in steps.done:
        print(f"   {elapsed:5.1f} s  {name}")
    total = steps.total
    print(f"   {total:5.1f} s  total{'' if total <= TARGET_SECONDS else f' (over the {TARGET_SECONDS:.0f} s target)'}")
    sandbox.print_summary(settings, box.mode, next_steps=False, where=box.data_location())
    print(
        '\nDaily loop: edit yt_pubsub_handler/models.py -> make new-migration MSG="..." -> review the file ->\n'
        "make invoke-upgrade / make invoke-downgrade -> make test -> PR. After merge and deploy:\n"
        "zappa invoke production 'run.run_alembic_upgrade'. `make down` stops the sandbox (data kept)."
    )
    return 0


if __name__ == "__main__":
    run(main)

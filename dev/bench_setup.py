"""Setup and sandbox figures for ``make bench``, both modes side by side, from a fresh clone.

- embedded: fresh clone -> ``make setup`` (uv, cold package cache: a temporary UV_CACHE_DIR) -> ``make up`` ->
  first successful ``make invoke-upgrade``, timed as one (target <= 25 s), then a second ``make invoke-upgrade``;
- Docker: the same clone as its own compose project: the image built from scratch (no layer cache) plus the first
  ``make up`` (target <= 45 s), ``make invoke-upgrade``, ``make down`` and a warm ``make up`` (target <= 8 s).

Everything runs on free ports, a private sandbox and a private compose project, all removed afterwards; without an
engine (or Compose v2) the Docker rows say why instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dev.ports import free_port
from dev.sandbox import compose_command, engine_answers

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"fresh": 25.0, "docker_first": 45.0, "docker_warm": 8.0}
Row = tuple[str, str, str, str]


class BenchError(RuntimeError):
    """A step failed; the message has its output."""


def _format(seconds: float) -> str:
    return f"{seconds:,.1f} s"


def _verdict(seconds: float, target: float) -> str:
    return f"target <= {target:.0f} s: {'ok' if seconds <= target else 'OVER'}"


class Clone:
    """A fresh clone of this checkout's HEAD with private ports, run through ``make``."""

    def __init__(self, base: Path, mode: str, project: str = "") -> None:
        self.dir = base / "app"
        dropped = ("DATABASE_URL", "MAKEFLAGS", "PYTHONPATH", "VIRTUAL_ENV")
        self.env = {key: value for key, value in os.environ.items() if key not in dropped}
        self.env.update(
            SANDBOX=mode,
            PGPORT=str(free_port()),
            EMULATOR_PORT=str(free_port()),
            API_PORT=str(free_port()),
            HUB_PORT=str(free_port()),
            SANDBOX_IGNORE_STAGE_ENDPOINT="1",  # its local stage names 9000; make invoke-* follow EMULATOR_PORT
            UV_CACHE_DIR=str(base / "uv-cache"),
        )
        if project:
            self.env["COMPOSE_PROJECT_NAME"] = project

    def run(self, *argv: str, check: bool = True) -> float:
        started = time.perf_counter()
        proc = subprocess.run(
            argv, cwd=self.dir, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        elapsed = time.perf_counter() - started
        if check and proc.returncode != 0:
            tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            raise BenchError(f"`{' '.join(argv)}` failed ({proc.returncode}):\n{tail}")
        return elapsed

    def make(self, *targets: str, check: bool = True) -> float:
        return self.run("make", "-s", *targets, check=check)


def _clone(base: Path) -> None:
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(base / "app")], check=True, capture_output=True)


def embedded_rows(base: Path) -> list[Row]:
    clone = Clone(base, "embedded")
    _clone(base)
    try:
        setup = clone.make("setup")
        up = clone.make("up")
        first = clone.make("invoke-upgrade")
        again = clone.make("invoke-upgrade")
    finally:
        clone.make("down", check=False)
        clone.make("reset", "FORCE=1", check=False)  # the cluster may live outside the clone (root, 0700 tmp)
    total = setup + up + first
    return [
        (
            "setup",
            "fresh clone -> first make invoke-upgrade, embedded, cold uv cache",
            _format(total),
            f"{_verdict(total, TARGETS['fresh'])}; make setup {setup:.1f} s (uv) + make up {up:.1f} s + "
            f"make invoke-upgrade {first:.1f} s",
        ),
        ("setup", "make invoke-upgrade, embedded, at head", _format(again), "second call: warm emulator, no-op"),
    ]


def docker_rows(base: Path) -> list[Row]:
    answers, why = engine_answers()
    if not answers or compose_command() is None:
        reason = f"no Docker engine answers ({why})" if not answers else "Docker Compose v2 is not installed"
        return [("docker", "Docker-mode rows", "-", f"not measured: {reason}")]
    project = f"bench-{os.getpid()}"
    clone = Clone(base, "docker", project)  # the clone (and its .venv) from embedded_rows
    compose = [*compose_command(), "--project-directory", str(clone.dir), "--project-name", project]
    try:
        build = clone.run(*compose, "build", "--no-cache", "--pull=false")
        first_up = clone.make("up")
        first_invoke = clone.make("invoke-upgrade")
        again = clone.make("invoke-upgrade")
        downs = [clone.make("down")]
        warm = clone.make("up")
        already = clone.make("up")
        downs.append(clone.make("down"))
    finally:
        clone.run(*compose, "down", "--volumes", "--rmi", "local", "--remove-orphans", check=False)
    first = build + first_up
    return [
        (
            "docker",
            "first make up, image built from scratch (no layer cache)",
            _format(first),
            f"{_verdict(first, TARGETS['docker_first'])}; build {build:.1f} s + make up {first_up:.1f} s",
        ),
        ("docker", "make up, warm (after make down)", _format(warm), _verdict(warm, TARGETS["docker_warm"])),
        ("docker", "make up, already running", _format(already), "no-op"),
        ("docker", "first make invoke-upgrade (cold emulator)", _format(first_invoke), "docker mode"),
        ("docker", "make invoke-upgrade, at head", _format(again), "warm emulator, no-op"),
        ("docker", "make down (both containers)", _format(sum(downs) / 2), "mean of 2; stop grace is 10 s"),
    ]


def rows() -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="bench-setup-"))
    try:
        return embedded_rows(base) + docker_rows(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)

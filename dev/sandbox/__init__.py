"""The local sandbox: PostgreSQL plus the Lambda emulator, with Docker or without, behind the same commands.

    python -m dev.sandbox up|down|status|logs|psql|reset [--force]|url

Many developers have Docker, some don't, and CI can't run an engine. So the mode is chosen automatically: Docker
when ``docker info`` answers, the embedded mode otherwise; ``SANDBOX=embedded|docker`` forces one. Both run the
services exactly as ``dev/services.py`` describes them (the tests hold ``docker-compose.yml`` to that).

Embedded mode keeps everything under ``SANDBOX_DIR`` (default ``.sandbox/``): the cluster in ``postgres/`` (kept
across ``down``/``up``), the emulator's ``emulator.pid`` and ``emulator.log``, and ``state.json`` recording the
ports in use. Host ports come from ``PGPORT``, ``EMULATOR_PORT``, ``API_PORT`` (environment, then ``.env``).
"""

from __future__ import annotations

from dev.postgres import port_in_use

from .commands import backend, choose_mode, confirm_reset, invoke, new_migration, seed
from .docker import Docker, docker_available
from .embedded import Embedded
from .settings import SandboxError, Settings, port_error, print_summary

__all__ = [
    "Docker",
    "Embedded",
    "SandboxError",
    "Settings",
    "backend",
    "choose_mode",
    "confirm_reset",
    "docker_available",
    "invoke",
    "new_migration",
    "port_error",
    "port_in_use",
    "print_summary",
    "seed",
]

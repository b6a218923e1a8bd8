"""The local sandbox: PostgreSQL, the Lambda emulator and a WebSub hub, with Docker or without, one set of commands.

    python -m dev.sandbox up|down|status|logs|psql|reset [--force]|url

Many developers have Docker, some don't. So the mode is chosen automatically: Docker when an engine answers (asked
through the Docker SDK) and Docker Compose v2 is installed, the embedded mode otherwise, with one line saying why;
``SANDBOX=embedded|docker`` forces one. Both modes are a ``Backend`` (backend.py) and run the services exactly as
``dev/services.py`` describes them (the tests hold ``docker-compose.yml`` to that).

Embedded mode keeps its state under ``SANDBOX_DIR`` (default ``.sandbox/``): the cluster in ``postgres/`` (kept
across ``down``/``up``; as root, outside the checkout when the server's user cannot reach it), ``emulator.pid``/
``emulator.log`` and ``hub.pid``/``hub.log`` (the two background processes), and ``state.json`` recording the ports
in use. Docker mode is the compose project ``COMPOSE_PROJECT_NAME`` (default: the folder's name). Host ports come
from ``PGPORT``, ``EMULATOR_PORT``, ``API_PORT`` and ``HUB_PORT`` (environment, then ``.env``).

Modules: ``backend`` (the Protocol), ``embedded`` and ``docker`` (the two modes), ``process`` (one background process
of the embedded mode), ``engine`` (the Docker SDK), ``settings`` (ports, URLs, errors), ``commands`` (what both modes
share: mode choice, invoke, seed, new revisions).
"""

from __future__ import annotations

from dev.ports import port_in_use

from .backend import Backend, ModeChoice
from .commands import backend, choose_mode, confirm_reset, invoke, new_migration, seed
from .docker import Docker
from .embedded import Embedded
from .engine import EngineUnavailable, compose_command, engine_answers, offline_compose_binary
from .settings import SandboxError, Settings, port_error, print_summary

__all__ = [
    "Backend",
    "Docker",
    "Embedded",
    "EngineUnavailable",
    "ModeChoice",
    "SandboxError",
    "Settings",
    "backend",
    "choose_mode",
    "compose_command",
    "confirm_reset",
    "engine_answers",
    "invoke",
    "new_migration",
    "offline_compose_binary",
    "port_error",
    "port_in_use",
    "print_summary",
    "seed",
]

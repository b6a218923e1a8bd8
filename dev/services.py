"""How each sandbox service starts: the one table both sandbox modes read.

``docker-compose.yml`` and the embedded launcher (``dev/sandbox/``) must run the same emulator command with the
same health checks, or "works in Docker, fails without" bugs creep in. This module is the single source:
``dev/sandbox/embedded.py`` builds its processes from it, and ``tests/sandbox/test_sandbox_compose.py`` fails when
``docker-compose.yml`` or the ``Dockerfile`` say anything else. Only the bind address legitimately differs
(``0.0.0.0`` inside a container, ``127.0.0.1`` on the host), and the host ports can be moved with env variables.

It is also the container's health probe, so the image needs nothing beyond Python (no curl in python:*-slim):

    python -m dev.services health http://127.0.0.1:9000/health
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dev import env_file
from dev.emulator import settings as emulator_settings
from dev.health import NotHealthy, http_healthy
from dev.health import wait_healthy as dev_health_wait

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# -- the database ------------------------------------------------------------------------------------------------
DB_NAME = "yt_pubsub"
DB_USER = "postgres"
# A fixed sandbox password: the compose image needs one, and the embedded cluster (trust auth) ignores it, so the
# database URL has the same shape in both modes.
DB_PASSWORD = "postgres"
POSTGRES_VERSION = "15"  # the embedded mode runs the machine's server binaries, 15 on our machines
CONTAINER_PG_PORT = 5432
COMPOSE_DB_HOST = "db"  # the compose service name; dev/guard.py allows it

# -- the emulator --------------------------------------------------------------------------------------------------
STAGE = "local"
SETTINGS_FILE = "zappa_settings.json"
MAX_CONCURRENCY = 2
HEALTH_PATH = "/health"
CONTAINER_HOST = "0.0.0.0"  # inside a container: published on 127.0.0.1 by compose
# Inside a container the rendered settings go outside the bind-mounted checkout (/app): nothing the container writes,
# not even a mount point, may land in a developer's checkout.
CONTAINER_RUNTIME_DIR = "/tmp/emulator-runtime"
HOST = "127.0.0.1"  # on the host: never reachable from the network

# -- health-check timing (compose `healthcheck:` and the Dockerfile HEALTHCHECK use the same values) -------------
# Compose marks a service healthy at its first passing probe: a short interval is a faster `make up`.
HEALTH_INTERVAL = "1s"
HEALTH_TIMEOUT = "5s"
HEALTH_RETRIES = 60
HEALTH_START_PERIOD = "5s"


@dataclass(frozen=True)
class Ports:
    """Host ports; each one can be moved with the env variable of the same name (also read from ``.env``)."""

    pg: int = 5433
    emulator: int = 9000
    api: int = 8000

    ENV = {"pg": "PGPORT", "emulator": "EMULATOR_PORT", "api": "API_PORT"}
    ROLE = {
        "pg": "PostgreSQL",
        "emulator": "the Lambda emulator's Invoke API",
        "api": "the API front (HTTP to run.app)",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Ports:
        values = {}
        for field_name, variable in cls.ENV.items():
            raw = environ.get(variable)
            if raw:
                try:
                    values[field_name] = int(raw)
                except ValueError:
                    raise SystemExit(f"error: {variable}={raw!r} is not a port number: set it to e.g. 5433") from None
        return cls(**values)


#: Container-side ports: compose publishes host ports onto these.
CONTAINER_PORTS = Ports(pg=CONTAINER_PG_PORT, emulator=9000, api=8000)


def emulator_command(
    host: str = HOST, port: int = CONTAINER_PORTS.emulator, api_port: int = CONTAINER_PORTS.api, python: str = "python"
) -> list[str]:
    """The emulator's command line on the host; compose runs ``container_emulator_command()``."""
    return [
        python,
        "-m",
        "dev.emulator",
        "--project-dir",
        ".",
        "--settings",
        SETTINGS_FILE,
        "--stage",
        STAGE,
        "--host",
        host,
        "--port",
        str(port),
        "--api-port",
        str(api_port),
        "--max-concurrency",
        str(MAX_CONCURRENCY),
    ]


def container_emulator_command() -> list[str]:
    """Compose's ``lambda.command`` and the Dockerfile's CMD: the host's command on ``0.0.0.0``, with the rendered
    settings in ``CONTAINER_RUNTIME_DIR`` instead of the checkout's ``.runtime/``."""
    return [*emulator_command(host=CONTAINER_HOST), "--runtime-dir", CONTAINER_RUNTIME_DIR]


def emulator_health_url(host: str = HOST, port: int = CONTAINER_PORTS.emulator) -> str:
    return f"http://{host}:{port}{HEALTH_PATH}"


def emulator_healthcheck(port: int = CONTAINER_PORTS.emulator, python: str = "python") -> list[str]:
    """The probe compose and the Dockerfile run inside the container (the embedded mode calls
    ``dev.health.http_healthy``)."""
    return [python, "-m", "dev.services", "health", emulator_health_url(HOST, port)]


def db_healthcheck(port: int = CONTAINER_PG_PORT, pg_isready: str = "pg_isready") -> list[str]:
    """The database probe; the embedded mode runs the same argv with its own ``pg_isready`` and port."""
    return [pg_isready, "-h", HOST, "-p", str(port), "-U", DB_USER, "-d", DB_NAME]


def database_url(host: str = HOST, port: int = Ports.pg) -> str:
    """The sandbox database as a client sees it: from the host (both modes) or from the compose network."""
    return f"postgresql://{DB_USER}:{DB_PASSWORD}@{host}:{port}/{DB_NAME}"


def compose_database_url() -> str:
    """What the ``lambda`` container gets: the ``db`` service on the compose network."""
    return database_url(COMPOSE_DB_HOST, CONTAINER_PG_PORT)


def emulator_environment(db_url: str) -> dict[str, str]:
    """Variables the emulator process gets on top of the inherited environment, in both modes.

    The emulator passes ``DATABASE_URL`` through to the function, overriding the stage's environment_variables.
    """
    return {"DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def stage_config(project_dir: Path = PROJECT_ROOT, stage: str = STAGE) -> dict:
    """The stage as Zappa resolves it (``extends``, defaults, function name), as a dict.

    Prefer :func:`dev.emulator.settings.stage_config` (a typed ``FunctionConfig``); this shape is kept for callers
    that read keys (``environment_variables``, ``runtime``).
    """
    return dataclasses.asdict(emulator_settings.stage_config(project_dir / SETTINGS_FILE, stage))


# Old names, kept while dev/sandbox moves to the modules that own them (dev.env_file, dev.health).
read_env_file = env_file.read_env_file
effective_env = env_file.effective_env


def wait_healthy(url: str, exited: Callable[[], bool], timeout: float, interval: float = 0.1) -> str | None:
    """Old form of :func:`dev.health.wait_healthy` (which raises with the log tail): None when healthy, else
    ``"exited"`` or ``"timeout"``."""
    try:
        dev_health_wait(url, timeout=timeout, exited=exited, interval=interval)
    except NotHealthy as exc:
        return exc.reason
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.services", description="Sandbox service probes.")
    sub = parser.add_subparsers(dest="action", required=True)
    health = sub.add_parser("health", help="exit 0 when URL answers 200 (the container HEALTHCHECK)")
    health.add_argument("url")
    health.add_argument("--timeout", type=float, default=2.0)
    sub.add_parser("emulator-command", help="print the emulator command line (what compose must run)")
    args = parser.parse_args(argv)
    if args.action == "health":
        if http_healthy(args.url, args.timeout):
            return 0
        print(f"unhealthy: {args.url} did not answer 200", file=sys.stderr)
        return 1
    print(" ".join(container_emulator_command()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

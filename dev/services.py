"""How each sandbox service starts: the one table both sandbox modes read.

``docker-compose.yml`` and the embedded launcher (``dev/sandbox/``) must run the same emulator and hub commands with
the same health checks, or "works in Docker, fails without" bugs creep in. This module is the single source:
``dev/sandbox/embedded.py`` builds its processes from it, and ``tests/sandbox/test_sandbox_compose.py`` fails when
``docker-compose.yml`` or the ``Dockerfile`` say anything else. Only addresses legitimately differ (``0.0.0.0``
inside a container, ``127.0.0.1`` on the host; service names on the compose network), and the host ports can be
moved with env variables.

The stage's own URLs follow the services: a ``local`` stage variable whose value is a URL on 127.0.0.1 at a
service's default port (``WEBSUB_HUB_URL=http://127.0.0.1:9999/hub`` names the hub) is handed to the functions
pointed at where the mode runs that service (``http://hub:9999/hub`` in Docker, the moved port in the embedded
mode), through the emulator's ``--pass-env``. Nothing here knows the variables' names.

It is also the containers' health probe, so the images need nothing beyond Python (no curl in python:*-slim):

    python -m dev.services health http://127.0.0.1:9000/health
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dev.cli import run
from dev.emulator import settings as emulator_settings
from dev.health import http_healthy

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
#: The compose service that runs each host-facing service (the emulator's two fronts share a container).
COMPOSE_SERVICES = {"emulator": "lambda", "api": "lambda", "hub": "hub"}
#: Variables every sandbox container process gets: output unbuffered (logs in order), no bytecode written into the
#: bind-mounted checkout (the image's packages were compiled when it was built).
PROCESS_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def host_process_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What a sandbox process on the host gets instead: bytecode cached under the harness's own environment
    (``PYTHONPYCACHEPREFIX``, as the Makefile sets it), never in the checkout, and compiled once, not at each cold
    start of the emulator's workers (which inherit the prefix)."""
    prefix = environ.get("PYTHONPYCACHEPREFIX") or str(Path(sys.prefix) / "pycache")
    return {"PYTHONUNBUFFERED": "1", "PYTHONPYCACHEPREFIX": prefix}


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
    hub: int = 9999

    ENV = {"pg": "PGPORT", "emulator": "EMULATOR_PORT", "api": "API_PORT", "hub": "HUB_PORT"}
    ROLE = {
        "pg": "PostgreSQL",
        "emulator": "the Lambda emulator's Invoke API",
        "api": "the API front (HTTP to run.app)",
        "hub": "the local WebSub hub",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str], base: Ports | None = None) -> Ports:
        """The ports ``environ`` sets, the others as in ``base`` (default: the defaults above)."""
        values = dict(asdict(base)) if base is not None else {}
        for field_name, variable in cls.ENV.items():
            raw = environ.get(variable)
            if raw:
                try:
                    values[field_name] = int(raw)
                except ValueError:
                    raise SystemExit(f"error: {variable}={raw!r} is not a port number: set it to e.g. 5433") from None
        return cls(**values)


#: Container-side ports: compose publishes host ports onto these.
CONTAINER_PORTS = Ports(pg=CONTAINER_PG_PORT, emulator=9000, api=8000, hub=9999)


# -- commands ----------------------------------------------------------------------------------------------------
def emulator_command(
    host: str = HOST,
    port: int = CONTAINER_PORTS.emulator,
    api_port: int = CONTAINER_PORTS.api,
    python: str = "python",
    pass_env: Sequence[str] = ("DATABASE_URL",),
) -> list[str]:
    """The emulator's command line on the host; compose runs ``container_emulator_command()``. ``pass_env``: the
    variables handed to the functions over the stage's values (:func:`function_environment`'s names)."""
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
        *[argument for name in pass_env for argument in ("--pass-env", name)],
    ]


def container_emulator_command(pass_env: Sequence[str] = ("DATABASE_URL",)) -> list[str]:
    """Compose's ``lambda.command`` and the Dockerfile's CMD: the host's command on ``0.0.0.0``, with the rendered
    settings in ``CONTAINER_RUNTIME_DIR`` instead of the checkout's ``.runtime/``."""
    return [*emulator_command(host=CONTAINER_HOST, pass_env=pass_env), "--runtime-dir", CONTAINER_RUNTIME_DIR]


def hub_command(host: str = HOST, port: int = CONTAINER_PORTS.hub, python: str = "python") -> list[str]:
    """The local WebSub hub (``dev/hub``) on the host; compose runs it on ``0.0.0.0`` (``container_hub_command()``)."""
    return [python, "-m", "dev.hub", "serve", "--host", host, "--port", str(port)]


def container_hub_command() -> list[str]:
    return hub_command(host=CONTAINER_HOST)


# -- health --------------------------------------------------------------------------------------------------------
def emulator_health_url(host: str = HOST, port: int = CONTAINER_PORTS.emulator) -> str:
    return f"http://{host}:{port}{HEALTH_PATH}"


def hub_health_url(host: str = HOST, port: int = CONTAINER_PORTS.hub) -> str:
    return f"http://{host}:{port}{HEALTH_PATH}"


def emulator_healthcheck(port: int = CONTAINER_PORTS.emulator, python: str = "python") -> list[str]:
    """The probe compose and the Dockerfile run inside the container (the embedded mode calls
    ``dev.health.http_healthy``)."""
    return [python, "-m", "dev.services", "health", emulator_health_url(HOST, port)]


def hub_healthcheck(port: int = CONTAINER_PORTS.hub, python: str = "python") -> list[str]:
    return [python, "-m", "dev.services", "health", hub_health_url(HOST, port)]


def db_healthcheck(port: int = CONTAINER_PG_PORT, pg_isready: str = "pg_isready") -> list[str]:
    """The database probe; the embedded mode runs the same argv with its own ``pg_isready`` and port."""
    return [pg_isready, "-h", HOST, "-p", str(port), "-U", DB_USER, "-d", DB_NAME]


# -- addresses -------------------------------------------------------------------------------------------------------
def database_url(host: str = HOST, port: int = Ports.pg) -> str:
    """The sandbox database as a client sees it: from the host (both modes) or from the compose network."""
    return f"postgresql://{DB_USER}:{DB_PASSWORD}@{host}:{port}/{DB_NAME}"


def compose_database_url() -> str:
    """What the ``lambda`` container gets: the ``db`` service on the compose network."""
    return database_url(COMPOSE_DB_HOST, CONTAINER_PG_PORT)


def host_addresses(ports: Ports) -> dict[int, str]:
    """Embedded mode: each service's default host port -> ``127.0.0.1:<its port now>``."""
    defaults = Ports()
    return {getattr(defaults, name): f"{HOST}:{getattr(ports, name)}" for name in COMPOSE_SERVICES}


def compose_addresses() -> dict[int, str]:
    """Docker mode: each service's default host port -> ``<compose service>:<container port>``, how the
    containers reach one another."""
    defaults = Ports()
    return {
        getattr(defaults, name): f"{service}:{getattr(CONTAINER_PORTS, name)}"
        for name, service in COMPOSE_SERVICES.items()
    }


def relocate_urls(environment: Mapping[str, str], addresses: Mapping[int, str]) -> dict[str, str]:
    """The variables of ``environment`` whose value is an http(s) URL on a loopback host at a port that
    ``addresses`` knows, with ``host:port`` replaced by that address (path and query kept)."""
    moved = {}
    for name, value in environment.items():
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or parts.hostname not in (HOST, "localhost"):
            continue
        try:
            port = parts.port
        except ValueError:
            continue
        if port in addresses:
            moved[name] = urlunsplit(parts._replace(netloc=addresses[port]))
    return moved


def function_environment(db_url: str, addresses: Mapping[int, str], project_dir: Path = PROJECT_ROOT) -> dict[str, str]:
    """What the sandbox hands the functions over the stage's own values (the emulator's ``--pass-env``): the
    sandbox database, and every ``local`` stage URL that names a sandbox service, pointed at where it runs.

    Raises :class:`dev.emulator.settings.SettingsError` when the settings file cannot be read.
    """
    stage = emulator_settings.stage_config(project_dir / SETTINGS_FILE, STAGE)
    return {"DATABASE_URL": db_url, **relocate_urls(stage.environment_variables, addresses)}


def compose_function_environment(project_dir: Path = PROJECT_ROOT) -> dict[str, str]:
    """What ``docker-compose.yml`` gives the ``lambda`` container for its functions (the tests hold it to this)."""
    return function_environment(compose_database_url(), compose_addresses(), project_dir)


def emulator_environment(
    functions: Mapping[str, str], process: Mapping[str, str] = PROCESS_ENVIRONMENT
) -> dict[str, str]:
    """Variables the emulator process gets on top of the inherited environment, in both modes: ``functions``
    (passed through to the functions with ``--pass-env``) and ``process`` (:data:`PROCESS_ENVIRONMENT` in a
    container, :func:`host_process_environment` on the host)."""
    return {**functions, **process}


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
    print(" ".join(container_emulator_command(sorted(compose_function_environment()))))
    return 0


if __name__ == "__main__":
    run(main)

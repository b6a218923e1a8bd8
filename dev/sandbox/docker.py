"""Docker mode: ``docker compose`` (v2) on ``docker-compose.yml`` does the work; the Docker SDK reports state.

The compose project is ``Settings.compose_project`` (``COMPOSE_PROJECT_NAME``, else the folder's name, as compose
itself would choose) and is always passed explicitly, so what the SDK is asked about is what compose created.
"""

from __future__ import annotations

import subprocess
import sys

from dev import services
from dev.health import http_healthy
from dev.ports import port_in_use, reachable

from . import engine
from .settings import (
    SandboxError,
    Settings,
    check_stage_endpoint,
    forget_ports,
    port_error,
    print_summary,
    record_ports,
    say,
)

UP_TIMEOUT = 180  # seconds for `up --wait`: the first `up` also builds the image
SERVICES = ("db", "lambda", "hub")
# What the image is made of at run time: the source itself is bind-mounted, so only these call for a rebuild.
BUILD_INPUTS = ("Dockerfile", "requirements.txt", ".dockerignore")
BASE_IMAGES = (f"postgres:{services.POSTGRES_VERSION}", "python:3.11-slim")  # docker-compose.yml and the Dockerfile
REGISTRY = "registry-1.docker.io"
PYPI = "pypi.org"


class Docker:
    """The sandbox as the compose project ``settings.compose_project``."""

    mode = "docker"

    def __init__(self, settings: Settings, compose: list[str] | None = None) -> None:
        self.settings = settings
        self._compose = compose

    # -- the two tools --------------------------------------------------------------------------------------------
    def compose(self) -> list[str]:
        """The compose command line up to the subcommand, with this sandbox's project directory and name."""
        if self._compose is None:
            self._compose = engine.compose_command(self.settings.environ)
        if self._compose is None:
            raise SandboxError(
                "Docker mode needs Docker Compose v2 (`docker compose`), which is not installed: install the compose "
                "plugin (https://docs.docker.com/compose/install/linux/), or use the embedded mode: "
                "`SANDBOX=embedded make up`"
            )
        settings = self.settings
        return [
            *self._compose,
            *("--project-directory", str(settings.project_dir), "--project-name", settings.compose_project),
        ]

    def run(self, *args: str, check: bool = True) -> int:
        argv = [*self.compose(), *args]
        code = subprocess.call(argv, cwd=self.settings.project_dir, env=self.settings.child_env())
        if check and code != 0:
            raise SandboxError(f"`{' '.join(argv)}` failed (exit {code}); `make logs` shows the services' output")
        return code

    def _client(self):
        try:
            return engine.client(environ=self.settings.environ)
        except engine.EngineUnavailable as exc:
            raise SandboxError(
                f"no Docker engine answers ({exc}): start Docker, or use the embedded mode: `SANDBOX=embedded make up`"
            ) from None

    def states(self) -> dict[str, engine.ServiceState]:
        """What the engine knows about this project's containers (empty when none exist)."""
        client = self._client()
        try:
            return engine.service_states(client, self.settings.compose_project)
        finally:
            client.close()

    def image_is_current(self) -> bool:
        """The project's lambda image exists and is newer than everything it is built from (a warm `make up` then
        skips the build, which costs seconds even when every layer is cached)."""
        client = self._client()
        try:
            created = engine.image_created(client, f"{self.settings.compose_project}-lambda")
        finally:
            client.close()
        inputs = [self.settings.project_dir / name for name in BUILD_INPUTS]
        newest = max((path.stat().st_mtime for path in inputs if path.exists()), default=0.0)
        return created is not None and newest < created

    def offline_reason(self, built: bool) -> str | None:
        """When `up` failed for want of the network, the one line that says so: a base image that is not here and a
        registry that does not answer, or an image build (requirements.txt from PyPI) with PyPI not answering."""
        client = self._client()
        try:
            missing = [image for image in BASE_IMAGES if not client.images.list(name=image)]
        finally:
            client.close()
        if missing and not reachable(REGISTRY):
            needs = f"it pulls {', '.join(missing)} from Docker Hub, and {REGISTRY} does not answer from here"
        elif built and not reachable(PYPI):
            needs = f"its lambda image installs requirements.txt from PyPI, and {PYPI} does not answer from here"
        else:
            return None
        return (
            f"the first `make up` in Docker mode needs the network: {needs}. Run it once online, or use the embedded "
            "mode, which needs none: `SANDBOX=embedded make up`"
        )

    # -- Backend --------------------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return any(state.status == "running" for state in self.states().values())

    def up(self) -> None:
        settings = self.settings
        check_stage_endpoint(settings)
        self.compose()  # no Compose: say so before anything else
        if not self.is_running():
            # Before compose runs: its own message for a busy port is an engine error that names no variable.
            for name in services.Ports.ENV:
                if port_in_use(getattr(settings.ports, name)):
                    raise port_error(settings, name)
        build = [] if self.image_is_current() else ["--build"]
        code = self.run("up", "--detach", *build, "--wait", "--wait-timeout", str(UP_TIMEOUT), check=False)
        states = self.states()
        if code != 0 and (offline := self.offline_reason(bool(build))):
            raise SandboxError(offline)
        if code != 0 or not all(name in states and states[name].up for name in SERVICES):
            raise SandboxError(
                f"`docker compose up` did not bring every service up healthy (exit {code}): "
                f"{self._describe(states)}. `make logs` shows why; fix it and `make up` again."
            )
        record_ports(settings)
        say("sandbox is up (docker mode)")
        print_summary(settings, self.mode, where=self.data_location())

    def down(self) -> None:
        was_running = bool(self.states())
        self.run("down")
        forget_ports(self.settings)
        if was_running:
            say(f"stopped; data kept in {self.data_location()} (`make reset` wipes it)")
        else:
            say("sandbox is not running (nothing to stop)")

    def status(self) -> bool:
        states = self.states()
        for name in SERVICES:
            say(f"{name + ':':10} {self._describe_one(states.get(name))}")
        say(f"mode:      docker (compose project {self.settings.compose_project}; data in {self.data_location()})")
        ports = self.settings.ports
        healthy = (
            all(name in states and states[name].up for name in SERVICES)
            and http_healthy(services.emulator_health_url(services.HOST, ports.emulator))
            and http_healthy(services.hub_health_url(services.HOST, ports.hub))
        )
        if healthy:
            print_summary(self.settings, self.mode, next_steps=False, where=self.data_location())
        return healthy

    def logs(self, follow: bool, lines: int) -> int:
        return self.run("logs", "--tail", str(lines), *(["--follow"] if follow else []), check=False)

    def psql(self, extra: list[str]) -> int:
        tty = [] if sys.stdin.isatty() and sys.stdout.isatty() else ["-T"]
        return self.run("exec", *tty, "db", "psql", "-U", services.DB_USER, "-d", services.DB_NAME, *extra, check=False)

    def wipe(self) -> None:
        self.run("down", "--volumes")
        forget_ports(self.settings)

    def data_location(self) -> str:
        return f"the compose volume {self.settings.compose_project}_pgdata"

    # -- words ------------------------------------------------------------------------------------------------------
    @staticmethod
    def _describe_one(state: engine.ServiceState | None) -> str:
        if state is None:
            return "no container (`make up` creates it)"
        health = f", {state.health}" if state.health else ""
        ports = ", ".join(f"{ip}:{port}->{target}" for ip, port, target in state.ports)
        return f"{state.status}{health}{' on ' + ports if ports else ''} ({state.name})"

    def _describe(self, states: dict[str, engine.ServiceState]) -> str:
        return "; ".join(f"{name} {self._describe_one(states.get(name))}" for name in SERVICES)

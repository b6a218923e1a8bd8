"""Docker mode: a thin shell over ``docker compose`` on ``docker-compose.yml``."""

from __future__ import annotations

import shutil
import subprocess
import time

from dev import services
from dev.postgres import port_in_use

from .settings import SandboxError, Settings, port_error, print_summary, say

EMULATOR_START_TIMEOUT = 60.0  # seconds; the first `up` also builds the image


def docker_available(timeout: float = 5.0) -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    if not shutil.which("docker"):
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=timeout)
    except (subprocess.SubprocessError, OSError):
        return False
    return result.returncode == 0


# -- docker mode ----------------------------------------------------------------------------------------------------
class Docker:
    """A thin shell over ``docker compose`` (or the older ``docker-compose``) on ``docker-compose.yml``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def compose(self) -> list[str]:
        if shutil.which("docker"):
            probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
            if probe.returncode == 0:
                return ["docker", "compose"]
        if shutil.which("docker-compose"):
            return ["docker-compose"]
        raise SandboxError(
            "Docker mode needs Compose: install the compose plugin (https://docs.docker.com/compose/install/), "
            "or use the embedded mode with SANDBOX=embedded"
        )

    def run(self, *args: str, check: bool = True) -> int:
        argv = [*self.compose(), "--project-directory", str(self.settings.project_dir), *args]
        code = subprocess.call(argv, cwd=self.settings.project_dir)
        if check and code != 0:
            raise SandboxError(f"`{' '.join(argv)}` failed (exit {code}); `make logs` shows the services' output")
        return code

    def running(self) -> bool:
        argv = [*self.compose(), "--project-directory", str(self.settings.project_dir), "ps", "-q"]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=self.settings.project_dir)
        return bool(result.stdout.strip())

    def up(self) -> None:
        settings = self.settings
        if not self.running():
            for name in ("pg", "emulator", "api"):
                if port_in_use(getattr(settings.ports, name)):
                    raise port_error(settings, name)
        self.run("up", "--detach", "--build")
        url = services.emulator_health_url(services.HOST, settings.ports.emulator)
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT * 3  # the first build downloads the image
        while not services.http_healthy(url, timeout=1.0):
            if time.monotonic() > deadline:
                raise SandboxError(f"the lambda service did not answer {url}: `make logs` shows why")
            time.sleep(0.5)
        say("sandbox is up (docker mode)")
        print_summary(settings, "docker")

    def down(self) -> None:
        self.run("down")
        say("stopped; data kept in the compose volume (`make reset` wipes it)")

    def status(self) -> bool:
        self.run("ps", check=False)
        healthy = services.http_healthy(services.emulator_health_url(services.HOST, self.settings.ports.emulator))
        if healthy:
            print_summary(self.settings, "docker", next_steps=False)
        return healthy

    def logs(self, follow: bool, lines: int) -> int:
        return self.run("logs", "--tail", str(lines), *(["--follow"] if follow else []), check=False)

    def psql(self, extra: list[str]) -> int:
        return self.run("exec", "db", "psql", "-U", services.DB_USER, "-d", services.DB_NAME, *extra, check=False)

    def wipe(self) -> None:
        self.run("down", "--volumes")

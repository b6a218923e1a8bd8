"""What every sandbox command needs: settings from the environment and ``.env``, ports, errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dev import services


class SandboxError(RuntimeError):
    """The sandbox could not do what was asked; the message says what to do next."""


# -- settings -------------------------------------------------------------------------------------------------------
@dataclass
class Settings:
    """Everything a command needs, resolved once from the environment and ``.env``."""

    project_dir: Path
    sandbox_dir: Path
    ports: services.Ports
    mode: str  # "auto", "embedded" or "docker"
    database_url_override: str | None = None  # SANDBOX_DATABASE_URL: run the emulator against your own local DB

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, project_dir: Path = services.PROJECT_ROOT) -> Settings:
        env = services.effective_env(project_dir, environ)
        sandbox_dir = Path(env.get("SANDBOX_DIR") or ".sandbox")
        if not sandbox_dir.is_absolute():
            sandbox_dir = project_dir / sandbox_dir
        mode = (env.get("SANDBOX") or "auto").strip().lower()
        if mode not in ("auto", "embedded", "docker"):
            raise SandboxError(f"SANDBOX={mode!r}: use SANDBOX=embedded, SANDBOX=docker, or leave it unset (auto)")
        return cls(
            project_dir=project_dir,
            sandbox_dir=sandbox_dir,
            ports=services.Ports.from_env(env),
            mode=mode,
            database_url_override=env.get("SANDBOX_DATABASE_URL") or None,
        )

    @property
    def database_url(self) -> str:
        return self.database_url_override or services.database_url(services.HOST, self.ports.pg)

    @property
    def invoke_url(self) -> str:
        return f"http://{services.HOST}:{self.ports.emulator}"

    @property
    def api_url(self) -> str:
        return f"http://{services.HOST}:{self.ports.api}"


def port_error(settings: Settings, name: str) -> SandboxError:
    port = getattr(settings.ports, name)
    variable = services.Ports.ENV[name]
    return SandboxError(
        f"port {port} ({variable}, {services.Ports.ROLE[name]}) is already in use on {services.HOST}: stop what "
        f"listens there (`ss -ltnp 'sport = :{port}'` or `lsof -i :{port}`), or move the sandbox with "
        f"`{variable}=<free port> make up` (or set it in .env)"
    )


def say(message: str = "") -> None:
    print(message, flush=True)


def print_summary(settings: Settings, mode: str, next_steps: bool = True) -> None:
    """What runs where, and what to try next: the first thing a new developer reads."""
    say()
    say(f"  database     {settings.database_url}")
    say(f"  Invoke API   {settings.invoke_url}  (Lambda's invoke endpoint; `make invoke-*` talk to it)")
    say(f"  API front    {settings.api_url}  (HTTP requests to run.app, e.g. {settings.api_url}/websub)")
    say(f"  mode         {mode}{'  (logs: make logs)' if mode == 'docker' else f'  (logs in {settings.sandbox_dir})'}")
    if next_steps:
        say()
        say("next: make invoke-upgrade     # migrate the sandbox database to head, through the emulator")
        say("      make seed               # sample channels and videos, as signed WebSub notifications")
        say("      make psql               # look at the data")
        say("      make down               # stop (data kept); make reset wipes it")

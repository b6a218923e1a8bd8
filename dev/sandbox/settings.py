"""What every sandbox command needs: settings from the environment and ``.env``, ports, errors."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dev import services
from dev.env_file import effective_env


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
    compose_project: str = ""  # Docker mode: COMPOSE_PROJECT_NAME, else the checkout folder's name as compose makes it
    environ: dict[str, str] = field(default_factory=dict)  # the process environment commands were given

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, project_dir: Path = services.PROJECT_ROOT) -> Settings:
        env = effective_env(project_dir, environ)
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
            compose_project=env.get("COMPOSE_PROJECT_NAME") or compose_project_name(project_dir),
            environ=dict(os.environ if environ is None else environ),
        )

    def child_env(self) -> dict[str, str]:
        """The environment for tools run on the sandbox's behalf (compose, psql): the caller's, with the resolved
        ports, so ``.env`` and the environment mean the same to compose as to this code."""
        env = dict(self.environ)
        env.update({variable: str(getattr(self.ports, name)) for name, variable in services.Ports.ENV.items()})
        env["COMPOSE_PROJECT_NAME"] = self.compose_project
        return env

    @property
    def database_url(self) -> str:
        return self.database_url_override or services.database_url(services.HOST, self.ports.pg)

    @property
    def invoke_url(self) -> str:
        return f"http://{services.HOST}:{self.ports.emulator}"

    @property
    def api_url(self) -> str:
        return f"http://{services.HOST}:{self.ports.api}"

    @property
    def hub_url(self) -> str:
        return f"http://{services.HOST}:{self.ports.hub}"


def compose_project_name(project_dir: Path) -> str:
    """Compose's default project name: the folder's name, lower-cased, without the characters compose drops."""
    name = re.sub(r"[^a-z0-9_-]", "", project_dir.resolve().name.lower()).lstrip("_-")
    return name or "sandbox"


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


def print_summary(settings: Settings, mode: str, next_steps: bool = True, where: str = "") -> None:
    """What runs where, and what to try next: the first thing a new developer reads."""
    say()
    say(f"  database     {settings.database_url}")
    say(f"  Invoke API   {settings.invoke_url}  (Lambda's invoke endpoint; `make invoke-*` talk to it)")
    say(f"  API front    {settings.api_url}  (HTTP requests to run.app, e.g. {settings.api_url}/websub)")
    say(f"  WebSub hub   {settings.hub_url}/hub  (the local stage subscribes here; verifies through the API front)")
    say(f"  mode         {mode}  (logs: make logs)")
    if where:
        say(f"  data         {where}")
    if next_steps:
        say()
        say("next: make invoke-upgrade     # migrate the sandbox database to head, through the emulator")
        say("      make seed               # sample channels: subscribed through the Lambda, notified through the hub")
        say("      make subscribe CHANNEL=UC...  # = zappa invoke local 'run.subscribe_channel', verified by the hub")
        say("      make psql               # look at the data")
        say("      make down               # stop (data kept); make reset wipes it")

"""What every sandbox command needs: settings from the environment and ``.env``, ports, errors.

One port setting, end to end. The emulator's port is the one the ``local`` stage's ``aws_endpoint_urls.lambda`` names
(where the real ``zappa invoke local`` sends its calls, and ``make invoke-*`` too); ``EMULATOR_PORT`` may only agree
with it, else ``make up`` refuses in one line that says what to change (:func:`check_stage_endpoint`). The ports a
sandbox was started with are recorded (``SANDBOX_DIR/ports.json``) and are what later commands use (``make status``,
``make seed``) when the environment and ``.env`` do not say otherwise: ``EMULATOR_PORT=9100 API_PORT=8100 make up``
once, then plain ``make status``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dev import services
from dev.emulator.settings import SettingsError, stage_config
from dev.env_file import effective_env

PORTS_FILE = "ports.json"  # in SANDBOX_DIR: the ports of the sandbox that runs, for the commands after `make up`
IGNORE_STAGE_ENDPOINT = "SANDBOX_IGNORE_STAGE_ENDPOINT"  # =1: tools that never run the real Zappa CLI (bench)


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

    stage_endpoint: str = ""  # the local stage's aws_endpoint_urls.lambda ("" when unset or unreadable)

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, project_dir: Path = services.PROJECT_ROOT, recorded: bool = True
    ) -> Settings:
        """From the environment over ``.env``, over the ports the running sandbox recorded (unless ``recorded`` is
        False: `make up` starts from what it is told), over the local stage's emulator port and the defaults."""
        env = effective_env(project_dir, environ)
        sandbox_dir = Path(env.get("SANDBOX_DIR") or ".sandbox")
        if not sandbox_dir.is_absolute():
            sandbox_dir = project_dir / sandbox_dir
        mode = (env.get("SANDBOX") or "auto").strip().lower()
        if mode not in ("auto", "embedded", "docker"):
            raise SandboxError(f"SANDBOX={mode!r}: use SANDBOX=embedded, SANDBOX=docker, or leave it unset (auto)")
        endpoint = local_stage_endpoint(project_dir)
        base = services.Ports(emulator=endpoint_port(endpoint) or services.Ports.emulator)
        if recorded:
            base = recorded_ports(sandbox_dir) or base
        return cls(
            project_dir=project_dir,
            sandbox_dir=sandbox_dir,
            ports=services.Ports.from_env(env, base),
            mode=mode,
            database_url_override=env.get("SANDBOX_DATABASE_URL") or None,
            compose_project=env.get("COMPOSE_PROJECT_NAME") or compose_project_name(project_dir),
            environ=dict(os.environ if environ is None else environ),
            stage_endpoint=endpoint,
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


def local_stage_endpoint(project_dir: Path) -> str:
    """Where the local stage sends ``zappa invoke local`` (its ``aws_endpoint_urls.lambda``), resolved by Zappa's own
    code (cached per content of the file); "" when it names none or the file cannot be read (``make up`` then reports
    the file's error itself)."""
    try:
        return stage_config(project_dir / services.SETTINGS_FILE, services.STAGE).lambda_endpoint
    except SettingsError:
        return ""


def endpoint_port(endpoint: str) -> int | None:
    """The port of a loopback endpoint URL (the only kind the sandbox can serve), else None."""
    try:
        parts = urlsplit(endpoint)
        return parts.port or 80 if parts.hostname in (services.HOST, "localhost") else None
    except ValueError:
        return None


def check_stage_endpoint(settings: Settings) -> None:
    """Refuse (:class:`SandboxError`) to start the emulator on ``settings.ports.emulator`` when the local stage sends
    the real ``zappa invoke local`` elsewhere: it would end in ConnectionRefusedError."""
    wanted = settings.ports.emulator
    stage_port = endpoint_port(settings.stage_endpoint)
    if stage_port in (None, wanted) or settings.environ.get(IGNORE_STAGE_ENDPOINT) == "1":
        return
    raise SandboxError(
        f"EMULATOR_PORT={wanted}, but the local stage sends `zappa invoke local` to {settings.stage_endpoint}: set "
        f'"aws_endpoint_urls": {{"lambda": "http://{services.HOST}:{wanted}"}} in its stage in '
        f"{services.SETTINGS_FILE} (make up then follows it, EMULATOR_PORT is not needed), or use "
        f"EMULATOR_PORT={stage_port}"
    )


def recorded_ports(sandbox_dir: Path) -> services.Ports | None:
    """The ports the running sandbox was started with (:func:`record_ports`), or None."""
    try:
        return services.Ports(**json.loads((sandbox_dir / PORTS_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def record_ports(settings: Settings) -> None:
    """After a successful ``make up``: later commands use these ports without being told again. The file belongs
    to whoever owns the checkout (a root ``make up`` leaves nothing in a developer's checkout they cannot remove)."""
    created = not settings.sandbox_dir.exists()
    settings.sandbox_dir.mkdir(parents=True, exist_ok=True)
    path = settings.sandbox_dir / PORTS_FILE
    path.write_text(json.dumps(asdict(settings.ports)) + "\n")
    if os.geteuid() == 0:
        owner = settings.project_dir.stat()
        for made in [path, *([settings.sandbox_dir] if created else [])]:
            os.chown(made, owner.st_uid, owner.st_gid)


def forget_ports(settings: Settings) -> None:
    """After ``make down``: nothing runs on them any more."""
    (settings.sandbox_dir / PORTS_FILE).unlink(missing_ok=True)


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

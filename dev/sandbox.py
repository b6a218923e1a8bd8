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

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from dev import services
from dev.guard import RemoteDatabaseError, check_database_url

EMULATOR_START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


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


def port_in_use(port: int, host: str = services.HOST) -> bool:
    """Something listens on ``port`` (connect succeeds) or holds it (bind fails, e.g. a 0.0.0.0 listener)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def port_error(settings: Settings, name: str) -> SandboxError:
    port = getattr(settings.ports, name)
    variable = services.Ports.ENV[name]
    return SandboxError(
        f"port {port} ({variable}, {services.Ports.ROLE[name]}) is already in use on {services.HOST}: stop what "
        f"listens there (`ss -ltnp 'sport = :{port}'` or `lsof -i :{port}`), or move the sandbox with "
        f"`{variable}=<free port> make up` (or set it in .env)"
    )


def docker_available(timeout: float = 5.0) -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    if not shutil.which("docker"):
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=timeout)
    except (subprocess.SubprocessError, OSError):
        return False
    return result.returncode == 0


def choose_mode(settings: Settings) -> str:
    """Forced by SANDBOX, else stay with a running embedded sandbox, else Docker if an engine answers."""
    if settings.mode != "auto":
        return settings.mode
    if Embedded(settings).state():
        return "embedded"
    return "docker" if docker_available() else "embedded"


def _say(message: str = "") -> None:
    print(message, flush=True)


# -- embedded mode ------------------------------------------------------------------------------------------------
class Embedded:
    """PostgreSQL via ``dev.postgres.EmbeddedPostgres`` and the emulator as a detached background process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.sandbox_dir
        self.pid_file = self.dir / "emulator.pid"
        self.log_file = self.dir / "emulator.log"
        self.state_file = self.dir / "state.json"

    # -- pieces --------------------------------------------------------------------------------------------------
    def postgres(self):
        from dev.postgres import EmbeddedPostgres, PostgresError

        try:
            return EmbeddedPostgres(self.dir / "postgres", port=self.settings.ports.pg)
        except PostgresError as exc:
            raise SandboxError(str(exc)) from None

    def state(self) -> dict | None:
        """What ``up`` recorded, or None when the sandbox was never started or was stopped."""
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def emulator_pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is our emulator (pids get reused)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid if _is_emulator(pid) else None

    def emulator_command(self) -> list[str]:
        ports = self.settings.ports
        return services.emulator_command(services.HOST, ports.emulator, ports.api, python=sys.executable)

    def _ensure_database(self, pg) -> None:
        import psycopg2

        from dev.postgres import admin_execute

        if self.settings.database_url_override:
            return
        conn = psycopg2.connect(pg.url("postgres"), connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (services.DB_NAME,))
                exists = cur.fetchone() is not None
        finally:
            conn.close()
        if not exists:
            admin_execute(pg.url("postgres"), f'CREATE DATABASE "{services.DB_NAME}"')

    def _db_healthy(self, pg) -> bool:
        argv = services.db_healthcheck(self.settings.ports.pg, pg_isready=str(pg.bindir / "pg_isready"))
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- commands ------------------------------------------------------------------------------------------------
    def up(self) -> None:
        from dev.postgres import PostgresError

        settings = self.settings
        try:
            check_database_url(settings.database_url)
        except RemoteDatabaseError as exc:
            raise SandboxError(f"SANDBOX_DATABASE_URL: {exc}") from None
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL runs as an unprivileged user that must reach its data dir
            self.dir.chmod(self.dir.stat().st_mode | 0o011)
        pg = None if settings.database_url_override else self.postgres()
        pid = self.emulator_pid()
        recorded = self.state() or {}
        pg_running = pg is not None and pg.status()
        if pg_running and pg._recorded_port() not in (None, settings.ports.pg):
            raise SandboxError(
                f"the sandbox's PostgreSQL already runs on port {pg._recorded_port()}, not PGPORT={settings.ports.pg}: "
                "run `make down` first to move it"
            )
        if pid and recorded.get("ports") not in (None, asdict(settings.ports)):
            raise SandboxError(
                f"the sandbox's emulator already runs with ports {recorded.get('ports')}: run `make down` first to "
                f"move it to {asdict(settings.ports)}"
            )
        # Check every port before starting anything, so a conflict never leaves half a sandbox behind.
        mine = ({"pg"} if pg_running else set()) | ({"emulator", "api"} if pid else set())
        for name in ("pg", "emulator", "api"):
            if name == "pg" and pg is None:
                continue
            if name not in mine and port_in_use(getattr(settings.ports, name)):
                raise port_error(settings, name)

        already = pg_running and pid is not None
        try:
            if pg is not None:
                pg.start()
                self._ensure_database(pg)
        except PostgresError as exc:
            raise SandboxError(f"PostgreSQL: {exc}") from None
        if pid is None:
            pid = self._start_emulator()
        self._wait_emulator(pid)
        if pg is not None and not self._db_healthy(pg):
            raise SandboxError(f"PostgreSQL does not answer pg_isready on port {settings.ports.pg}: see {pg.log_file}")
        self.state_file.write_text(
            json.dumps(
                {
                    "mode": "embedded",
                    "ports": asdict(settings.ports),
                    "emulator_pid": pid,
                    "database_url": settings.database_url,
                    "invoke_url": settings.invoke_url,
                    "api_url": settings.api_url,
                },
                indent=2,
            )
        )
        _say("sandbox already running (nothing to do)" if already else "sandbox is up (embedded mode)")
        print_summary(settings, "embedded")

    def _start_emulator(self) -> int:
        settings = self.settings
        env = dict(os.environ)
        env.update(services.emulator_environment(settings.database_url))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.project_dir), env.get("PYTHONPATH")]))
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {self.emulator_command()}\n".encode())
            log.flush()
            # A new session: Ctrl-C in the terminal that ran `make up` must not stop the sandbox, and the child must
            # not hold the caller's stdout open (make and subprocess.run would wait for it).
            process = subprocess.Popen(
                self.emulator_command(),
                cwd=settings.project_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        self._process = process  # lets _wait_emulator notice an early exit without a zombie
        return process.pid

    def _wait_emulator(self, pid: int) -> None:
        url = services.emulator_health_url(services.HOST, self.settings.ports.emulator)
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT
        process = getattr(self, "_process", None)
        while not services.http_healthy(url, timeout=1.0):
            exited = process.poll() is not None if process is not None else self.emulator_pid() is None
            if exited:
                self.pid_file.unlink(missing_ok=True)
                raise SandboxError(
                    f"the emulator exited during start-up; the end of {self.log_file}:\n{self._log_tail()}\n"
                    "Fix the error above, then `make up` again."
                )
            if time.monotonic() > deadline:
                self._stop_emulator(pid)
                raise SandboxError(
                    f"the emulator did not answer {url} within {EMULATOR_START_TIMEOUT:.0f} s (stopped it); "
                    f"the end of {self.log_file}:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _stop_emulator(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)  # its own session/group: takes any worker children with it
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        process = getattr(self, "_process", None)
        if process is not None:
            process.wait(timeout=5)
        self.pid_file.unlink(missing_ok=True)

    def down(self) -> None:
        stopped = []
        pid = self.emulator_pid()
        if pid:
            self._stop_emulator(pid)
            stopped.append("emulator")
        else:
            self.pid_file.unlink(missing_ok=True)
        if not self.settings.database_url_override and (self.dir / "postgres").exists():
            from dev.postgres import PostgresError

            try:
                if self.postgres().stop():
                    stopped.append("PostgreSQL")
            except PostgresError as exc:
                raise SandboxError(f"PostgreSQL: {exc}") from None
        self.state_file.unlink(missing_ok=True)
        if stopped:
            _say(f"stopped {' and '.join(stopped)}; data kept in {self.dir / 'postgres'} (`make reset` wipes it)")
        else:
            _say("sandbox is not running (nothing to stop)")

    def status(self) -> bool:
        settings = self.settings
        pid = self.emulator_pid()
        healthy = pid is not None and services.http_healthy(
            services.emulator_health_url(services.HOST, settings.ports.emulator)
        )
        pg_running = False
        if settings.database_url_override:
            _say(f"database:  your own (SANDBOX_DATABASE_URL) {settings.database_url}")
            pg_running = True
        elif (self.dir / "postgres").exists():
            pg = self.postgres()
            pg_running = pg.status()
            port = pg._recorded_port() or settings.ports.pg
            _say(f"postgres:  {'running on ' + services.HOST + ':' + str(port) if pg_running else 'stopped'}")
        else:
            _say("postgres:  not created yet (`make up` creates it)")
        if pid:
            _say(f"emulator:  running (pid {pid}), {'healthy' if healthy else 'NOT answering /health'}")
        else:
            _say("emulator:  stopped")
        _say(f"mode:      embedded (data in {self.dir})")
        up = pg_running and healthy
        if up:
            print_summary(settings, "embedded", next_steps=False)
        return up

    def logs(self, follow: bool, lines: int) -> int:
        files = [path for path in (self.log_file, self.dir / "postgres" / "postgres.log") if path.exists()]
        if not files:
            _say(f"no logs yet in {self.dir}: `make up` first")
            return 0
        if follow:
            os.execvp("tail", ["tail", "-n", str(lines), "-F", *map(str, files)])
        for path in files:
            _say(f"==> {path} <==")
            _say("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return 0

    def psql(self, extra: list[str]) -> int:
        if not self.state():
            raise SandboxError("the sandbox is not running: `make up` first")
        psql = None
        try:
            from dev.postgres import find_bindir

            candidate = find_bindir() / "psql"
            psql = str(candidate) if candidate.is_file() else None
        except Exception:
            psql = None
        psql = psql or shutil.which("psql")
        if not psql:
            raise SandboxError("psql not found: install the PostgreSQL client (`apt-get install postgresql-client`)")
        return subprocess.call([psql, self.settings.database_url, *extra])

    def wipe(self) -> None:
        from dev.postgres import PostgresError

        if (self.dir / "postgres").exists():
            try:
                self.postgres().destroy()
            except PostgresError as exc:
                raise SandboxError(f"PostgreSQL: {exc}") from None
        for path in (self.log_file, self.state_file, self.pid_file):
            path.unlink(missing_ok=True)


def _is_emulator(pid: int) -> bool:
    """Linux: the process runs dev.emulator and is not a zombie (an unreaped exit still answers kill(pid, 0))."""
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc (macOS): kill(pid, 0) succeeded, trust it
    try:
        stat = (proc / "stat").read_text()
        if stat.rpartition(")")[2].split()[0] == "Z":
            return False
        return b"dev.emulator" in (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _is_emulator(pid)


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
        _say("sandbox is up (docker mode)")
        print_summary(settings, "docker")

    def down(self) -> None:
        self.run("down")
        _say("stopped; data kept in the compose volume (`make reset` wipes it)")

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


# -- migrations against the sandbox ----------------------------------------------------------------------------
def invoke(settings: Settings, function: str, payload: dict | None = None) -> subprocess.CompletedProcess:
    """Call a Zappa function through the emulator's Invoke API, as `make invoke-*` does (HTTP only).

    stdout is the function's result as JSON; stderr the Lambda log tail.
    """
    argv = [sys.executable, "-m", "dev.invoke", "--json", "--endpoint", settings.invoke_url, function]
    if payload is not None:
        argv += ["--payload", json.dumps(payload)]
    return subprocess.run(argv, capture_output=True, text=True, cwd=settings.project_dir, timeout=300)


def seed(settings: Settings, extra: list[str] | None = None, capture: bool = False) -> subprocess.CompletedProcess:
    """``dev.seed`` against the running sandbox: its API front, its database, and the stage's WebSub secret."""
    check_database_url(settings.database_url)
    secret = services.stage_config(settings.project_dir).get("environment_variables", {}).get("WEBSUB_SECRET", "")
    argv = [sys.executable, "-m", "dev.seed", "--base-url", settings.api_url, "--database-url", settings.database_url]
    if secret:
        argv += ["--secret", secret]
    return subprocess.run(
        [*argv, *(extra or [])], cwd=settings.project_dir, capture_output=capture, text=True, timeout=300
    )


def new_migration(settings: Settings, message: str) -> Path | None:
    """``flask db migrate`` against the sandbox database brought to head first, so the diff is only your change."""
    check_database_url(settings.database_url)
    if not services.http_healthy(services.emulator_health_url(services.HOST, settings.ports.emulator)):
        raise SandboxError("the sandbox is not running: `make up` first")
    _say("bringing the sandbox database to head first (as `make invoke-upgrade`) ...")
    upgraded = invoke(settings, "run.run_alembic_upgrade")
    if upgraded.returncode != 0:
        raise SandboxError(
            f"the upgrade to head failed, so a new revision would be generated against an old schema:\n"
            f"{upgraded.stdout}{upgraded.stderr}"
        )
    versions = settings.project_dir / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    env = dict(os.environ, DATABASE_URL=settings.database_url)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "yt_pubsub_handler", "db", "migrate", "-m", message],
        cwd=settings.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise SandboxError(f"`flask db migrate` failed (exit {result.returncode}):\n{output}")
    created = sorted(set(versions.glob("*.py")) - before)
    if not created:
        _say("No changes in schema detected: edit yt_pubsub_handler/models.py first, then run this again.")
        return None
    path = created[0]
    _say(output)
    _say()
    _say(f"new revision: {path.relative_to(settings.project_dir)}")
    _say(
        "Review it before committing: autogenerate writes a rename as drop + add (data loss), misses server\n"
        "defaults and enum value changes, and knows nothing about locks on big tables. Then:\n"
        "  make invoke-upgrade && make invoke-downgrade && make invoke-upgrade   # both directions work\n"
        "  make test"
    )
    return path


# -- output ---------------------------------------------------------------------------------------------------------
def print_summary(settings: Settings, mode: str, next_steps: bool = True) -> None:
    """What runs where, and what to try next: the first thing a new developer reads."""
    _say()
    _say(f"  database     {settings.database_url}")
    _say(f"  Invoke API   {settings.invoke_url}  (Lambda's invoke endpoint; `make invoke-*` talk to it)")
    _say(f"  API front    {settings.api_url}  (HTTP requests to run.app, e.g. {settings.api_url}/websub)")
    _say(f"  mode         {mode}{'  (logs: make logs)' if mode == 'docker' else f'  (logs in {settings.sandbox_dir})'}")
    if next_steps:
        _say()
        _say("next: make invoke-upgrade     # migrate the sandbox database to head, through the emulator")
        _say("      make seed               # sample channels and videos, as signed WebSub notifications")
        _say("      make psql               # look at the data")
        _say("      make down               # stop (data kept); make reset wipes it")


def backend(settings: Settings, mode: str | None = None) -> Embedded | Docker:
    return Docker(settings) if (mode or choose_mode(settings)) == "docker" else Embedded(settings)


def confirm_reset(settings: Settings, force: bool) -> None:
    if force:
        return
    if not sys.stdin.isatty():
        raise SandboxError("reset deletes all sandbox data and needs a confirmation: rerun as `make reset FORCE=1`")
    answer = input(f"This deletes the sandbox database {services.DB_NAME} and its data. Type 'yes' to continue: ")
    if answer.strip().lower() != "yes":
        raise SandboxError("reset cancelled (nothing was deleted)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.sandbox", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("up", help="start PostgreSQL and the emulator (idempotent)")
    sub.add_parser("down", help="stop them, keeping the data (harmless when stopped)")
    status = sub.add_parser("status", help="what runs where")
    status.add_argument("--check", action="store_true", help="exit 3 unless everything is up and healthy")
    logs = sub.add_parser("logs", help="the services' logs")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=100)
    sub.add_parser("psql", help="psql on the sandbox database (extra arguments go to psql)")
    reset = sub.add_parser("reset", help="wipe the sandbox data (asks first), restarting it if it was running")
    reset.add_argument("--force", action="store_true", help="no confirmation")
    url = sub.add_parser("url", help="print the sandbox DATABASE_URL (or --invoke / --api URL)")
    which = url.add_mutually_exclusive_group()
    which.add_argument("--invoke", action="store_true")
    which.add_argument("--api", action="store_true")
    sub.add_parser("mode", help="print the mode that would be used: embedded or docker")
    sub.add_parser("seed", help="sample data through the API front (extra arguments go to dev.seed)")
    migration = sub.add_parser("new-migration", help="autogenerate a revision against the sandbox database at head")
    migration.add_argument("-m", "--message", required=True)
    args, extra = parser.parse_known_args(argv)
    if extra and args.action not in ("psql", "seed"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    try:
        settings = Settings.load()
        if args.action == "url":
            print(settings.invoke_url if args.invoke else settings.api_url if args.api else settings.database_url)
            return 0
        if args.action == "seed":
            return seed(settings, extra).returncode
        if args.action == "new-migration":
            new_migration(settings, args.message)
            return 0
        mode = choose_mode(settings)
        if args.action == "mode":
            print(mode)
            return 0
        box = backend(settings, mode)
        if args.action == "up":
            box.up()
        elif args.action == "down":
            box.down()
        elif args.action == "status":
            up = box.status()
            return 3 if args.check and not up else 0
        elif args.action == "logs":
            return box.logs(args.follow, args.lines)
        elif args.action == "psql":
            return box.psql(extra)
        elif args.action == "reset":
            confirm_reset(settings, args.force)
            was_up = bool(box.state()) if isinstance(box, Embedded) else box.running()
            if isinstance(box, Embedded):
                box.down()
            box.wipe()
            _say("sandbox data wiped")
            if was_up:
                box.up()
            else:
                _say("`make up` starts a fresh sandbox")
    except (SandboxError, RemoteDatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Embedded mode: PostgreSQL from the machine's server binaries, the emulator and the hub as background processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict

from dev import services
from dev.emulator.settings import SettingsError
from dev.guard import RemoteDatabaseError, check_database_url
from dev.health import http_healthy
from dev.ports import port_in_use
from dev.postgres import SERVICE_USER, cluster_dir

from .process import BackgroundProcess
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

EMULATOR_START_TIMEOUT = 60.0
HUB_START_TIMEOUT = 30.0


# -- embedded mode ------------------------------------------------------------------------------------------------
class Embedded:
    """PostgreSQL via ``dev.postgres.EmbeddedPostgres``; the emulator and the hub as detached background processes
    (:class:`.process.BackgroundProcess`: pid and log files in ``SANDBOX_DIR``).

    The cluster lives in ``SANDBOX_DIR/postgres`` unless, as root, the server's unprivileged user cannot reach it
    (a checkout under a 0700 directory such as /root): then in a directory keyed by that path, outside the
    checkout (``dev.postgres.cluster_dir``). ``make status`` says where.
    """

    mode = "embedded"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.sandbox_dir
        self.emulator = BackgroundProcess("emulator", "dev.emulator", self.dir)
        self.hub = BackgroundProcess("hub", "dev.hub", self.dir)
        self.state_file = self.dir / "state.json"
        self.cluster_dir = cluster_dir(self.dir / "postgres", label=f"{settings.project_dir.name}-sandbox")

    # -- pieces --------------------------------------------------------------------------------------------------
    def postgres(self):
        from dev.postgres import EmbeddedPostgres, PostgresError

        try:
            return EmbeddedPostgres(self.cluster_dir, port=self.settings.ports.pg)
        except PostgresError as exc:
            raise SandboxError(str(exc)) from None

    def state(self) -> dict | None:
        """What ``up`` recorded, or None when the sandbox was never started or was stopped."""
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def function_environment(self) -> dict[str, str]:
        """The database and the stage's service URLs as the functions must see them on these ports."""
        ports = self.settings.ports
        try:
            return services.function_environment(
                self.settings.database_url, services.host_addresses(ports), self.settings.project_dir
            )
        except SettingsError as exc:
            raise SandboxError(f"{services.SETTINGS_FILE}: {exc}") from None

    def emulator_command(self, pass_env: list[str]) -> list[str]:
        ports = self.settings.ports
        return services.emulator_command(services.HOST, ports.emulator, ports.api, sys.executable, pass_env)

    def _ensure_database(self, pg) -> None:
        from dev.postgres import admin_execute, scalar

        if self.settings.database_url_override:
            return
        server = pg.url("postgres")
        if scalar(server, "SELECT 1 FROM pg_database WHERE datname = :name", name=services.DB_NAME) is None:
            admin_execute(server, f'CREATE DATABASE "{services.DB_NAME}"')

    def _db_healthy(self, pg) -> bool:
        argv = services.db_healthcheck(self.settings.ports.pg, pg_isready=str(pg.bindir / "pg_isready"))
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0

    # -- commands ------------------------------------------------------------------------------------------------
    def up(self) -> None:
        settings = self.settings
        try:
            check_database_url(settings.database_url)
        except RemoteDatabaseError as exc:
            raise SandboxError(f"SANDBOX_DATABASE_URL: {exc}") from None
        check_stage_endpoint(settings)
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL runs as an unprivileged user that must reach its data dir
            self.dir.chmod(self.dir.stat().st_mode | 0o011)
        pg = None if settings.database_url_override else self.postgres()
        running = {
            "pg": pg is not None and pg.status(),
            "emulator": self.emulator.pid() is not None,
            "hub": self.hub.pid() is not None,
        }
        self._check_not_moved(pg if running["pg"] else None, running["emulator"] or running["hub"])
        self._check_ports(running, pg is not None)
        self._start_postgres(pg)
        self._start_processes(running)
        if pg is not None and not self._db_healthy(pg):
            raise SandboxError(f"PostgreSQL does not answer pg_isready on port {settings.ports.pg}: see {pg.log_file}")
        self._record_state()
        record_ports(settings)
        say("sandbox already running (nothing to do)" if all(running.values()) else "sandbox is up (embedded mode)")
        print_summary(settings, self.mode, where=self.data_location())

    def _check_ports(self, running: dict[str, bool], with_pg: bool) -> None:
        """Every port this sandbox is about to take is free, checked before anything starts, so a conflict never
        leaves half a sandbox behind."""
        mine = {name for name, up in running.items() if up} | ({"api"} if running["emulator"] else set())
        for name in services.Ports.ENV:
            if (name != "pg" or with_pg) and name not in mine and port_in_use(getattr(self.settings.ports, name)):
                raise port_error(self.settings, name)

    def _start_postgres(self, pg) -> None:
        from dev.postgres import PostgresError

        if pg is None:
            return
        try:
            pg.start()
            self._ensure_database(pg)
        except PostgresError as exc:
            raise SandboxError(f"PostgreSQL: {exc}") from None

    def _start_processes(self, running: dict[str, bool]) -> None:
        """Start the emulator and the hub unless they run, side by side; wait until both answer."""
        settings = self.settings
        if not running["emulator"]:
            functions = self.function_environment()
            env = {**os.environ, **services.emulator_environment(functions, services.host_process_environment())}
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # it would keep the workers from caching what they compile
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.project_dir), env.get("PYTHONPATH")]))
            self.emulator.start(self.emulator_command(sorted(functions)), env, settings.project_dir)
        if not running["hub"]:
            argv = services.hub_command(services.HOST, settings.ports.hub, sys.executable)
            self.hub.start(argv, {**os.environ, **services.host_process_environment()}, services.PROJECT_ROOT)
        self.hub.wait_healthy(services.hub_health_url(services.HOST, settings.ports.hub), HUB_START_TIMEOUT)
        self.emulator.wait_healthy(
            services.emulator_health_url(services.HOST, settings.ports.emulator), EMULATOR_START_TIMEOUT
        )

    def _record_state(self) -> None:
        settings = self.settings
        state = {
            "mode": "embedded",
            "ports": asdict(settings.ports),
            "emulator_pid": self.emulator.pid(),
            "hub_pid": self.hub.pid(),
            "database_url": settings.database_url,
            "invoke_url": settings.invoke_url,
            "api_url": settings.api_url,
            "hub_url": settings.hub_url,
        }
        self.state_file.write_text(json.dumps(state, indent=2))

    def _check_not_moved(self, running_pg, running: bool) -> None:
        """A running sandbox is never moved to other ports silently: `make down` first."""
        ports = self.settings.ports
        if running_pg is not None and running_pg.recorded_port() not in (None, ports.pg):
            raise SandboxError(
                f"the sandbox's PostgreSQL already runs on port {running_pg.recorded_port()}, not PGPORT={ports.pg}: "
                "run `make down` first to move it"
            )
        recorded = (self.state() or {}).get("ports")
        if running and recorded is not None and recorded != asdict(ports):
            raise SandboxError(
                f"the sandbox's services already run with ports {recorded}: run `make down` first to move them "
                f"to {asdict(ports)}"
            )

    def down(self) -> None:
        stopped = self._stop()
        if stopped:
            say(f"stopped {', '.join(stopped)}; data kept in {self.data_location()} (`make reset` wipes it)")
        else:
            say("sandbox is not running (nothing to stop)")

    def _stop(self) -> list[str]:
        """Stop whatever runs; the names of what was stopped."""
        stopped = [process.name for process in (self.emulator, self.hub) if process.stop()]
        if not self.settings.database_url_override and self.cluster_dir.exists():
            from dev.postgres import PostgresError

            try:
                if self.postgres().stop():
                    stopped.append("PostgreSQL")
            except PostgresError as exc:
                raise SandboxError(f"PostgreSQL: {exc}") from None
        self.state_file.unlink(missing_ok=True)
        forget_ports(self.settings)
        return stopped

    def status(self) -> bool:
        settings = self.settings
        pg_running = False
        if settings.database_url_override:
            say(f"database:  your own (SANDBOX_DATABASE_URL) {settings.database_url}")
            pg_running = True
        elif self.cluster_dir.exists():
            pg = self.postgres()
            pg_running = pg.status()
            port = pg.recorded_port() or settings.ports.pg
            say(f"postgres:  {'running on ' + services.HOST + ':' + str(port) if pg_running else 'stopped'}")
        else:
            say("postgres:  not created yet (`make up` creates it)")
        emulator_up = self._process_status(
            self.emulator, services.emulator_health_url(services.HOST, settings.ports.emulator)
        )
        hub_up = self._process_status(self.hub, services.hub_health_url(services.HOST, settings.ports.hub))
        say(f"mode:      embedded (state and logs in {self.dir})")
        say(f"data:      {self.data_location()}")
        up = pg_running and emulator_up and hub_up
        if up:
            print_summary(settings, self.mode, next_steps=False, where=self.data_location())
        return up

    @staticmethod
    def _process_status(process: BackgroundProcess, health_url: str) -> bool:
        pid = process.pid()
        healthy = pid is not None and http_healthy(health_url)
        label = f"{process.name}:"
        if pid:
            say(f"{label:10} running (pid {pid}), {'healthy' if healthy else 'NOT answering ' + health_url}")
        else:
            say(f"{label:10} stopped")
        return healthy

    def is_running(self) -> bool:
        return bool(self.state()) or self.emulator.pid() is not None or self.hub.pid() is not None

    def data_location(self) -> str:
        if self.settings.database_url_override:
            return f"your own database (SANDBOX_DATABASE_URL) {self.settings.database_url}"
        where = str(self.cluster_dir)
        if self.cluster_dir != (self.dir / "postgres").resolve():
            where += f" (outside the checkout: the '{SERVICE_USER}' user that runs PostgreSQL cannot reach {self.dir})"
        return where

    def logs(self, follow: bool, lines: int) -> int:
        logs = (self.emulator.log_file, self.hub.log_file, self.cluster_dir / "postgres.log")
        files = [path for path in logs if path.exists()]
        if not files:
            say(f"no logs yet in {self.dir}: `make up` first")
            return 0
        if follow:
            os.execvp("tail", ["tail", "-n", str(lines), "-F", *map(str, files)])
        for path in files:
            say(f"==> {path} <==")
            say("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
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

        self._stop()
        if self.cluster_dir.exists():
            try:
                self.postgres().destroy()
            except PostgresError as exc:
                raise SandboxError(f"PostgreSQL: {exc}") from None
        for process in (self.emulator, self.hub):
            process.log_file.unlink(missing_ok=True)
            process.pid_file.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)

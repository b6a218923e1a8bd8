"""Embedded mode: PostgreSQL from the machine's server binaries and the emulator as a background process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from dev import services
from dev.guard import RemoteDatabaseError, check_database_url
from dev.postgres import SERVICE_USER, cluster_dir, port_in_use

from .settings import SandboxError, Settings, port_error, print_summary, say

EMULATOR_START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


# -- embedded mode ------------------------------------------------------------------------------------------------
class Embedded:
    """PostgreSQL via ``dev.postgres.EmbeddedPostgres`` and the emulator as a detached background process.

    The cluster lives in ``SANDBOX_DIR/postgres`` unless, as root, the server's unprivileged user cannot reach it
    (a checkout under a 0700 directory such as /root): then in a directory keyed by that path, outside the
    checkout (``dev.postgres.cluster_dir``). ``make status`` says where.
    """

    mode = "embedded"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.sandbox_dir
        self.pid_file = self.dir / "emulator.pid"
        self.log_file = self.dir / "emulator.log"
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
        if pg_running and pg.recorded_port() not in (None, settings.ports.pg):
            raise SandboxError(
                f"the sandbox's PostgreSQL already runs on port {pg.recorded_port()}, not PGPORT={settings.ports.pg}: "
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
        say("sandbox already running (nothing to do)" if already else "sandbox is up (embedded mode)")
        print_summary(settings, self.mode, where=self.data_location())

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
        process = getattr(self, "_process", None)

        def exited() -> bool:
            return process.poll() is not None if process is not None else self.emulator_pid() is None

        outcome = services.wait_healthy(url, exited, EMULATOR_START_TIMEOUT)
        if outcome == "exited":
            self.pid_file.unlink(missing_ok=True)
            raise SandboxError(
                f"the emulator exited during start-up; the end of {self.log_file}:\n{self._log_tail()}\n"
                "Fix the error above, then `make up` again."
            )
        if outcome == "timeout":
            self._stop_emulator(pid)
            raise SandboxError(
                f"the emulator did not answer {url} within {EMULATOR_START_TIMEOUT:.0f} s (stopped it); "
                f"the end of {self.log_file}:\n{self._log_tail()}"
            )

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
        stopped = self._stop()
        if stopped:
            say(f"stopped {' and '.join(stopped)}; data kept in {self.data_location()} (`make reset` wipes it)")
        else:
            say("sandbox is not running (nothing to stop)")

    def _stop(self) -> list[str]:
        """Stop whatever runs; the names of what was stopped."""
        stopped = []
        pid = self.emulator_pid()
        if pid:
            self._stop_emulator(pid)
            stopped.append("emulator")
        else:
            self.pid_file.unlink(missing_ok=True)
        if not self.settings.database_url_override and self.cluster_dir.exists():
            from dev.postgres import PostgresError

            try:
                if self.postgres().stop():
                    stopped.append("PostgreSQL")
            except PostgresError as exc:
                raise SandboxError(f"PostgreSQL: {exc}") from None
        self.state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> bool:
        settings = self.settings
        pid = self.emulator_pid()
        healthy = pid is not None and services.http_healthy(
            services.emulator_health_url(services.HOST, settings.ports.emulator)
        )
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
        if pid:
            say(f"emulator:  running (pid {pid}), {'healthy' if healthy else 'NOT answering /health'}")
        else:
            say("emulator:  stopped")
        say(f"mode:      embedded (state and logs in {self.dir})")
        say(f"data:      {self.data_location()}")
        up = pg_running and healthy
        if up:
            print_summary(settings, self.mode, next_steps=False, where=self.data_location())
        return up

    def is_running(self) -> bool:
        return bool(self.state()) or self.emulator_pid() is not None

    def data_location(self) -> str:
        if self.settings.database_url_override:
            return f"your own database (SANDBOX_DATABASE_URL) {self.settings.database_url}"
        where = str(self.cluster_dir)
        if self.cluster_dir != (self.dir / "postgres").resolve():
            where += f" (outside the checkout: the '{SERVICE_USER}' user that runs PostgreSQL cannot reach {self.dir})"
        return where

    def logs(self, follow: bool, lines: int) -> int:
        files = [path for path in (self.log_file, self.cluster_dir / "postgres.log") if path.exists()]
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

"""One embedded-mode service run as a detached background process: its pid file, its log, start, wait, stop.

The embedded sandbox runs two of them (the emulator and the hub) the same way: each in its own session, so a
Ctrl-C in the terminal that ran ``make up`` does not stop it and it does not hold that terminal's output open;
stopped with SIGTERM to its process group (taking any workers with it), SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from dev.emulator import client
from dev.health import NotHealthy, wait_healthy

from .settings import SandboxError

STOP_TIMEOUT = 10.0


class BackgroundProcess:
    """``<directory>/<name>.pid`` and ``<name>.log`` for a process whose command line contains ``module``."""

    def __init__(self, name: str, module: str, directory: Path) -> None:
        self.name = name
        self.module = module
        self.pid_file = directory / f"{name}.pid"
        self.log_file = directory / f"{name}.log"
        self._process: subprocess.Popen | None = None

    def pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is this service (pids get reused)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid, self.module) else None

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> int:
        """Start ``argv`` detached, appending to the log after a line that says what started when; its pid."""
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {argv}\n".encode())
        self._process = client.spawn(argv, self.log_file, env=env, cwd=cwd, detach=True, append=True)
        self.pid_file.write_text(str(self._process.pid))
        return self._process.pid

    def wait_healthy(self, url: str, timeout: float) -> None:
        """Until ``url`` answers 200. If the process exits first its pid file goes; if the time runs out it is
        stopped. Either way a :class:`SandboxError` with the end of its log."""

        def exited() -> bool:
            return self._process.poll() is not None if self._process is not None else self.pid() is None

        try:
            wait_healthy(
                url,
                timeout=timeout,
                exited=exited,
                log=self.log_file,
                what=f"the {self.name}",
                hint="Fix the error above, then `make up` again.",
            )
        except NotHealthy as exc:
            if exc.reason == "timeout":
                self.stop()
            else:
                self.pid_file.unlink(missing_ok=True)
            raise SandboxError(str(exc)) from None

    def stop(self) -> bool:
        """SIGTERM to its process group, SIGKILL after :data:`STOP_TIMEOUT`; True when it was running."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while _alive(pid, self.module):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None


def _alive(pid: int, module: str) -> bool:
    """``pid`` runs and is ``module``'s process: reaped if it is our own exited child, not a zombie, and (where
    /proc exists) its command line names ``module``."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
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
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc (macOS): kill(pid, 0) succeeded, trust it
    try:
        if (proc / "stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return False
        return module.encode() in (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False

"""One execution environment: a worker process, its log file and its control pipes, and the process environment it
gets (what Lambda sets, and nothing of the developer's).

Limits are enforced from outside the process, as Lambda's sandbox does: :meth:`Environment.receive_result` waits
for the reply until the deadline while watching the peak resident memory (:mod:`.memory`); a crash (``os._exit``, a
signal, ``sys.exit``) is seen as the control pipe closing (:class:`EnvironmentDied`). :meth:`Environment.stop` ends
the whole process group with SIGKILL.

Per environment, as on Lambda: the project's interpreter (:mod:`.interpreter`) runs the worker, and ``/tmp`` is
private (:mod:`.private_tmp`: a mount namespace with its own tmpfs, gone with the process) or, where the kernel
does not allow that, ``TMPDIR`` points at a directory of this environment's own, removed with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .memory import MemoryProbe, proc_peak_mb
from .settings import FunctionConfig
from .worker import read_message, write_message

WORKER_SCRIPT = str(Path(__file__).with_name("worker.py"))
# Lambda's init phase limit. An init that takes longer is not an error on Lambda: it is re-run as part of the first
# invocation, under the function's timeout (and its log says so, see logframe.init_timeout_line).
INIT_TIMEOUT_SECONDS = 10.0
MEMORY_POLL_SECONDS = 0.01
MAX_LOG_BYTES = 8 * 1024 * 1024  # per invocation, kept in memory and printed on the console
# Inherited from the emulator because tools need them; everything else comes from the stage, as on Lambda. Not HOME:
# the developer's home holds ~/.aws, ~/.pgpass, ~/.netrc (see function_environment).
_INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
# What SAM CLI gives a function when no credentials are configured for it (samcli/local/lambdafn/env_vars.py), plus
# a session token as Lambda's role credentials carry one. A function that calls AWS gets an auth error, never the
# developer's account.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "defaultkey",
    "AWS_SECRET_ACCESS_KEY": "defaultsecret",
    "AWS_SESSION_TOKEN": "defaultsessiontoken",
    # boto3 would fall back to these files when a function asks for a named profile: empty, not the developer's.
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
}

_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
}


class EnvironmentDied(Exception):
    """The worker process ended; ``reason`` reads like Lambda's ``Runtime exited with error: ...``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        sig = -returncode
        try:
            name = _SIGNAL_NAMES.get(signal.Signals(sig), signal.Signals(sig).name)
        except ValueError:
            name = f"signal {sig}"
        return f"signal: {name}"
    return f"exit status {returncode}"


def function_environment(
    config: FunctionConfig,
    project_dir: Path,
    pass_env: dict[str, str],
    endpoint_url: str | None,
    home_dir: Path,
    python: str = sys.executable,
    tmpdir: Path | None = None,
    provisioned: bool = False,
) -> dict[str, str]:
    """The process environment Lambda would give this function (plus ``--pass-env`` values, our remote_env).

    The stage's ``environment_variables`` are not here on purpose: Zappa's handler sets them from the generated
    ``zappa_settings.py`` when it initialises, exactly as on Lambda. Credentials are SAM CLI's placeholders and HOME
    is ``home_dir`` (an empty directory the runtime owns), so boto3, libpq or anything else that looks in the home
    directory finds nothing of the developer's. Only ``--pass-env`` can hand a real value over, deliberately.
    ``python``'s directory comes first on PATH (Lambda: ``/var/lang/bin``), so a function that starts ``python``
    gets its own interpreter. ``tmpdir``: the environment's TMPDIR where ``/tmp`` cannot be made private.
    ``provisioned``: an environment started ahead of its first invocation (eager warm-up), which Lambda marks as
    ``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``.
    """
    env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
    env["PATH"] = os.pathsep.join(filter(None, [os.path.dirname(python), env.get("PATH", os.defpath)]))
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(config.timeout_seconds),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency" if provisioned else "on-demand",
            "AWS_REGION": config.aws_region,
            "AWS_DEFAULT_REGION": config.aws_region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime or 'python3.11'}",
            "LAMBDA_TASK_ROOT": str(project_dir),
            "LAMBDA_RUNTIME_DIR": os.path.dirname(python),
            "_HANDLER": "handler.lambda_handler",
            "TZ": ":UTC",
            "HOME": str(home_dir),
            "PYTHONUNBUFFERED": "1",  # so a killed environment's last lines are still in its log
        }
    )
    env.setdefault("LANG", "en_US.UTF-8")
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    if endpoint_url:
        # zappa.asynchronous (and any boto3 lambda client in the function) then invokes this emulator, not AWS.
        env["AWS_ENDPOINT_URL_LAMBDA"] = endpoint_url
    env.update(config.aws_environment_variables)
    env.update(PLACEHOLDER_CREDENTIALS)  # after the stage's: Lambda reserves these names
    env.update(pass_env)
    return env


class Environment:
    """One worker process (a Lambda execution environment) with its log file and control pipes."""

    def __init__(
        self,
        config: FunctionConfig,
        project_dir: Path,
        env: dict[str, str],
        generation: int,
        memory_probe: MemoryProbe = proc_peak_mb,
        python: str = sys.executable,
        private_tmp: bool = False,
        tmpdir: Path | None = None,
        prewarm: bool = False,
        read_only_task_root: bool = False,
    ) -> None:
        """Start the worker. ``private_tmp``: it makes /tmp its own (``config.ephemeral_storage_mb``); ``tmpdir``: the
        directory its TMPDIR names otherwise, removed with the environment; ``prewarm``: it loads the app during init
        (an eager environment); ``read_only_task_root``: in its private /tmp's mount namespace the task root is
        read-only, as ``/var/task`` is on Lambda."""
        self.config = config
        self.generation = generation
        self.init_ms: float | None = None
        self.invocations = 0
        self.provisioned = prewarm
        self.last_peak_mb = 0.0  # highest peak seen (probe or worker report), for when the process is gone
        self._probe = memory_probe
        self._watch_memory = memory_probe(os.getpid()) is not None
        self._tmpdir = tmpdir
        log_fd, self.log_path = tempfile.mkstemp(prefix=f"{config.function_name}-", suffix=".log")
        os.close(log_fd)
        self._log = open(self.log_path, "ab+")  # noqa: SIM115 - lives as long as the environment
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        options = {
            "private_tmp_mb": config.ephemeral_storage_mb if private_tmp else None,
            "read_only_task_root": private_tmp and read_only_task_root,
            "prewarm": prewarm,
        }
        argv = [python, WORKER_SCRIPT, str(req_r), str(resp_w), str(project_dir), config.settings_dir]
        self._spawned = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [*argv, json.dumps(options)],
                cwd=project_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(req_r, resp_w),
                start_new_session=True,  # killing the group also ends whatever the function started
            )
        finally:
            os.close(req_r)
            os.close(resp_w)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self) -> float:
        """Block until the worker has imported Zappa's handler; returns the init duration in ms.

        As on Lambda, an init may take longer than :data:`INIT_TIMEOUT_SECONDS` (then it counts as part of the first
        invocation): only the function's ``timeout_seconds`` ends it. The environment is stopped then, its log still
        readable."""
        limit = max(INIT_TIMEOUT_SECONDS, float(self.config.timeout_seconds))
        message = self._receive(time.monotonic() + limit, memory_limit_mb=None)
        if message is None:
            self.stop()
            raise EnvironmentDied(f"init did not finish within {limit:.0f} seconds (the function's timeout)")
        # From the process start, as Lambda counts it: the interpreter's own start-up is part of the init.
        self.init_ms = max(float(message["init_ms"]), (time.monotonic() - self._spawned) * 1000)
        self.peak_memory_mb()
        return self.init_ms

    def start_invocation(self) -> int:
        """Cut the log for a new invocation; returns the offset where this invocation's output starts."""
        if self.invocations == 0:  # cold: keep the init output, it belongs before START
            return os.fstat(self._log.fileno()).st_size
        os.ftruncate(self._log.fileno(), 0)
        return 0

    def read_log(self, offset: int = 0) -> bytes:
        """The log from ``offset``; beyond MAX_LOG_BYTES only the end is kept (the tail is what clients see)."""
        with open(self.log_path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            skipped = max(0, size - offset - MAX_LOG_BYTES)
            handle.seek(offset + skipped)
            data = handle.read()
        if skipped:
            data = f"[emulator: {skipped} bytes of output not shown]\n".encode() + data
        return data

    def send(self, message: dict[str, Any]) -> None:
        self.invocations += 1
        try:
            write_message(self._req_w, message)
        except OSError as exc:  # BrokenPipeError: it died while idle
            raise EnvironmentDied(self._death_reason()) from exc

    def _receive(self, deadline: float, memory_limit_mb: float | None) -> dict[str, Any] | None:
        """Next message from the worker; None at the deadline; MemoryError over the limit; EnvironmentDied on exit."""
        watch = bool(memory_limit_mb) and self._watch_memory
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select(
                [self._resp_r], [], [], min(remaining, MEMORY_POLL_SECONDS) if watch else remaining
            )
            if watch and self.peak_memory_mb() > memory_limit_mb:
                raise MemoryError
            if readable:
                message = read_message(self._resp_r)
                if message is None:
                    raise EnvironmentDied(self._death_reason())
                self.note_peak(message.get("peak_mb", 0.0))
                return message

    def receive_result(self, deadline: float) -> dict[str, Any] | None:
        return self._receive(deadline, memory_limit_mb=self.config.memory_size)

    def note_peak(self, peak_mb: float) -> None:
        """Take a peak the worker reported about itself (getrusage), the only figure where /proc is missing."""
        self.last_peak_mb = max(self.last_peak_mb, float(peak_mb or 0.0))

    def peak_memory_mb(self) -> float:
        self.last_peak_mb = max(self.last_peak_mb, self._probe(self.proc.pid) or 0.0)
        return self.last_peak_mb

    def _death_reason(self) -> str:
        try:
            returncode = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.stop()  # not kill(): the caller still reads the log
            returncode = self.proc.returncode
        return _exit_reason(returncode)

    def stop(self) -> None:
        """SIGKILL the whole process group; the log file stays readable until :meth:`kill`."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def kill(self) -> None:
        """Stop the process and release the pipes and log file (idempotent)."""
        self.stop()
        for fd in (self._req_w, self._resp_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._req_w = self._resp_r = -1
        if not self._log.closed:
            self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)
        if self._tmpdir is not None:  # the TMPDIR stand-in for /tmp ends with its environment, as /tmp does
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

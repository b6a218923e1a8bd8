"""Execution environments: start, reuse, bound and kill the worker processes that run a function.

One :class:`FunctionPool` per function keeps warm :class:`Environment` processes. An environment runs one invocation
at a time; a concurrent request gets another environment up to ``max_concurrency``, then waits (Lambda would
throttle; waiting is friendlier to a developer and to ``zappa invoke``, which does not retry throttles well).

Limits are enforced from outside the process, as Lambda's sandbox does: the deadline (``timeout_seconds``) and the
peak resident memory (``memory_size``, from ``/proc/PID/status`` VmHWM, polled while the invocation runs and checked
after it) end with SIGKILL to the environment's process group. A crash (``os._exit``, a signal, ``sys.exit``) is seen
as the control pipe closing. In each case the environment is gone, the caller gets Lambda's error, and the next
invocation starts cold. A change to the project's files (see :meth:`Registry.fingerprint`) retires every environment,
so the next invocation imports the code as it is now.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import MAX_SYNC_PAYLOAD
from .registry import FunctionConfig, Registry
from .worker import read_message, write_message

WORKER_SCRIPT = str(Path(__file__).with_name("worker.py"))
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's init phase limit
MEMORY_POLL_SECONDS = 0.01
MAX_LOG_BYTES = 8 * 1024 * 1024  # per invocation, kept in memory and printed on the console
# Inherited from the emulator because tools need them; everything else comes from the stage, as on Lambda.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH", "PYTHONDONTWRITEBYTECODE")

_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
}


@dataclass
class InvocationResult:
    """What the Invoke API needs to answer: payload or Lambda's error body, and the framed log."""

    request_id: str
    function_name: str
    payload: bytes | None = None
    error: dict[str, Any] | None = None
    log: bytes = b""
    duration_ms: float = 0.0
    init_ms: float | None = None
    max_memory_mb: int = 0

    @property
    def function_error(self) -> str | None:
        return "Unhandled" if self.error is not None else None

    def response_body(self) -> bytes:
        if self.error is not None:
            return json.dumps(self.error).encode()
        return self.payload if self.payload is not None else b"null"

    def log_tail(self, limit: int = 4096) -> bytes:
        """The last ``limit`` bytes of the log, not starting inside a UTF-8 sequence (clients decode it)."""
        tail = self.log[-limit:]
        while tail and len(tail) == limit and (tail[0] & 0xC0) == 0x80:
            tail = tail[1:]
        return tail


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
    config: FunctionConfig, project_dir: Path, pass_env: dict[str, str], endpoint_url: str | None
) -> dict[str, str]:
    """The process environment Lambda would give this function (plus ``--pass-env`` values, our remote_env).

    The stage's ``environment_variables`` are not here on purpose: Zappa's handler sets them from the generated
    ``zappa_settings.py`` when it initialises, exactly as on Lambda.
    """
    env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(config.timeout_seconds),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": config.aws_region,
            "AWS_DEFAULT_REGION": config.aws_region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "LAMBDA_TASK_ROOT": str(project_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "_HANDLER": "handler.lambda_handler",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",  # so a killed environment's last lines are still in its log
        }
    )
    env.setdefault("LANG", "en_US.UTF-8")
    if endpoint_url:
        # zappa.asynchronous (and any boto3 lambda client in the function) then invokes this emulator, not AWS.
        env["AWS_ENDPOINT_URL_LAMBDA"] = endpoint_url
    env.update(config.aws_environment_variables)
    env.update(pass_env)
    return env


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) in MB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


class Environment:
    """One worker process (a Lambda execution environment) with its log file and control pipes."""

    def __init__(self, config: FunctionConfig, project_dir: Path, env: dict[str, str], generation: int) -> None:
        self.config = config
        self.generation = generation
        self.init_ms: float | None = None
        self.invocations = 0
        self.last_peak_mb = 0.0  # last VmHWM seen, for the report when the process is already gone
        log_fd, self.log_path = tempfile.mkstemp(prefix=f"{config.function_name}-", suffix=".log")
        os.close(log_fd)
        self._log = open(self.log_path, "ab+")  # noqa: SIM115 - lives as long as the environment
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, WORKER_SCRIPT, str(req_r), str(resp_w), str(project_dir), config.settings_dir],
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
        """Block until the worker has imported Zappa's handler; returns the init duration in ms."""
        message = self._receive(time.monotonic() + INIT_TIMEOUT_SECONDS, memory_limit_mb=None)
        if message is None:
            self.kill()
            raise EnvironmentDied(f"init did not finish within {INIT_TIMEOUT_SECONDS:.0f} seconds")
        self.init_ms = float(message["init_ms"])
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
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait = min(remaining, MEMORY_POLL_SECONDS) if memory_limit_mb else remaining
            readable, _, _ = select.select([self._resp_r], [], [], wait)
            if memory_limit_mb and self.peak_memory_mb() > memory_limit_mb:
                raise MemoryError
            if readable:
                message = read_message(self._resp_r)
                if message is None:
                    raise EnvironmentDied(self._death_reason())
                return message

    def receive_result(self, deadline: float) -> dict[str, Any] | None:
        return self._receive(deadline, memory_limit_mb=self.config.memory_size)

    def peak_memory_mb(self) -> float:
        self.last_peak_mb = max(self.last_peak_mb, _peak_rss_mb(self.proc.pid))
        return self.last_peak_mb

    def _death_reason(self) -> str:
        try:
            returncode = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
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


class FunctionPool:
    """Warm environments of one function; at most ``max_concurrency`` exist, extra callers wait for one."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self._cond = threading.Condition()
        self._idle: list[Environment] = []
        self._leased = 0

    def acquire(self, generation: int) -> Environment | None:
        """A warm environment of this code generation, or None: the caller may start one (a slot is reserved)."""
        with self._cond:
            while True:
                while self._idle:
                    env = self._idle.pop()
                    if env.alive and env.generation == generation:
                        self._leased += 1
                        return env
                    env.kill()
                if self._leased < self.max_concurrency:
                    self._leased += 1
                    return None
                self._cond.wait()

    def release(self, env: Environment | None, keep: bool) -> None:
        with self._cond:
            self._leased -= 1
            if env is not None:
                if keep and env.alive:
                    self._idle.append(env)
                else:
                    env.kill()
            self._cond.notify()

    def retire_idle(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
        for env in idle:
            env.kill()

    @property
    def size(self) -> tuple[int, int]:
        """(leased, idle) for /health."""
        with self._cond:
            return self._leased, len(self._idle)


@dataclass
class Runtime:
    """Runs invocations for every function of a registry; the Invoke API and the API Gateway front share it."""

    registry: Registry
    max_concurrency: int = 2
    endpoint_url: str | None = None
    log_sink: Callable[[str, bytes], None] | None = None
    _pools: dict[str, FunctionPool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _generation: int = 0
    _fingerprint: tuple[int, int, int] | None = None
    _live: set[Environment] = field(default_factory=set)  # every started environment, so close() can end them

    def __post_init__(self) -> None:
        self._fingerprint = self.registry.fingerprint()

    def _pool(self, function_name: str) -> FunctionPool:
        with self._lock:
            pool = self._pools.get(function_name)
            if pool is None:
                pool = self._pools[function_name] = FunctionPool(self.max_concurrency)
            return pool

    def check_for_changes(self) -> int:
        """Compare the project's fingerprint; on a change retire all warm environments. Returns the generation."""
        fingerprint = self.registry.fingerprint()
        with self._lock:
            if fingerprint != self._fingerprint:
                self.registry.reload_if_changed()
                self._fingerprint = self.registry.fingerprint()
                self._generation += 1
                pools = list(self._pools.values())
            else:
                return self._generation
        for pool in pools:
            pool.retire_idle()
        return self._generation

    def invoke(
        self, config: FunctionConfig, payload: bytes, request_id: str | None = None, client_context: str | None = None
    ) -> InvocationResult:
        """Run one invocation, cold or warm, and return its result and framed log. Never raises for function faults."""
        generation = self.check_for_changes()
        config = self.registry.get(config.function_name) or config  # settings may have been reloaded
        request_id = request_id or str(uuid.uuid4())
        pool = self._pool(config.function_name)
        env = pool.acquire(generation)
        result = InvocationResult(request_id=request_id, function_name=config.function_name)
        keep = False
        try:
            if env is None:
                env = Environment(
                    config,
                    self.registry.project_dir,
                    function_environment(config, self.registry.project_dir, self.registry.pass_env, self.endpoint_url),
                    generation,
                )
                with self._lock:
                    self._live = {e for e in self._live if e.alive}
                    self._live.add(env)
                try:
                    result.init_ms = env.wait_ready()
                except EnvironmentDied as exc:
                    init_log = env.read_log()
                    env.kill()
                    self._fault(result, config, init_log, "Runtime.ExitError", f"Runtime exited with error: {exc}")
                    return result
            keep = self._run(env, config, payload, result, client_context)
            return result
        finally:
            keep = keep and env is not None and env.generation == self._generation
            pool.release(env, keep)
            if env is not None and not keep:
                with self._lock:
                    self._live.discard(env)
            if self.log_sink is not None:
                self.log_sink(config.function_name, result.log)

    def _run(
        self,
        env: Environment,
        config: FunctionConfig,
        payload: bytes,
        result: InvocationResult,
        client_context: str | None,
    ) -> bool:
        """Send the invocation and wait for it under the limits; fills ``result``; True if the env may be reused."""
        cold = env.invocations == 0
        offset = env.start_invocation()
        prefix = env.read_log()[:offset] if cold else b""
        request_id = result.request_id
        start_line = f"START RequestId: {request_id} Version: $LATEST\n".encode()
        started = time.monotonic()
        deadline = started + config.timeout_seconds
        message = {
            "request_id": request_id,
            "payload": (payload or b"{}").decode(),
            "deadline": time.time() + config.timeout_seconds,
            "function_name": config.function_name,
            "invoked_function_arn": config.arn(),
            "memory_size": config.memory_size,
            "client_context": client_context,
            "trace_id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        fault: tuple[str, str, bytes] | None = None  # (errorType, message, log line)
        reply: dict[str, Any] | None = None
        try:
            env.send(message)
            reply = env.receive_result(deadline)
            if reply is None:
                seconds = f"{config.timeout_seconds:.2f}"
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                fault = (
                    "Sandbox.Timedout",
                    f"RequestId: {request_id} Error: Task timed out after {seconds} seconds",
                    f"{stamp} {request_id} Task timed out after {seconds} seconds\n".encode(),
                )
        except MemoryError:
            fault = self._exit_fault(request_id, "Runtime.OutOfMemory", "signal: killed")
        except EnvironmentDied as exc:
            fault = self._exit_fault(request_id, "Runtime.ExitError", exc.reason)
        result.duration_ms = (time.monotonic() - started) * 1000
        peak = env.peak_memory_mb()
        if fault is None and peak > config.memory_size:  # allocated and freed between two polls
            fault = self._exit_fault(request_id, "Runtime.OutOfMemory", "signal: killed")
        if fault is not None:
            env.stop()  # nothing may write to the log any more
            output = env.read_log(offset)
            peak = config.memory_size if fault[0] == "Runtime.OutOfMemory" else peak
            result.error = {"errorType": fault[0], "errorMessage": fault[1]}
        else:
            assert reply is not None
            output = env.read_log(offset)
            if "error" in reply:
                result.error = reply["error"]
            else:
                result.payload = reply["payload"].encode()
                if len(result.payload) > MAX_SYNC_PAYLOAD:
                    result.payload = None
                    result.error = {
                        "errorType": "Function.ResponseSizeTooLarge",
                        "errorMessage": "Response payload size exceeded maximum allowed payload size "
                        f"({MAX_SYNC_PAYLOAD} bytes).",
                    }
        result.max_memory_mb = math.ceil(peak)
        if output and not output.endswith(b"\n"):
            output += b"\n"
        extra = fault[2] if fault is not None else b""
        result.log = prefix + start_line + output + extra + self._end_lines(result, config, cold, env.init_ms)
        return fault is None

    @staticmethod
    def _exit_fault(request_id: str, error_type: str, reason: str) -> tuple[str, str, bytes]:
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        return error_type, message, f"{message}\n{error_type}\n".encode()

    def _fault(self, result: InvocationResult, config: FunctionConfig, log: bytes, error_type: str, text: str) -> None:
        """An environment that never became ready (init failure): Lambda reports it with the init log."""
        message = f"RequestId: {result.request_id} Error: {text}"
        result.error = {"errorType": error_type, "errorMessage": message}
        start = f"START RequestId: {result.request_id} Version: $LATEST\n".encode()
        result.log = log + start + f"{message}\n{error_type}\n".encode() + self._end_lines(result, config, True, None)

    @staticmethod
    def _end_lines(result: InvocationResult, config: FunctionConfig, cold: bool, init_ms: float | None) -> bytes:
        report = (
            f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(result.duration_ms))} ms\tMemory Size: {config.memory_size} MB\t"
            f"Max Memory Used: {result.max_memory_mb} MB\t"
        )
        if cold and init_ms is not None:
            report += f"Init Duration: {init_ms:.2f} ms\t"
        return f"END RequestId: {result.request_id}\n{report}\n".encode()

    def invoke_async(self, config: FunctionConfig, payload: bytes, request_id: str) -> None:
        """Event invocation: run in the background; the log goes to the console (Lambda: CloudWatch)."""
        thread = threading.Thread(
            target=self.invoke, args=(config, payload, request_id), name=f"event-{request_id[:8]}", daemon=True
        )
        thread.start()

    def status(self) -> dict[str, Any]:
        with self._lock:
            pools = dict(self._pools)
        status = {}
        for name, pool in pools.items():
            busy, idle = pool.size
            status[name] = {"busy": busy, "warm": idle}
        return status

    def close(self) -> None:
        """Kill every environment, busy ones included: a stopped emulator leaves no processes behind."""
        with self._lock:
            pools = list(self._pools.values())
            live = list(self._live)
            self._live.clear()
        for pool in pools:
            pool.retire_idle()
        for env in live:
            env.stop()

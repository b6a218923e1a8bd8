"""The runtime: pools of warm execution environments per function, and one invocation from request to framed log.

One :class:`FunctionPool` per function keeps warm :class:`.environment.Environment` processes. An environment runs
one invocation at a time; a concurrent request gets another environment up to ``max_concurrency``, then waits
(Lambda would throttle; waiting is friendlier to a developer and to ``zappa invoke``, which does not retry throttles
well).

An invocation that hits a limit (``timeout_seconds``, ``memory_size``) or crashes ends its environment: the caller
gets Lambda's error (:class:`Fault`), and the next invocation starts cold.

A change to the project's code (:mod:`.changes`) starts a new *generation*: every warm environment of an older one is
retired, so the next invocation imports the code as it is now. With ``eager`` (the default, like SAM CLI's
``--warm-containers EAGER``), each function that had environments gets a fresh one started in the background as soon
as the watcher sees the change, with the app loaded during its init, so the next invocation after an edit is warm;
its REPORT still carries the Init Duration, as a new version's first invocation does on Lambda. Lazy: the next
invocation starts cold.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import logframe
from .changes import ChangeDetector, ScanDetector
from .environment import INIT_TIMEOUT_SECONDS, Environment, EnvironmentDied, function_environment
from .errors import MAX_SYNC_PAYLOAD
from .interpreter import Interpreter, runtime_mismatch
from .memory import MemoryProbe, proc_peak_mb
from .registry import FunctionConfig, Registry
from .settings import SettingsError

OUT_OF_MEMORY = "Runtime.OutOfMemory"


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


@dataclass(frozen=True)
class Fault:
    """A fault the runtime saw from outside the function (it ended the environment): Lambda's error and log lines."""

    error_type: str
    message: str
    log_lines: bytes

    @classmethod
    def timeout(cls, request_id: str, timeout_seconds: int) -> Fault:
        seconds = f"{timeout_seconds:.2f}"
        message = f"RequestId: {request_id} Error: Task timed out after {seconds} seconds"
        return cls("Sandbox.Timedout", message, logframe.timeout_line(request_id, seconds))

    @classmethod
    def exited(cls, request_id: str, error_type: str, reason: str) -> Fault:
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        return cls(error_type, message, logframe.exit_lines(message, error_type))

    @classmethod
    def out_of_memory(cls, request_id: str) -> Fault:
        return cls.exited(request_id, OUT_OF_MEMORY, "signal: killed")

    def error(self) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": self.message}


def invocation_message(
    config: FunctionConfig, payload: bytes, request_id: str, client_context: str | None
) -> dict[str, Any]:
    """What the worker gets for one invocation: the event and what it needs to build Lambda's context object."""
    return {
        "request_id": request_id,
        "payload": (payload or b"{}").decode(),
        "deadline": time.time() + config.timeout_seconds,
        "function_name": config.function_name,
        "invoked_function_arn": config.arn(),
        "memory_size": config.memory_size,
        "client_context": client_context,
        "trace_id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
    }


def exchange(env: Environment, message: dict[str, Any], deadline: float) -> tuple[dict[str, Any] | None, Fault | None]:
    """Send one invocation and wait for the worker's reply under the limits: (reply, None) or (None, the fault)."""
    request_id = message["request_id"]
    try:
        env.send(message)
        reply = env.receive_result(deadline)
    except MemoryError:
        return None, Fault.out_of_memory(request_id)
    except EnvironmentDied as exc:
        return None, Fault.exited(request_id, "Runtime.ExitError", exc.reason)
    if reply is None:
        return None, Fault.timeout(request_id, env.config.timeout_seconds)
    return reply, None


def apply_reply(result: InvocationResult, reply: dict[str, Any]) -> None:
    """The worker's answer into ``result``: the function's error, or its payload if within Lambda's size limit."""
    if "error" in reply:
        result.error = reply["error"]
        return
    payload = reply["payload"].encode()
    if len(payload) > MAX_SYNC_PAYLOAD:
        result.error = {
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": f"Response payload size exceeded maximum allowed payload size ({MAX_SYNC_PAYLOAD} bytes).",
        }
        return
    result.payload = payload


class FunctionPool:
    """Warm environments of one function; at most ``max_concurrency`` exist (busy, idle or starting in the
    background), extra callers wait for one."""

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self._cond = threading.Condition()
        self._idle: list[Environment] = []
        self._leased = 0
        self._starting: dict[int, int] = {}  # generation -> environments being started in the background
        self._waiting = 0  # callers waiting for one of those instead of starting their own

    def _occupied(self) -> int:
        return self._leased + len(self._idle) + sum(self._starting.values())

    def acquire(self, generation: int) -> Environment | None:
        """A warm environment of this code generation, or None: the caller may start one (a slot is reserved).
        An environment already starting in the background for this generation is waited for, not duplicated."""
        with self._cond:
            while True:
                while self._idle:
                    env = self._idle.pop()
                    if env.alive and env.generation == generation:
                        self._leased += 1
                        return env
                    env.kill()
                if self._starting.get(generation, 0) > self._waiting:
                    self._waiting += 1
                    try:
                        self._cond.wait()
                    finally:
                        self._waiting -= 1
                    continue
                if self._occupied() < self.max_concurrency:
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
            self._cond.notify_all()

    def begin_start(self, generation: int) -> bool:
        """Reserve a slot for a background start of ``generation``; False when one is already under way or the
        function has no free slot (its callers will start one themselves)."""
        with self._cond:
            if self._starting.get(generation) or self._occupied() >= self.max_concurrency:
                return False
            self._starting[generation] = 1
            return True

    def end_start(self, generation: int, env: Environment | None, current: Callable[[], int]) -> None:
        """A background start is over: keep ``env`` warm if it is ready and still of the ``current()`` generation."""
        with self._cond:
            self._starting.pop(generation, None)
            if env is not None:
                if env.alive and env.generation == current():
                    self._idle.append(env)
                else:
                    env.kill()
            self._cond.notify_all()

    def retire_idle(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for env in idle:
            env.kill()

    @property
    def size(self) -> tuple[int, int, int]:
        """(leased, idle, starting) for /health."""
        with self._cond:
            return self._leased, len(self._idle), sum(self._starting.values())


@dataclass
class Runtime:
    """Runs invocations for every function of a registry; the Invoke API and the API Gateway front share it.

    ``memory_probe`` watches a running environment's peak memory (:mod:`.memory`); one that answers None (no /proc)
    leaves the worker's own report, checked when the function returns. ``interpreter`` runs the workers;
    ``private_tmp``: each worker gets its own tmpfs ``/tmp`` (:mod:`.private_tmp`), else its own ``TMPDIR``;
    ``read_only_task_root``: in that mount namespace the project is read-only to the functions, as on Lambda;
    ``changes`` says when the code changed (:mod:`.changes`); ``eager`` warms a fresh environment on every change.
    ``run_dir`` holds the functions' empty HOME and the TMPDIR stand-ins (outside the project, :mod:`.scratch`).
    """

    registry: Registry
    max_concurrency: int = 2
    endpoint_url: str | None = None
    log_sink: Callable[[str, bytes], None] | None = None
    memory_probe: MemoryProbe = proc_peak_mb
    interpreter: Interpreter | None = None
    private_tmp: bool = False
    read_only_task_root: bool = False
    eager: bool = True
    changes: ChangeDetector | None = None
    run_dir: Path | None = None
    _pools: dict[str, FunctionPool] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _generation: int = 0
    _reported: int = 0  # changes the detector reported
    _synced: tuple[int, int] = (0, 0)  # (registry version, reported changes) the current generation reflects
    _sync_lock: threading.Lock = field(default_factory=threading.Lock)
    _live: set[Environment] = field(default_factory=set)  # every started environment, so close() can end them
    _home: Path = field(init=False)
    _tmp_root: Path = field(init=False)

    def __post_init__(self) -> None:
        run_dir = self.run_dir or Path(tempfile.mkdtemp(prefix="lambda-emulator-"))
        # The functions' HOME: empty and ours, never the developer's (see environment.function_environment).
        self._home = run_dir / "home"
        self._tmp_root = run_dir / "tmp"
        self._home.mkdir(parents=True, exist_ok=True)
        self._tmp_root.mkdir(exist_ok=True)
        self.changes = self.changes or ScanDetector(self.registry.shipped_files)
        self._synced = (self.registry.version, 0)
        self.changes.start(self._code_changed)

    @property
    def python(self) -> str:
        return self.interpreter.path if self.interpreter is not None else sys.executable

    @property
    def generation(self) -> int:
        return self._generation

    def _pool(self, function_name: str) -> FunctionPool:
        with self._lock:
            pool = self._pools.get(function_name)
            if pool is None:
                pool = self._pools[function_name] = FunctionPool(self.max_concurrency)
            return pool

    def check_for_changes(self) -> int:
        """Before an invocation: bring the generation up to date with the settings file and with what the detector
        saw (the scan answers only when asked). Returns the current generation."""
        assert self.changes is not None
        if self.changes.changed():
            with self._lock:
                self._reported += 1
        self._sync()
        return self._generation

    def _code_changed(self) -> None:
        """The watcher saw a change (its thread)."""
        with self._lock:
            self._reported += 1
        self._sync()

    def _sync(self) -> None:
        """One place, one caller at a time, where settings are re-read and a new generation starts: an invocation
        that arrives while the watcher re-renders the settings waits for the new ones instead of using an
        environment built from the old, and the two never start two generations for one change."""
        with self._sync_lock:
            try:
                self.registry.reload_if_changed()
            except SettingsError as exc:  # mid-edit: keep serving the last good settings, say why
                print(f"emulator: keeping the previous settings: {exc}", file=sys.stderr, flush=True)
            with self._lock:
                state = (self.registry.version, self._reported)
                if state == self._synced:
                    return
                self._synced = state
            self._advance()

    def _advance(self) -> None:
        """Start a new code generation: retire idle environments; warm a fresh one per function if eager."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            pools = dict(self._pools)
        for pool in pools.values():
            pool.retire_idle()
        if not self.eager:
            return
        for name, pool in pools.items():
            config = self.registry.get(name)
            if config is not None and pool.begin_start(generation):
                threading.Thread(
                    target=self._warm, args=(config, pool, generation), name=f"warm-{name}", daemon=True
                ).start()

    def _warm(self, config: FunctionConfig, pool: FunctionPool, generation: int) -> None:
        """Eager warm-up (background thread): a fresh environment through its init, app loaded, kept idle. One that
        fails its init is dropped: the next invocation then starts cold and reports the error itself."""
        env = None
        try:
            env = self._spawn(config, generation, prewarm=True)
            env.wait_ready()
        except EnvironmentDied:
            self._forget(env)
            env = None
        except Exception:  # never let a warm-up kill the emulator; the next invocation starts cold
            traceback.print_exc()
            self._forget(env)
            env = None
        pool.end_start(generation, env, lambda: self._generation)

    def _forget(self, env: Environment | None) -> None:
        if env is not None:
            env.kill()
            with self._lock:
                self._live.discard(env)

    def invoke(
        self, config: FunctionConfig, payload: bytes, request_id: str | None = None, client_context: str | None = None
    ) -> InvocationResult:
        """Run one invocation, cold or warm, and return its result and framed log. Never raises for function faults."""
        generation = self.check_for_changes()
        config = self.registry.get(config.function_name) or config  # settings may have been reloaded
        result = InvocationResult(request_id=request_id or str(uuid.uuid4()), function_name=config.function_name)
        pool = self._pool(config.function_name)
        env = pool.acquire(generation)
        keep = False
        try:
            env = env or self._cold_start(config, generation, result)
            if env is not None:
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

    def _spawn(self, config: FunctionConfig, generation: int, prewarm: bool = False) -> Environment:
        """A new environment's process (not yet through its init), registered so close() can end it."""
        project_dir = self.registry.project_dir
        tmpdir = None if self.private_tmp else Path(tempfile.mkdtemp(prefix="tmp-", dir=self._tmp_root))
        variables = function_environment(
            config,
            project_dir,
            self.registry.pass_env,
            self.endpoint_url,
            self._home,
            python=self.python,
            tmpdir=tmpdir,
            provisioned=prewarm,
        )
        env = Environment(
            config,
            project_dir,
            variables,
            generation,
            memory_probe=self.memory_probe,
            python=self.python,
            private_tmp=self.private_tmp,
            tmpdir=tmpdir,
            prewarm=prewarm,
            read_only_task_root=self.read_only_task_root,
        )
        with self._lock:
            self._live = {e for e in self._live if e.alive}
            self._live.add(env)
        return env

    def _cold_start(self, config: FunctionConfig, generation: int, result: InvocationResult) -> Environment | None:
        """A new environment through its init phase; None (and ``result`` filled with Lambda's error) if init failed."""
        env = self._spawn(config, generation)
        try:
            result.init_ms = env.wait_ready()
            return env
        except EnvironmentDied as exc:
            init_log = env.read_log()
            self._forget(env)
            fault = Fault.exited(result.request_id, "Runtime.ExitError", str(exc))
            result.error = fault.error()
            end = logframe.end_lines(result.request_id, 0.0, config.memory_size, 0, None, self._notes(config))
            result.log = logframe.frame(init_log, result.request_id, b"", fault.log_lines, end)
            return None

    def _notes(self, config: FunctionConfig) -> str | None:
        """What the REPORT line adds for this function: a runtime that is not the workers' Python."""
        return runtime_mismatch(config.runtime, self.interpreter) if self.interpreter is not None else None

    def _run(
        self,
        env: Environment,
        config: FunctionConfig,
        payload: bytes,
        result: InvocationResult,
        client_context: str | None,
    ) -> bool:
        """One invocation in a ready environment; fills ``result``; True if the environment may be reused."""
        cold = env.invocations == 0
        offset = env.start_invocation()
        init_output = env.read_log()[:offset] if cold else b""
        if cold and (env.init_ms or 0.0) > INIT_TIMEOUT_SECONDS * 1000:
            init_output += logframe.init_timeout_line(INIT_TIMEOUT_SECONDS * 1000)
        started = time.monotonic()
        message = invocation_message(config, payload, result.request_id, client_context)
        reply, fault = exchange(env, message, started + config.timeout_seconds)
        result.duration_ms = (time.monotonic() - started) * 1000
        peak = env.peak_memory_mb()
        if fault is None and peak > config.memory_size:  # allocated and freed between two polls, or no /proc
            fault = Fault.out_of_memory(result.request_id)
        if fault is not None:
            env.stop()  # nothing may write to the log any more
            result.error = fault.error()
        else:
            assert reply is not None
            apply_reply(result, reply)
        result.max_memory_mb = config.memory_size if fault and fault.error_type == OUT_OF_MEMORY else math.ceil(peak)
        end = logframe.end_lines(
            result.request_id,
            result.duration_ms,
            config.memory_size,
            result.max_memory_mb,
            env.init_ms if cold else None,
            self._notes(config),
        )
        output = env.read_log(offset)
        result.log = logframe.frame(init_output, result.request_id, output, fault.log_lines if fault else b"", end)
        return fault is None

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
            busy, idle, starting = pool.size
            status[name] = {"busy": busy, "warm": idle, "starting": starting}
        return status

    def describe(self) -> dict[str, Any]:
        """How this runtime runs functions, for /health: generation, change detection, warm-up, /tmp, Python."""
        assert self.changes is not None
        return {
            "generation": self._generation,
            "change_detection": self.changes.kind,
            "warm_containers": "eager" if self.eager else "lazy",
            "tmp": "private" if self.private_tmp else "tmpdir",
            "task_root": "read-only" if self.private_tmp and self.read_only_task_root else "writable",
            "python": self.python,
            "python_version": self.interpreter.version if self.interpreter is not None else "",
        }

    def close(self) -> None:
        """Kill every environment, busy ones included: a stopped emulator leaves no processes behind."""
        if self.changes is not None:
            self.changes.close()
        with self._lock:
            pools = list(self._pools.values())
            live = list(self._live)
            self._live.clear()
        for pool in pools:
            pool.retire_idle()
        for env in live:
            env.stop()  # busy ones: their invocation may still read the log

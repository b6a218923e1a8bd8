"""The emulator from a program's side: start it, wait until it is healthy, invoke a function, decode the answer, stop.

Every launcher and caller uses this module (``python -m dev.invoke``, ``make bench-invoke``, ``make package-check``,
the test harnesses), so there is one way to start ``python -m dev.emulator`` and one reading of a Lambda answer:

    from dev.emulator import client

    with client.start("--project-dir", str(project), log=tmp / "emulator.log") as emulator:
        answer = emulator.client().invoke("my-project-local", client.zappa_command("run.run_alembic_current"))
        answer.function_error, answer.json(), answer.log   # X-Amz-Function-Error, payload, decoded log tail

Pieces for launchers that manage the process themselves (a detached sandbox): :func:`emulator_argv`, :func:`spawn`,
and :func:`dev.health.wait_healthy`. Only the standard library: no boto3 (whose import and client creation cost more
than a warm invocation) and no Zappa (see :mod:`.settings` for names and endpoints).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from dev.health import NotHealthy, wait_healthy
from dev.ports import LOOPBACK, free_port

from .settings import FunctionConfig

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LAMBDA"  # boto3 honours it too
HEALTH_PATH = "/health"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
#: Where ``python -m dev.emulator`` is importable from: the directory that holds ``dev/``.
CODE_ROOT = Path(__file__).resolve().parents[2]


def invoke_path(function_name: str) -> str:
    return f"/2015-03-31/functions/{quote(function_name, safe='')}/invocations"


def zappa_command(function: str, payload: dict[str, Any] | None = None, raw: bool = False) -> dict[str, Any]:
    """The event ``zappa invoke STAGE FUNCTION [--raw] [--payload JSON]`` sends: ``{"command": FUNCTION, ...}``."""
    return {"raw_command" if raw else "command": function, **(payload or {})}


def endpoint_for(config: FunctionConfig | None, override: str | None = None) -> str:
    """Where a stage's invocations go: ``override``, else ``AWS_ENDPOINT_URL_LAMBDA``, else the stage's
    ``aws_endpoint_urls.lambda``, else :data:`DEFAULT_ENDPOINT` (the order boto3 and Zappa's CLI follow)."""
    return (
        override or os.environ.get(ENDPOINT_VARIABLE) or (config.lambda_endpoint if config else "") or DEFAULT_ENDPOINT
    )


# -- answers ---------------------------------------------------------------------------------------------------------


class EmulatorUnreachable(ConnectionError):
    """No HTTP answer at all (refused, reset, timed out, not HTTP): the emulator is not running there."""

    def __init__(self, endpoint: str, reason: object) -> None:
        super().__init__(f"the Lambda emulator at {endpoint} is not reachable ({reason})")
        self.endpoint = endpoint
        self.reason = reason


@dataclass
class Invocation:
    """One HTTP answer of the emulator, with Lambda's parts decoded (works for any response, errors included)."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-amzn-requestid")

    @property
    def function_error(self) -> str | None:
        """``Unhandled`` when the function failed (Lambda's ``X-Amz-Function-Error``), else None."""
        return self.headers.get("x-amz-function-error")

    @property
    def error_code(self) -> str | None:
        """The service error code (``x-amzn-ErrorType``, as botocore reads it) when the function did not run."""
        code = self.headers.get("x-amzn-errortype")
        return code.split(":")[0] if code else None

    @property
    def log(self) -> str:
        """The decoded ``X-Amz-Log-Result`` (the last 4 KB of the invocation's log); empty when not asked for."""
        raw = self.headers.get("x-amz-log-result")
        return base64.b64decode(raw).decode(errors="replace") if raw else ""

    def reported(self, field: str) -> float | None:
        """A figure of the log tail's last REPORT line, by Lambda's name for it (``Duration``, ``Billed Duration``,
        ``Max Memory Used``, ``Init Duration``), without its unit; None when the line or the field is missing."""
        reports = [line for line in self.log.splitlines() if line.startswith("REPORT RequestId:")]
        for part in reports[-1].split("\t") if reports else []:
            name, _, value = part.partition(": ")
            if name == field and value:
                return float(value.split()[0])
        return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.function_error is None

    def error(self) -> dict[str, Any] | None:
        """None on success; else ``{"errorType", "errorMessage", ...}``: Lambda's body for a function error, the
        service's code and message for an error answered instead of running the function."""
        if self.ok:
            return None
        try:
            body = self.json()
        except ValueError:
            body = None
        if self.function_error:
            return body if isinstance(body, dict) else {"errorType": "Unhandled", "errorMessage": self.text()}
        message = body.get("message") if isinstance(body, dict) else None
        return {"errorType": self.error_code or f"HTTP {self.status}", "errorMessage": message or self.text()}

    def text(self) -> str:
        return self.body.decode(errors="replace")

    def describe(self) -> str:
        """Everything about the answer, for an assertion message or an error report."""
        return f"HTTP {self.status} {self.headers} {self.body[:600]!r}\n{self.log}"


# -- calls -------------------------------------------------------------------------------------------------------------


class LambdaClient:
    """The Lambda Invoke API of one emulator over HTTP.

    With ``keep_alive`` one connection is reused between calls (not thread-safe; for benchmarks that measure the
    invocation, not TCP set-up). Nothing is ever retried: a retried invocation can run a migration twice.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 960.0, keep_alive: bool = False) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http:// endpoint: {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._address = (parts.hostname, parts.port or 80)
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | str | dict | None = None, headers: dict[str, str] | None = None
    ) -> Invocation:
        """Send one request as given (any method, path, headers, body bytes; a dict is JSON-encoded) and decode the
        answer, whatever its status. Raises :class:`EmulatorUnreachable` when there is no answer."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        connection = self._connection or http.client.HTTPConnection(*self._address, timeout=self.timeout)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            self._connection = None
            raise EmulatorUnreachable(self.endpoint, exc) from exc
        answer = Invocation(
            response.status, {k.lower(): v for k, v in response.getheaders()}, data, time.perf_counter() - started
        )
        if self.keep_alive and not response.will_close:
            self._connection = connection
        else:
            connection.close()
            self._connection = None
        return answer

    def invoke(
        self,
        function_name: str,
        payload: bytes | str | dict | None = None,
        invocation_type: str = "RequestResponse",
        log_type: str = "Tail",
        client_context: dict[str, Any] | None = None,
        qualifier: str | None = None,
    ) -> Invocation:
        """Lambda's Invoke, as boto3 and ``zappa invoke`` send it (the log tail is asked for by default)."""
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Invocation-Type": invocation_type,
            "X-Amz-Log-Type": log_type,
        }
        if client_context is not None:
            headers["X-Amz-Client-Context"] = base64.b64encode(json.dumps(client_context).encode()).decode()
        path = invoke_path(function_name) + (f"?Qualifier={quote(qualifier, safe='')}" if qualifier else "")
        return self.request("POST", path, payload, headers)

    def health(self) -> dict[str, Any]:
        """``GET /health``: the functions, their environments and the limits; raises unless it answers 200."""
        answer = self.request("GET", HEALTH_PATH)
        if answer.status != 200:
            raise EmulatorUnreachable(self.endpoint, f"/health answered {answer.status}")
        return answer.json()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


# -- processes -------------------------------------------------------------------------------------------------------


class EmulatorStartError(NotHealthy):
    """The emulator exited during start-up or never became healthy; the message ends with its log tail."""

    def __init__(self, message: str, reason: str, returncode: int | None, log: str) -> None:
        super().__init__(message, reason)
        self.returncode = returncode
        self.log = log


@dataclass
class EmulatorProcess:
    """A ``python -m dev.emulator`` process this program started, and how to reach it."""

    proc: subprocess.Popen
    port: int
    api_port: int | None
    log_path: Path
    host: str = LOOPBACK
    project_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def client(self, timeout: float = 300.0, keep_alive: bool = False) -> LambdaClient:
        return LambdaClient(self.url, timeout=timeout, keep_alive=keep_alive)

    def health(self) -> dict[str, Any]:
        return self.client(timeout=10).health()

    def log(self) -> str:
        """The emulator's console so far (banner, every invocation's log, errors)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until ``/health`` answers; :class:`EmulatorStartError` if it exits first or the time is up (then it is
        stopped, so nothing is left behind)."""
        try:
            wait_healthy(
                self.url + HEALTH_PATH,
                timeout=timeout,
                exited=lambda: self.proc.poll() is not None,
                log=self.log_path,
                what=f"the emulator (pid {self.proc.pid})",
            )
        except NotHealthy as exc:
            if exc.reason == "timeout":
                self.stop()
            raise EmulatorStartError(str(exc), exc.reason, self.proc.returncode, self.log()) from None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (the emulator then ends its environments), SIGKILL after ``timeout``; the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emulator_argv(
    *args: str, port: int, api_port: int | None, host: str = LOOPBACK, python: str | os.PathLike = sys.executable
) -> list[str]:
    """``python -m dev.emulator ARGS --host H --port P (--api-port A | --no-api)``."""
    ports = ["--api-port", str(api_port)] if api_port is not None else ["--no-api"]
    return [str(python), "-m", "dev.emulator", *args, "--host", host, "--port", str(port), *ports]


def spawn(
    argv: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path = CODE_ROOT,
    detach: bool = False,
    append: bool = False,
) -> subprocess.Popen:
    """Start the emulator with stdout and stderr in ``log``. ``detach``: its own session, so a Ctrl-C in the
    caller's terminal does not stop it and it does not hold the caller's output open (a background sandbox)."""
    with open(log, "ab" if append else "wb") as handle:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )


def start(
    *args: str,
    log: Path,
    project_dir: Path | None = None,
    port: int | None = None,
    api: bool = True,
    api_port: int | None = None,
    env: dict[str, str] | None = None,
    python: str | os.PathLike = sys.executable,
    cwd: Path = CODE_ROOT,
    timeout: float = START_TIMEOUT,
    process_type: type[EmulatorProcess] = EmulatorProcess,
) -> EmulatorProcess:
    """Start ``python -m dev.emulator [--project-dir P] ARGS`` on free ports (unless given) and wait until it is
    healthy. ``args`` must not name ports or the host; ``process_type`` lets a test harness add its own helpers."""
    port = port or free_port()
    api_port = (api_port or free_port()) if api else None
    project_args = ["--project-dir", str(project_dir)] if project_dir is not None else []
    argv = emulator_argv(*project_args, *args, port=port, api_port=api_port, python=python)
    proc = spawn(argv, log, env=env, cwd=cwd)
    emulator = process_type(proc, port, api_port, log, project_dir=project_dir)
    emulator.wait_ready(timeout)
    return emulator

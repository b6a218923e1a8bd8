"""The Lambda Invoke API over HTTP, as boto3, the AWS CLI and ``zappa invoke`` call it.

``POST /2015-03-31/functions/{FunctionName}/invocations`` with the headers of the real API:
``X-Amz-Invocation-Type`` (RequestResponse -> 200, Event -> 202 and runs in the background, DryRun -> 204),
``X-Amz-Log-Type: Tail`` (-> ``X-Amz-Log-Result``, base64 of the last 4 KB of this invocation's log; SAM CLI
rejects this header, which is why ``zappa invoke`` cannot use it), ``X-Amz-Client-Context`` and ``?Qualifier=``.
A function error is a 200 with ``X-Amz-Function-Error: Unhandled`` and Lambda's error body. ``GET /health`` answers
200 with JSON for healthchecks.

The server always answers (an error shape rather than a dropped connection): botocore retries a connection that
closes without a response, and a retried migration is the last thing a rehearsal should produce.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import sys
import threading
import traceback
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import errors
from .errors import LambdaServiceError
from .registry import FunctionConfig, split_function_name
from .runtime import Runtime

INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
LOG_TYPES = ("None", "Tail")


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Shared by both fronts: threads per request, and the objects the handlers need."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], runtime: Runtime, **opts: Any):
        super().__init__(address, handler)
        self.runtime = runtime
        self.options = opts


class BaseHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with explicit lengths, quiet access log (the function logs are what matter)."""

    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle's algorithm and the client's delayed ACK, every response
    # would wait ~40 ms for nothing.
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.options.get("verbose"):
            super().log_message(format, *args)

    def handle(self) -> None:
        """Serve the connection until the client closes it. A client that resets it instead (a CLI process exiting
        with its keep-alive connection open) has nothing left to hear: no traceback on the console for that."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            self.close_connection = True

    def read_body(self, limit: int) -> tuple[bytes, bool]:
        """The whole body (read even when too large, so the client gets our answer); (body, too_large).

        Lambda's API takes a Content-Length body only; anything we cannot frame closes the connection after our
        answer, because its remaining bytes would otherwise be read as the next request.
        """
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise LambdaServiceError(
                411,
                "InvalidRequestContentException",
                "send the payload with a Content-Length header; chunked transfer encoding is not supported",
            )
        raw = (self.headers.get("Content-Length") or "0").strip()
        if not raw.isdigit():
            self.close_connection = True
            raise LambdaServiceError(
                400, "InvalidRequestContentException", f"Content-Length must be a non-negative integer, got {raw!r}"
            )
        length = int(raw)
        chunks: list[bytes] = []
        kept = 0
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)
            if kept + len(chunk) <= limit:
                chunks.append(chunk)
            kept += len(chunk)
        if length > 0:
            self.close_connection = True
            raise LambdaServiceError(
                400, "InvalidRequestContentException", "the request body ended before its Content-Length"
            )
        return b"".join(chunks), kept > limit

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, data: Any) -> None:
        self.send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})


class InvokeHandler(BaseHandler):
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/health", "/health/"):
            runtime = self.server.runtime
            runtime.check_for_changes()
            self.send_json(
                200,
                {
                    "status": "ok",
                    "project_dir": str(runtime.registry.project_dir),
                    "functions": {c.function_name: c.stage for c in runtime.registry.functions()},
                    "environments": runtime.status(),
                    "max_concurrency": runtime.max_concurrency,
                    "allow_raw_command": bool(self.server.options.get("allow_raw_command")),
                    **runtime.describe(),
                },
            )
            return
        self._error(errors.unknown_operation("GET", path))

    def do_POST(self) -> None:
        request_id = str(uuid.uuid4())
        self._body_read = False
        try:
            self._invoke(request_id)
        except LambdaServiceError as exc:
            self._error(exc, request_id)
        except Exception:
            traceback.print_exc()
            self._error(errors.service_error("the emulator failed; see its console"), request_id)

    def do_PUT(self) -> None:
        self._body_read = False
        self._error(errors.unknown_operation("PUT", urlsplit(self.path).path))

    def do_DELETE(self) -> None:
        self._body_read = False
        self._error(errors.unknown_operation("DELETE", urlsplit(self.path).path))

    def _error(self, exc: LambdaServiceError, request_id: str | None = None) -> None:
        # Drain an unread body so a keep-alive connection stays usable.
        if self.command != "GET" and not getattr(self, "_body_read", False):
            self._body_read = True
            with contextlib.suppress(LambdaServiceError):
                self.read_body(0)
        headers = exc.headers()
        headers["x-amzn-RequestId"] = request_id or str(uuid.uuid4())
        self.send(exc.status, exc.body(), headers)

    def _resolve(self, raw_name: str, query: dict[str, list[str]]) -> FunctionConfig:
        registry = self.server.runtime.registry
        registry.reload_if_changed()
        name, qualifier = split_function_name(raw_name)
        qualifier = (query.get("Qualifier") or [qualifier])[0]
        config = registry.get(name)
        if config is None:
            region = next((c.aws_region for c in registry.functions()), "us-east-1")
            raise errors.resource_not_found(f"arn:aws:lambda:{region}:000000000000:function:{name}")
        if qualifier and qualifier != "$LATEST":
            raise errors.unsupported_qualifier(config.arn(), qualifier)
        refusal = registry.refusal(config.function_name)
        if refusal:
            raise errors.remote_database_refused(refusal)
        return config

    def _invoke(self, request_id: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        if not (path.startswith(INVOKE_PREFIX) and path.endswith(INVOKE_SUFFIX)):
            raise errors.unknown_operation("POST", path)
        raw_name = unquote(path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)])

        invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in INVOCATION_TYPES:
            raise errors.not_in_enum(invocation_type, "invocationType", INVOCATION_TYPES)
        log_type = self.headers.get("X-Amz-Log-Type") or "None"
        if log_type not in LOG_TYPES:
            raise errors.not_in_enum(log_type, "logType", LOG_TYPES)

        limit = errors.MAX_ASYNC_PAYLOAD if invocation_type == "Event" else errors.MAX_SYNC_PAYLOAD
        body, too_large = self.read_body(limit)
        self._body_read = True
        if too_large:
            raise errors.request_too_large(limit)
        config = self._resolve(raw_name, parse_qs(url.query))

        event: Any = {}
        if body.strip():
            try:
                event = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise errors.invalid_json(str(exc)) from None
        if isinstance(event, dict) and event.get("raw_command") and not self.server.options.get("allow_raw_command"):
            raise errors.raw_command_refused()
        client_context = _client_context(self.headers.get("X-Amz-Client-Context"))

        runtime = self.server.runtime
        base_headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
        if invocation_type == "DryRun":
            self.send(HTTPStatus.NO_CONTENT, b"", base_headers)
            return
        if invocation_type == "Event":
            runtime.invoke_async(config, body, request_id)
            self.send(HTTPStatus.ACCEPTED, b"", {"x-amzn-RequestId": request_id})
            return

        result = runtime.invoke(config, body, request_id, client_context)
        headers = {"Content-Type": "application/json", **base_headers}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if log_type == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail()).decode()
        self.send(HTTPStatus.OK, result.response_body(), headers)


def _client_context(header: str | None) -> Any:
    """Lambda passes the base64 JSON of X-Amz-Client-Context to the function as ``context.client_context``."""
    if not header:
        return None
    try:
        return json.loads(base64.b64decode(header))
    except (ValueError, binascii.Error):
        raise errors.invalid_parameter("X-Amz-Client-Context must be base64-encoded JSON") from None


def serve_invoke_api(runtime: Runtime, host: str, port: int, **options: Any) -> EmulatorHTTPServer:
    """Bind the Invoke API (raises OSError if the port is taken) and serve it in a daemon thread."""
    server = EmulatorHTTPServer((host, port), InvokeHandler, runtime, **options)
    threading.Thread(target=server.serve_forever, name="invoke-api", daemon=True).start()
    return server


def console_log_sink() -> Any:
    """Print each invocation's log to the emulator's console, one invocation at a time (Lambda: CloudWatch)."""
    lock = threading.Lock()

    def sink(function_name: str, log: bytes) -> None:
        with lock:
            sys.stdout.write(log.decode(errors="replace"))
            sys.stdout.flush()

    return sink

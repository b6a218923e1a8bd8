"""An API Gateway (REST API, proxy integration) front: any HTTP request -> v1 proxy event -> the same runtime.

Zappa deploys a REST API with a ``{proxy+}`` resource whose events its handler turns into WSGI requests. Sending the
same event shape through the same runtime means ``curl http://127.0.0.1:8000/websub`` exercises the production path:
Zappa's handler, its WSGI translation and binary handling, and the app, in a warm Lambda-like environment.

The request's ``Host`` header is passed through unchanged (not ``*.amazonaws.com``), so Zappa mounts the app at
``/`` rather than ``/<stage>``, as it does behind a custom domain. Bodies that are not UTF-8 travel base64-encoded
with ``isBase64Encoded``, as API Gateway does for binary media types; responses are decoded likewise.
A function error is answered the way API Gateway answers it: 502 ``{"message": "Internal server error"}``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .errors import LambdaServiceError
from .invoke_api import BaseHandler, EmulatorHTTPServer
from .registry import FunctionConfig
from .runtime import InvocationResult, Runtime

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
# Hop-by-hop headers API Gateway does not forward to the integration.
_DROPPED_REQUEST_HEADERS = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}
_DROPPED_RESPONSE_HEADERS = {"content-length", "connection", "transfer-encoding"}


def build_event(
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The API Gateway REST (v1) proxy event for one HTTP request."""
    url = urlsplit(raw_path)
    path = url.path or "/"
    request_id = request_id or str(uuid.uuid4())

    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() in _DROPPED_REQUEST_HEADERS:
            continue
        single[name] = value
        multi.setdefault(name, []).append(value)

    query_multi: dict[str, list[str]] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        query_multi.setdefault(key, []).append(value)
    query_single = {k: v[-1] for k, v in query_multi.items()}

    is_base64 = False
    text: str | None = None
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = base64.b64encode(body).decode()
            is_base64 = True

    now = datetime.now(UTC)
    lowered = {k.lower(): v for k, v in single.items()}
    return {
        "resource": "/{proxy+}" if path != "/" else "/",
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": {"proxy": path.lstrip("/")} if path != "/" else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": "/{proxy+}" if path != "/" else "/",
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": "000000000000",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "local",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent"),
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
            "domainName": lowered.get("host", "localhost"),
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def decode_response(result: InvocationResult) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) API Gateway would send for this invocation result."""
    error_body = json.dumps({"message": "Internal server error"}).encode()
    error_headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InternalServerErrorException")]
    if result.error is not None:
        if result.error.get("errorType") == "Sandbox.Timedout":
            return 504, error_headers, json.dumps({"message": "Endpoint request timed out"}).encode()
        return 502, error_headers, error_body
    try:
        response = json.loads(result.payload or b"null")
        status = int(response["statusCode"])
    except (ValueError, TypeError, KeyError):
        return 502, error_headers, error_body  # API Gateway: "Malformed Lambda proxy response"

    # Header names are case-insensitive, and Zappa's middleware repeats Set-Cookie under a lower-case name whose
    # getlist() holds every cookie again: merge by lower-case name and drop exact repeats.
    headers: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    multi = response.get("multiValueHeaders") or {}
    pairs = [(name, str(v)) for name, values in multi.items() for v in values]
    multi_names = {name.lower() for name in multi}
    pairs += [(n, str(v)) for n, v in (response.get("headers") or {}).items() if n.lower() not in multi_names]
    for name, value in pairs:
        key = (name.lower(), value)
        if key in seen or key[0] in _DROPPED_RESPONSE_HEADERS:
            continue
        seen.add(key)
        headers.append((name, value))

    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return status, headers, data


class ApiGatewayHandler(BaseHandler):
    def _handle(self) -> None:
        runtime: Runtime = self.server.runtime
        stage: str = self.server.options["stage"]
        request_id = str(uuid.uuid4())
        try:
            body, too_large = self.read_body(MAX_BODY)
        except LambdaServiceError as exc:
            self.send_json(exc.status, {"message": exc.message})
            return
        if too_large:
            self.send_json(413, {"message": "Request Too Long"})
            return
        runtime.registry.reload_if_changed()
        config: FunctionConfig | None = runtime.registry.for_stage(stage)
        if config is None:
            self.send_json(500, {"message": f"stage {stage!r} is not in the settings file any more"})
            return
        refusal = runtime.registry.refusal(config.function_name)
        if refusal:
            self.send_json(403, {"message": refusal})
            return
        event = build_event(
            self.command, self.path, list(self.headers.items()), body, stage, self.client_address[0], request_id
        )
        started = time.monotonic()
        result = runtime.invoke(config, json.dumps(event).encode(), request_id)
        status, headers, data = decode_response(result)
        headers.append(("x-amzn-RequestId", request_id))
        headers.append(("X-Emulator-Duration-Ms", f"{(time.monotonic() - started) * 1000:.1f}"))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def serve_api_gateway(runtime: Runtime, host: str, port: int, stage: str, **options: Any) -> EmulatorHTTPServer:
    """Bind the API Gateway front for ``stage`` and serve it in a daemon thread."""
    server = EmulatorHTTPServer((host, port), ApiGatewayHandler, runtime, stage=stage, **options)
    threading.Thread(target=server.serve_forever, name="api-gateway", daemon=True).start()
    return server

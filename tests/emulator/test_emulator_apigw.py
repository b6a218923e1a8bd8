"""The API Gateway front: HTTP in, v1 proxy event through Zappa's handler and the Flask app, HTTP out."""

from __future__ import annotations

import http.client
import json

from dev.emulator.apigw import build_event, decode_response
from dev.emulator.runtime import InvocationResult
from tests.support.emulator_harness import FIXTURE_PROJECT, Emulator

PNG_BYTES = bytes(range(256)) * 4  # same as the fixture app's


def request(emulator: Emulator, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", emulator.api_port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def test_get_with_query_and_headers(emulator: Emulator) -> None:
    status, headers, body = request(emulator, "GET", "/hello?x=1&x=2&y=", headers={"X-Custom": "yes"})
    assert status == 200
    data = json.loads(body)
    assert data["path"] == "/hello"
    assert data["args"] == {"x": ["1", "2"], "y": [""]}
    assert data["custom"] == "yes"
    assert dict(headers)["Content-Type"] == "application/json"


def test_binary_request_body_round_trips(emulator: Emulator) -> None:
    payload = bytes(range(256))
    status, _, body = request(
        emulator, "POST", "/echo", body=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert status == 201
    assert body == payload


def test_text_request_body_round_trips(emulator: Emulator) -> None:
    payload = "<feed>ünïcode</feed>".encode()
    status, _, body = request(emulator, "POST", "/echo", body=payload, headers={"Content-Type": "application/xml"})
    assert status == 201
    assert body == payload


def test_binary_response(emulator: Emulator) -> None:
    status, headers, body = request(emulator, "GET", "/binary")
    assert status == 200
    assert dict(headers)["Content-Type"] == "image/png"
    assert body == PNG_BYTES


def test_status_and_repeated_headers(emulator: Emulator) -> None:
    status, headers, body = request(emulator, "GET", "/status/418")
    assert status == 418
    assert body == b"status 418"
    assert ("X-Fixture", "yes") in headers
    cookies = [value for name, value in headers if name.lower() == "set-cookie"]
    assert sorted(cookies) == ["a=1; Path=/", "b=2; Path=/"]


def test_app_errors_and_missing_routes(emulator: Emulator) -> None:
    assert request(emulator, "GET", "/nowhere")[0] == 404
    assert request(emulator, "GET", "/boom")[0] == 500


def test_event_has_the_shape_zappas_handler_reads() -> None:
    event = build_event(
        "POST",
        "/websub/UC123?hub.mode=x",
        [("Host", "127.0.0.1:8000"), ("X-Hub-Signature", "sha1=ab"), ("Connection", "keep-alive")],
        b"\xff\x00",
        "local",
        "127.0.0.1",
    )
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/websub/UC123"
    assert event["headers"]["Host"] == "127.0.0.1:8000"
    assert "Connection" not in event["headers"]
    assert event["multiValueHeaders"]["X-Hub-Signature"] == ["sha1=ab"]
    assert event["queryStringParameters"] == {"hub.mode": "x"}
    assert event["isBase64Encoded"] is True
    assert event["requestContext"]["stage"] == "local"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["pathParameters"] == {"proxy": "websub/UC123"}


def test_function_error_is_a_502_and_timeout_a_504() -> None:
    failed = InvocationResult("r", "f", error={"errorType": "ValueError", "errorMessage": "x"})
    assert decode_response(failed)[0] == 502
    timed_out = InvocationResult("r", "f", error={"errorType": "Sandbox.Timedout", "errorMessage": "x"})
    assert decode_response(timed_out)[0] == 504
    malformed = InvocationResult("r", "f", payload=b'"not a proxy response"')
    assert decode_response(malformed)[0] == 502


def test_fixture_project_is_untouched() -> None:
    assert not (FIXTURE_PROJECT / ".runtime").exists()

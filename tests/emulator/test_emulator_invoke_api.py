"""The Lambda Invoke API through boto3 (and raw HTTP for what boto3 validates itself)."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import botocore.exceptions
import pytest

from dev.emulator.client import Invocation
from tests.support.emulator_harness import PASSED_DATABASE_URL, Emulator


def raw_post(emulator: Emulator, path: str, body: bytes, headers: dict[str, str] | None = None) -> Invocation:
    """A POST sent exactly as given (what boto3 would refuse to send), answered and decoded by the client."""
    return emulator.client(timeout=30).request("POST", path, body, headers)


def test_request_response_returns_the_result_and_lambda_headers(emulator: Emulator) -> None:
    response = emulator.invoke("fns.echo", answer=42)

    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    body = response["Body"]
    assert body["event"] == {"command": "fns.echo", "answer": 42}
    assert body["function_name"] == "emu-fixture-local"
    assert body["memory_limit_in_mb"] == 256
    assert 0 < body["remaining_ms"] <= 5000
    assert body["cwd"] == str(emulator.project_dir)


def test_function_environment_is_lambdas_plus_stage_plus_passed(emulator: Emulator) -> None:
    env = emulator.invoke("fns.echo")["Body"]["env"]

    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "emu-fixture-local"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["LAMBDA_TASK_ROOT"] == str(emulator.project_dir)
    assert env["TZ"] == ":UTC"
    assert env["FIXTURE_STAGE_VAR"] == "from-local-stage"  # the stage's value (extends + override)
    assert env["DATABASE_URL"] == PASSED_DATABASE_URL  # --pass-env wins over the stage's value
    assert env["EMULATOR_TEST_SECRET"] == "passed-secret"


def test_variables_not_named_by_pass_env_stay_out(emulator: Emulator) -> None:
    response = emulator.invoke("fns.echo")
    assert "NOT_PASSED" not in json.dumps(response["Body"])


def test_log_tail_has_every_output_channel_framed_by_start_end_report(emulator: Emulator) -> None:
    log = emulator.invoke("fns.noisy")["Log"]

    for line in (
        "hello from print",
        "hello from stderr",
        "hello from logging",
        "hello from fd 1",
        "hello from fd 2",
        "hello from a child process",
        "Result of fns.noisy:",
    ):
        assert line in log
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("START RequestId: "))
    assert lines[start].endswith("Version: $LATEST")
    assert lines[-2].startswith("END RequestId: ")
    report = lines[-1]
    assert report.startswith("REPORT RequestId: ")
    for field in ("Duration: ", "Billed Duration: ", "Memory Size: 256 MB", "Max Memory Used: "):
        assert field in report


def test_no_log_result_without_tail(emulator: Emulator) -> None:
    response = emulator.invoke("fns.noisy", log=False)
    assert response["Log"] is None
    assert response["Body"] == "noisy done"


def test_log_tail_is_the_last_4_kb(emulator: Emulator) -> None:
    log = emulator.invoke("fns.big_log", lines=400)["Log"]
    assert len(log.encode()) <= 4096
    assert "line 00399" in log
    assert "line 00000" not in log
    assert log.rstrip().splitlines()[-1].startswith("REPORT RequestId: ")


def test_function_error_is_lambdas_body_and_the_traceback_is_in_the_log(emulator: Emulator) -> None:
    response = emulator.invoke("fns.fail")

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = response["Body"]
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom from the fixture"
    assert isinstance(body["stackTrace"], list)
    assert any('fns.py", line' in frame and "in fail" in frame for frame in body["stackTrace"])
    log = response["Log"]
    assert "failing now" in log
    assert "[ERROR] ValueError: boom from the fixture" in log
    assert "Traceback (most recent call last):" in log
    assert log.index("[ERROR]") < log.index("END RequestId")


def test_unserialisable_result_is_a_marshal_error(emulator: Emulator) -> None:
    response = emulator.invoke("fns.unserialisable")
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.MarshalError"


def _touch(emulator: Emulator, marker: Path, invocation_type: str) -> dict:
    """boto3 invoke of ``fns.touch``, which writes the invocation's request id into ``marker``."""
    return emulator.lambda_client().invoke(
        FunctionName="emu-fixture-local",
        InvocationType=invocation_type,
        Payload=json.dumps({"command": "fns.touch", "path": str(marker)}),
    )


def _wait_for_text(path: Path, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.read_text() if path.exists() else ""


def test_event_invocation_is_accepted_and_runs_in_the_background(emulator: Emulator, tmp_path: Path) -> None:
    marker = emulator.shared_path("event-ran")
    response = _touch(emulator, marker, "Event")
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    assert _wait_for_text(marker) == response["ResponseMetadata"]["RequestId"], emulator.console()[-3000:]


def test_dry_run_validates_without_running(emulator: Emulator, tmp_path: Path) -> None:
    marker = emulator.shared_path("must-not-exist")
    response = _touch(emulator, marker, "DryRun")
    assert response["StatusCode"] == 204
    # An Event invocation sent after it has run to the end; the dry run, sent first, left no trace by then.
    after = emulator.shared_path("sent-after")
    assert _touch(emulator, after, "Event")["StatusCode"] == 202
    assert _wait_for_text(after), "the Event invocation sent after the dry run never ran"
    assert not marker.exists()
    assert response["ResponseMetadata"]["RequestId"] not in emulator.console()


@pytest.mark.parametrize(
    "function_name",
    ["emu-fixture-local:$LATEST", "arn:aws:lambda:eu-west-1:123456789012:function:emu-fixture-local"],
)
def test_arn_and_latest_qualifier_are_accepted(emulator: Emulator, function_name: str) -> None:
    response = emulator.lambda_client().invoke(FunctionName=function_name, Payload=b'{"command": "fns.version"}')
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read()) == 1


def _client_error(emulator: Emulator, **kwargs) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        emulator.lambda_client().invoke(**kwargs)
    return info.value


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "text"),
    [
        ({"FunctionName": "no-such-function"}, 404, "ResourceNotFoundException", "Function not found: arn:aws:lambda"),
        ({"FunctionName": "emu-fixture-local", "Qualifier": "7"}, 404, "ResourceNotFoundException", "$LATEST only"),
        ({"FunctionName": "emu-fixture-local:prod"}, 404, "ResourceNotFoundException", "$LATEST only"),
        ({"FunctionName": "emu-fixture-local", "Payload": b"{not json"}, 400, "InvalidRequestContentException", "json"),
        (
            {"FunctionName": "emu-fixture-local", "Payload": b"[" + b"1," * (3 * 1024 * 1024) + b"1]"},
            413,
            "RequestTooLargeException",
            "6291456 bytes",
        ),
        (
            {"FunctionName": "emu-fixture-local", "InvocationType": "Event", "Payload": b'"' + b"x" * 1048577 + b'"'},
            413,
            "RequestTooLargeException",
            "1048576 bytes",
        ),
        (
            {"FunctionName": "emu-fixture-local", "Payload": b'{"raw_command": "print(1)"}'},
            403,
            "AccessDeniedException",
            "--allow-raw-command",
        ),
    ],
    ids=["unknown-function", "qualifier", "name-qualifier", "bad-json", "too-large", "too-large-event", "raw"],
)
def test_service_errors_through_boto3(emulator: Emulator, kwargs: dict, status: int, code: str, text: str) -> None:
    error = _client_error(emulator, **kwargs)
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error.response["Error"]["Code"] == code
    assert text in error.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        ("/2015-03-31/functions/nope/invocations", b"{}", {}, 404, "ResourceNotFoundException"),
        ("/2015-03-31/functions/emu-fixture-local/invocations", b"{", {}, 400, "InvalidRequestContentException"),
        (
            "/2015-03-31/functions/emu-fixture-local/invocations",
            b"{}",
            {"X-Amz-Invocation-Type": "Sometimes"},
            400,
            "ValidationException",
        ),
        (
            "/2015-03-31/functions/emu-fixture-local/invocations",
            b"{}",
            {"X-Amz-Log-Type": "Everything"},
            400,
            "ValidationException",
        ),
        ("/2015-03-31/functions/emu-fixture-local/invocations?Qualifier=2", b"", {}, 404, "ResourceNotFoundException"),
        ("/2015-03-31/functions/emu-fixture-local/configuration", b"{}", {}, 404, "UnknownOperationException"),
    ],
    ids=["unknown-function", "bad-json", "bad-invocation-type", "bad-log-type", "qualifier", "unknown-operation"],
)
def test_error_shape_on_the_wire(
    emulator: Emulator, path: str, body: bytes, headers: dict, status: int, code: str
) -> None:
    answer = raw_post(emulator, path, body, headers)
    assert answer.status == status
    assert answer.error_code == code
    assert answer.headers["content-type"] == "application/json"
    assert answer.request_id
    data = answer.json()
    assert set(data) == {"Type", "message"}
    assert data["message"]


def test_empty_payload_is_an_empty_event(emulator: Emulator) -> None:
    answer = raw_post(emulator, "/2015-03-31/functions/emu-fixture-local/invocations", b"")
    # {} has no "command": Zappa's handler finds nothing to do and returns None.
    assert answer.status == 200
    assert answer.body == b"null"
    assert answer.headers.get("x-amz-executed-version") == "$LATEST"


def test_raw_command_runs_only_when_allowed(emulator_factory) -> None:
    emulator = emulator_factory("--allow-raw-command")
    response = emulator.lambda_client().invoke(
        FunctionName="emu-fixture-local", Payload=b'{"raw_command": "print(6 * 7)"}', LogType="Tail"
    )
    assert "FunctionError" not in response
    assert "\n42\n" in base64.b64decode(response["LogResult"]).decode()
    assert emulator.health()["allow_raw_command"] is True


def test_health(emulator: Emulator) -> None:
    health = emulator.health()
    assert health["status"] == "ok"
    assert health["functions"] == {
        "emu-fixture-base": "base",
        "emu-fixture-local": "local",
        "emu-fixture-tight": "tight",
        "emu-fixture-small": "small",
        "emu-fixture-secret": "secret",
        "emu-fixture-bigtmp": "bigtmp",
    }
    assert health["max_concurrency"] == 2
    assert health["allow_raw_command"] is False
    assert health["warm_containers"] == "eager" and health["change_detection"] == "watchfiles"


def test_remote_env_stage_runs_without_s3(emulator: Emulator) -> None:
    response = emulator.invoke("fns.echo", stage="secret")
    assert "FunctionError" not in response, response["Log"]
    assert response["Body"]["env"]["DATABASE_URL"] == PASSED_DATABASE_URL


def test_console_shows_each_invocation_log(emulator: Emulator) -> None:
    response = emulator.invoke("fns.version")
    request_id = response["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 5
    while f"END RequestId: {request_id}" not in emulator.console() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert f"END RequestId: {request_id}" in emulator.console()


def test_concurrent_requests_get_at_most_max_concurrency_environments(emulator: Emulator) -> None:
    emulator.invoke("fns.version", stage="base")  # one environment warm already

    def call(_: int) -> int:
        return emulator.invoke("fns.sleep", stage="base", seconds=0.4)["Body"]["pid"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        pids = list(pool.map(call, range(4)))
    elapsed = time.monotonic() - started

    assert len(set(pids)) == 2  # two environments, each reused
    assert elapsed >= 0.8  # four calls of 0.4 s through two environments: two rounds
    assert emulator.health()["environments"]["emu-fixture-base"] == {"busy": 0, "warm": 2, "starting": 0}


@pytest.mark.emulator
def test_a_client_that_resets_its_connection_leaves_no_traceback_on_the_console(emulator_factory) -> None:
    """A CLI process that exits with its keep-alive connection open resets it (RST): the emulator's thread waiting
    for the next request on it must end quietly, not print a ConnectionResetError traceback after every call."""
    import socket
    import struct

    emulator: Emulator = emulator_factory()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", emulator.port), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "the emulator did not answer"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends RST
    for _ in range(20):  # the server's threads have long seen the resets by the end of these round trips
        emulator.health()
    console = emulator.console()
    assert "ConnectionResetError" not in console and "Traceback" not in console, console[-3000:]

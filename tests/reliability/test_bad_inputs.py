"""A table of bad inputs, each sent over real HTTP (or through the real CLIs) to a running emulator.

For every row: the answer is a clear error with the right status (HTTP status, or the CLI's exit code), nothing
crashes (both emulators answer /health, the app answers through the API front), and the database is unchanged
(its Alembic revision and its catalog snapshot equal the ones taken before the first row).

The database sits one revision below head, so that a bad input wrongly taken as an upgrade or a downgrade would
show. Two emulators serve the module: one with DATABASE_URL passed through (the normal set-up), and one started
without it, whose extra stages carry a bad DATABASE_URL in their ``environment_variables``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.reliability_harness import (
    APP_FUNCTION,
    Emulator,
    HttpResult,
    app_env,
    copy_app_project,
    create_database,
    db_state,
    diff_snapshots,
    drop_database,
    free_port,
    invoke_cli,
    invoke_http,
    revisions,
    start_app_emulator,
    start_refused,
)

pytestmark = pytest.mark.emulator  # the bad inputs are sent to running emulators

UPGRADE = "run.run_alembic_upgrade"
DOWNGRADE = "run.run_alembic_downgrade"
CURRENT = "run.run_alembic_current"
INVOCATIONS = f"/2015-03-31/functions/{APP_FUNCTION}/invocations"
CHANNEL = "UC" + "r" * 22  # a valid channel id that has no subscription
SYNC_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous payload limit
ASYNC_LIMIT = 1024 * 1024


@dataclass
class World:
    emulator: Emulator  # DATABASE_URL passed through, API front on
    project: Path
    no_db: Emulator  # started without DATABASE_URL
    database_url: str
    baseline: tuple[str | None, dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    """What a row produced: HTTP status or exit code, the error code (service or function), and all text."""

    status: int
    code: str | None
    text: str


@dataclass(frozen=True)
class Row:
    send: Callable[[World], Outcome]
    status: int
    code: str | None  # x-amzn-ErrorType for service errors, errorType for function errors, None for neither
    texts: tuple[str, ...]


def _from_http(answer: HttpResult) -> Outcome:
    code = answer.error_code
    if answer.function_error:
        code = answer.json().get("errorType")
    return Outcome(answer.status, code, answer.body.decode(errors="replace"))


def http(
    body: bytes | dict | None,
    function: str = APP_FUNCTION,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str | None = None,
    target: str = "emulator",
) -> Callable[[World], Outcome]:
    """A request to the Invoke API of ``target`` ("emulator" or "no_db")."""

    def send(world: World) -> Outcome:
        base = getattr(world, target).url
        try:
            return _from_http(invoke_http(base, function, body, headers=headers, method=method, path=path))
        except OSError as exc:  # no answer at all: the worst outcome, reported as status 0
            return Outcome(0, None, f"no answer: {exc!r}")

    return send


def api(method: str, path: str, body: bytes | None = None) -> Callable[[World], Outcome]:
    """A request to the API Gateway front (the Flask app behind Zappa's handler)."""

    def send(world: World) -> Outcome:
        answer = invoke_http(world.emulator.api_url, body=body, method=method, path=path, headers={})
        return Outcome(answer.status, None, answer.body.decode(errors="replace"))

    return send


def cli(*args: str, endpoint: str | None = None) -> Callable[[World], Outcome]:
    """``python -m dev.invoke ARGS`` against the main emulator (or ``endpoint``): exit code and all output."""

    def send(world: World) -> Outcome:
        run = invoke_cli(world.project, endpoint or world.emulator.url, *args)
        return Outcome(run.returncode, None, run.stdout + run.stderr)

    return send


def dead_endpoint_cli(*args: str) -> Callable[[World], Outcome]:
    def send(world: World) -> Outcome:
        return cli(*args, endpoint=f"http://127.0.0.1:{free_port()}")(world)

    return send


def emulator_cli(*args: str, **env: str) -> Callable[[World], Outcome]:
    """``python -m dev.emulator`` with a bad start-up setting: it must refuse before serving (fails fast if not)."""

    def send(world: World) -> Outcome:
        log = world.project.parent / f"refused-{free_port()}.log"
        refusal = start_refused(*args, log=log, project_dir=world.project, env=app_env(None, **env))
        return Outcome(refusal.returncode, None, refusal.log)

    return send


def raw(request: bytes, attempts: int = 1) -> Callable[[World], Outcome]:
    """Bytes on a socket, for what http.client refuses to send; status 0 when the server closed without answering.

    ``attempts`` > 1 is for requests the server refuses before reading them to the end (431): it answers and
    closes, and a client still writing may see the reset before the answer (HTTP allows that). A client would
    retry; so do we, a bounded number of times.
    """

    def once(world: World) -> bytes:
        data = b""
        with socket.create_connection(("127.0.0.1", world.emulator.port), timeout=10) as sock:
            try:
                sock.sendall(request)
                while not _complete(data):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except (TimeoutError, ConnectionResetError, BrokenPipeError):
                pass
        return data

    def send(world: World) -> Outcome:
        for _ in range(attempts):
            data = once(world)
            if data:
                break
        head = data.split(b"\r\n", 1)[0].split()
        status = int(head[1]) if len(head) >= 2 and head[1].isdigit() else 0
        code = next(
            (
                line.split(b":", 1)[1].strip().decode()
                for line in data.split(b"\r\n")
                if line.lower().startswith(b"x-amzn-errortype:")
            ),
            None,
        )
        return Outcome(status, code, data.decode(errors="replace"))

    return send


def fn_error(send: Callable[[World], Outcome], error_type: str, *texts: str) -> Row:
    """A function error: Lambda answers 200 with X-Amz-Function-Error and the exception's type and message."""
    return Row(send, 200, error_type, texts)


def _chunked(*parts: bytes) -> bytes:
    """A chunked transfer-encoded body (what clients that stream uploads send instead of Content-Length)."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def _complete(response: bytes) -> bool:
    """Headers and as much body as their Content-Length announces (the body may come in a later packet)."""
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return True


def _raw_post(headers: str, body: bytes) -> bytes:
    return f"POST {INVOCATIONS} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode() + body


FIRST, BELOW_HEAD = revisions()[0], revisions()[-2]
_big = {"command": UPGRADE, "padding": "x" * SYNC_LIMIT}
_big_async = {"command": UPGRADE, "padding": "x" * ASYNC_LIMIT}

ROWS: dict[str, Row | Any] = {
    # -- the request itself -------------------------------------------------------------------------------------
    "malformed-json": Row(
        http(b'{"command": "run.run_alembic_upgrade"'),
        400,
        "InvalidRequestContentException",
        ("Could not parse request body into json",),
    ),
    "non-utf8-body": Row(http(b'\xff\xfe{"command"}'), 400, "InvalidRequestContentException", ("Could not parse",)),
    "oversized-payload": Row(
        http(_big), 413, "RequestTooLargeException", (f"Request must be smaller than {SYNC_LIMIT} bytes",)
    ),
    "oversized-async-payload": Row(
        http(_big_async, headers={"X-Amz-Invocation-Type": "Event"}),
        413,
        "RequestTooLargeException",
        (f"smaller than {ASYNC_LIMIT} bytes",),
    ),
    "huge-header": Row(
        raw(_raw_post(f"X-Padding: {'h' * 100_000}\r\nContent-Length: 2\r\n", b"{}"), attempts=3),
        431,
        None,
        ("Line too long",),
    ),
    "too-many-headers": Row(
        raw(_raw_post("".join(f"X-H{i}: 1\r\n" for i in range(150)) + "Content-Length: 2\r\n", b"{}"), attempts=3),
        431,
        None,
        ("Too many headers",),
    ),
    "bad-invocation-type": Row(
        http({"command": UPGRADE}, headers={"X-Amz-Invocation-Type": "Sometimes"}),
        400,
        "ValidationException",
        ("'Sometimes' at 'invocationType'",),
    ),
    "bad-log-type": Row(
        http({"command": UPGRADE}, headers={"X-Amz-Log-Type": "Everything"}),
        400,
        "ValidationException",
        ("at 'logType'",),
    ),
    "bad-client-context": Row(
        http({"command": UPGRADE}, headers={"X-Amz-Client-Context": "%%% not base64 %%%"}),
        400,
        "InvalidParameterValueException",
        ("X-Amz-Client-Context must be base64-encoded JSON",),
    ),
    "request-line-garbage": Row(raw(b"POST / extra HTTP/1.1\r\nHost: x\r\n\r\n"), 400, None, ("Bad request syntax",)),
    # -- where it is sent -----------------------------------------------------------------------------------------
    "wrong-method-get": Row(
        http(None, method="GET"), 404, "UnknownOperationException", (f"GET {INVOCATIONS} is not an operation",)
    ),
    "wrong-method-put": Row(http({"command": UPGRADE}, method="PUT"), 404, "UnknownOperationException", ("PUT",)),
    "wrong-method-delete": Row(http(None, method="DELETE"), 404, "UnknownOperationException", ("DELETE",)),
    "unsupported-method-patch": Row(
        http({"command": UPGRADE}, method="PATCH"), 501, None, ("Unsupported method ('PATCH')",)
    ),
    "wrong-path": Row(
        http({"command": UPGRADE}, path=f"/2015-03-31/functions/{APP_FUNCTION}"),
        404,
        "UnknownOperationException",
        ("is not an operation this emulator serves",),
    ),
    "wrong-api-version": Row(
        http({"command": UPGRADE}, path=f"/2099-01-01/functions/{APP_FUNCTION}/invocations"),
        404,
        "UnknownOperationException",
        (),
    ),
    "unknown-function": Row(
        http({"command": UPGRADE}, function="no-such-function"),
        404,
        "ResourceNotFoundException",
        ("Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-function",),
    ),
    "unknown-stage": Row(
        http({"command": UPGRADE}, function="yt-pubsub-handler-staging"),
        404,
        "ResourceNotFoundException",
        ("function:yt-pubsub-handler-staging",),
    ),
    "unknown-stage-cli": Row(cli(UPGRADE, "--stage", "staging"), 1, None, ("stage 'staging' is not in",)),
    "qualifier-in-query": Row(
        http({"command": UPGRADE}, path=f"{INVOCATIONS}?Qualifier=prod"),
        404,
        "ResourceNotFoundException",
        ("serves $LATEST only",),
    ),
    "qualifier-in-name": Row(
        http({"command": UPGRADE}, function=f"{APP_FUNCTION}:7"), 404, "ResourceNotFoundException", (":7",)
    ),
    "raw-command-disabled": Row(
        http({"raw_command": "import os; os.system('dropdb everything')"}),
        403,
        "AccessDeniedException",
        ("restart it with --allow-raw-command",),
    ),
    "raw-command-disabled-cli": Row(cli("--raw", "print(1)"), 1, None, ("AccessDeniedException",)),
    "emulator-unreachable-cli": Row(dead_endpoint_cli(UPGRADE), 2, None, ("is not reachable", "make emulator")),
    # -- the payload -------------------------------------------------------------------------------------------------
    "payload-is-a-list": fn_error(http(b'["run.run_alembic_upgrade"]'), "AttributeError", "'list' object"),
    "payload-is-a-string": fn_error(http(b'"run.run_alembic_upgrade"'), "AttributeError", "'str' object"),
    "payload-is-null": fn_error(http(b"null"), "AttributeError", "'NoneType' object"),
    # Zappa's handler ignores an event it does not recognise and returns null, on Lambda as here.
    "empty-body": Row(http(b""), 200, None, ("null",)),
    "payload-not-json-cli": Row(cli(UPGRADE, "--payload", "{revision: head}"), 1, None, ("must be valid JSON",)),
    "payload-not-object-cli": Row(cli(UPGRADE, "--payload", '["head"]'), 1, None, ("must be a JSON object, not list",)),
    "unknown-payload-key": fn_error(
        http({"command": UPGRADE, "revison": "base"}), "ValueError", "unknown payload key(s) ['revison']"
    ),
    "sql-not-a-boolean": fn_error(
        http({"command": UPGRADE, "sql": "yes"}), "ValueError", "'sql' must be true or false"
    ),
    "revision-not-a-string": fn_error(
        http({"command": DOWNGRADE, "revision": 5}), "ValueError", "'revision' must be a non-empty string"
    ),
    "revision-empty": fn_error(http({"command": UPGRADE, "revision": ""}), "ValueError", "non-empty string"),
    "unknown-revision": fn_error(
        http({"command": UPGRADE, "revision": "0000deadbeef"}),
        "UnknownRevisionError",
        "unknown revision '0000deadbeef'",
        "run_alembic_history",
    ),
    "unknown-revision-cli": Row(
        cli(UPGRADE, "--payload", '{"revision": "0000deadbeef"}'),
        1,
        None,
        ("Error: Unhandled error in run.run_alembic_upgrade: UnknownRevisionError: unknown revision '0000deadbeef'",),
    ),
    "upgrade-to-an-older-revision": fn_error(
        http({"command": UPGRADE, "revision": FIRST}), "WrongDirectionError", "is below the current revision"
    ),
    "downgrade-to-a-newer-revision": fn_error(
        http({"command": DOWNGRADE, "revision": "head"}), "WrongDirectionError", "is not below the current revision"
    ),
    "range-without-sql": fn_error(
        http({"command": UPGRADE, "revision": f"{FIRST}:head"}), "BadRevisionError", "only meaningful with sql=True"
    ),
    "unknown-function-in-module": fn_error(http({"command": "run.no_such_function"}), "AttributeError", "no_such"),
    "unknown-module": fn_error(http({"command": "no_such_module.fn"}), "ModuleNotFoundError", "no_such_module"),
    # -- the environment ---------------------------------------------------------------------------------------------
    "missing-database-url": fn_error(
        http({"command": CURRENT}, target="no_db"), "ConfigError", "DATABASE_URL is not set", "export DATABASE_URL="
    ),
    "bad-database-url-scheme": fn_error(
        http({"command": UPGRADE}, function="yt-pubsub-handler-badscheme", target="no_db"),
        "ConfigError",
        "DATABASE_URL must be a PostgreSQL URL",
        "got scheme 'mysql'",
    ),
    "unreachable-database-url": fn_error(
        http({"command": UPGRADE}, function="yt-pubsub-handler-unreachable", target="no_db"),
        "DatabaseUnreachableError",
        "cannot reach the database at postgresql+psycopg2://postgres@127.0.0.1:1/nothing",
        "Is PostgreSQL running",
    ),
    "emulator-refuses-remote-database-url": Row(
        emulator_cli(DATABASE_URL="postgresql://u:p@db.example.com/prod"),
        2,
        None,
        ("refusing DATABASE_URL with host db.example.com",),
    ),
    "emulator-unknown-stage": Row(emulator_cli("--stage", "staging"), 2, None, ("stage 'staging' is not in",)),
    # -- the API Gateway front ---------------------------------------------------------------------------------------
    "api-unknown-path": Row(api("GET", "/no/such/path"), 404, None, ("Not Found",)),
    "api-wrong-method": Row(api("PATCH", f"/websub/{CHANNEL}", b"{}"), 405, None, ("Method Not Allowed",)),
    "api-oversized-body": Row(
        api("POST", f"/websub/{CHANNEL}", b"x" * (10 * 1024 * 1024 + 1)), 413, None, ("Request Too Long",)
    ),
    "api-non-utf8-body": Row(
        api("POST", f"/websub/{CHANNEL}", b"\xff\xfe\x00<feed>"), 410, None, ("no live subscription",)
    ),
    "api-bad-channel-id": Row(api("GET", "/channels/%00%ff/videos"), 404, None, ("unknown channel",)),
    # -- bodies that cannot be framed: an answer, then the connection closes -------------------------------------
    "bad-content-length": Row(
        raw(_raw_post("Content-Length: abc\r\n", b"{}")),
        400,
        "InvalidRequestContentException",
        ("Content-Length must be a non-negative",),
    ),
    "chunked-body": Row(
        raw(_raw_post("Transfer-Encoding: chunked\r\n", _chunked(b'{"command": "run.run_alembic_', b'current"}'))),
        411,
        "InvalidRequestContentException",
        ("chunked transfer encoding is not supported",),
    ),
}


def _row_params() -> list[Any]:
    params = []
    for name, row in ROWS.items():
        if isinstance(row, Row):
            params.append(pytest.param(row, id=name))
        else:  # already a pytest.param with marks
            params.append(pytest.param(*row.values, id=name, marks=row.marks))
    return params


@pytest.fixture(scope="module")
def world(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    database_url = create_database(pg_admin_url)
    base = tmp_path_factory.mktemp("bad-inputs")
    project = copy_app_project(base / "project")
    local_env = json.loads((project / "zappa_settings.json").read_text())["local"]["environment_variables"]
    no_db_project = copy_app_project(
        base / "project-no-db",
        extra_stages={
            "badscheme": {
                "extends": "local",
                "environment_variables": {**local_env, "DATABASE_URL": "mysql://app@127.0.0.1/yt"},
            },
            "unreachable": {
                "extends": "local",
                "environment_variables": {**local_env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"},
            },
        },
    )
    started: list[Emulator] = []
    try:
        started.append(start_app_emulator(project, database_url))
        started.append(start_app_emulator(no_db_project, None, api=False))
        emulator, no_db = started
        setup = invoke_http(emulator.url, APP_FUNCTION, {"command": UPGRADE, "revision": BELOW_HEAD})
        assert setup.function_error is None, setup.describe()
        baseline = db_state(database_url)
        assert baseline[0] == BELOW_HEAD
        yield World(emulator, project, no_db, database_url, baseline)
    finally:
        for emulator in started:
            emulator.stop()
        drop_database(pg_admin_url, database_url)


@pytest.mark.parametrize("row", _row_params())
def test_bad_input_gets_a_clear_error_and_changes_nothing(world: World, row: Row) -> None:
    outcome = row.send(world)

    assert outcome.status == row.status, outcome
    assert outcome.code == row.code, outcome
    for text in row.texts:
        assert text in outcome.text, outcome

    # Nothing crashed: both emulators and the app behind the API front still answer.
    for emulator in (world.emulator, world.no_db):
        assert emulator.proc.poll() is None, emulator.console()[-3000:]
        assert emulator.health()["status"] == "ok"
    app_health = invoke_http(world.emulator.api_url, method="GET", path="/health", headers={})
    assert app_health.status == 200, app_health.describe()
    # ... and the database is exactly as before.
    version, snapshot = db_state(world.database_url)
    assert version == world.baseline[0]
    assert diff_snapshots(world.baseline[1], snapshot) == []


def test_the_table_covers_at_least_twenty_bad_inputs() -> None:
    assert len(ROWS) >= 20

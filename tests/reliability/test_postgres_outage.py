"""PostgreSQL restarted or stopped under a running emulator, on a cluster of this module's own.

- Restarted between two invocations: the warm environment's pooled connection is dead; the next invocation must
  still succeed (``pool_pre_ping`` in ``config.py``), with no cold start needed.
- Stopped: the invocation fails within a bounded time with ``DatabaseUnreachableError`` and a message that says
  what to do; the emulator keeps serving (its /health, the app's /health says 503); after a restart the next
  invocation succeeds.

A dedicated ``EmbeddedPostgres`` (not the session server of ``tests/conftest.py``, which other tests share) lives in
a world-traversable temporary directory: as root, the server runs as an unprivileged user that must reach it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.postgres import EmbeddedPostgres, alembic_version
from tests.support.reliability_harness import (
    APP_FUNCTION,
    Emulator,
    copy_app_project,
    invoke_cli,
    invoke_http,
    revisions,
    start_app_emulator,
)

# DB_CONNECT_TIMEOUT (5 s) bounds a connection attempt; a refused connection fails at once. The deadline only
# catches a hang; it is no speed goal (those are in `make bench`).
UNREACHABLE_DEADLINE = 60.0

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[EmbeddedPostgres]:
    base = Path(tempfile.mkdtemp(prefix="yt-pubsub-outage-"))
    base.chmod(0o755)
    server = EmbeddedPostgres(base / "cluster").start()  # durable: the test crashes it (immediate stop)
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def outage_setup(
    own_postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Emulator, Path, str]]:
    """(emulator with the API front, its project copy, the database URL it passes to the functions)."""
    database_url = own_postgres.create_database("outage")
    project = copy_app_project(tmp_path_factory.mktemp("outage") / "project")
    emulator = start_app_emulator(project, database_url)
    try:
        yield emulator, project, database_url
    finally:
        emulator.stop()


@pytest.fixture
def outage(outage_setup, own_postgres: EmbeddedPostgres) -> Iterator[tuple[Emulator, Path, str]]:
    """The module's emulator, with PostgreSQL running again after the test whatever it did."""
    yield outage_setup
    own_postgres.start()


def _upgrade(emulator: Emulator, revision: str = "head") -> dict:
    answer = invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_upgrade", "revision": revision})
    assert answer.status == 200 and answer.function_error is None, answer.describe()
    return {**answer.json(), "_log": answer.log}


def test_restart_between_invocations_is_survived_by_the_warm_environment(
    outage, own_postgres: EmbeddedPostgres
) -> None:
    emulator, project, database_url = outage
    chain = revisions()
    if alembic_version(database_url) is not None:  # another test of this module ran first
        down = invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_downgrade", "revision": "base"})
        assert down.function_error is None, down.describe()
    first = _upgrade(emulator, chain[2])
    assert [s["revision"] for s in first["steps"]] == chain[:3]

    own_postgres.stop(mode="fast")
    own_postgres.start()

    run = invoke_cli(project, emulator.url, "run.run_alembic_upgrade", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert [s["revision"] for s in json.loads(run.stdout)["steps"]] == chain[3:]
    assert "Init Duration" not in run.stderr, "the same warm environment (with its stale pool) must have served it"
    assert alembic_version(database_url) == chain[-1]

    own_postgres.stop(mode="immediate")  # a crash: no goodbye to the clients, recovery on start
    own_postgres.start()
    current = invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_current"})
    assert current.function_error is None, current.describe()
    assert current.json()["is_head"] is True
    assert "Init Duration" not in current.log


def test_stopped_database_gives_a_clear_error_and_the_emulator_keeps_serving(
    outage, own_postgres: EmbeddedPostgres
) -> None:
    emulator, project, _ = outage
    assert invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_current"}).function_error is None

    own_postgres.stop(mode="fast")

    # A generous deadline, not a speed goal: a refused connection fails at once, a silent one after
    # DB_CONNECT_TIMEOUT; a hang would end the request with a socket timeout.
    down = invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_current"}, timeout=UNREACHABLE_DEADLINE)
    assert down.status == 200 and down.function_error == "Unhandled", down.describe()
    error = down.json()
    assert error["errorType"] == "DatabaseUnreachableError"
    where = f"postgresql+psycopg2://postgres@127.0.0.1:{own_postgres.port}/outage"
    assert f"cannot reach the database at {where}" in error["errorMessage"]
    assert "Is PostgreSQL running" in error["errorMessage"]

    run = invoke_cli(project, emulator.url, "run.run_alembic_upgrade", timeout=UNREACHABLE_DEADLINE)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Error: Unhandled error in run.run_alembic_upgrade: DatabaseUnreachableError: cannot reach" in run.stderr

    assert emulator.health()["status"] == "ok"
    app_health = invoke_http(emulator.api_url, method="GET", path="/health", body=None)
    assert app_health.status == 503, app_health.describe()
    assert app_health.json()["database"] == "unreachable"

    own_postgres.start()

    back = invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_current"})
    assert back.status == 200 and back.function_error is None, back.describe()
    assert "revision" in back.json()
    assert invoke_http(emulator.api_url, method="GET", path="/health", body=None).status == 200
    assert emulator.proc.poll() is None

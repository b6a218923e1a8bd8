"""Migration steps end before the Lambda does: statement_timeout and lock_timeout from the time the invocation has
left (yt_pubsub_handler/migration_deadline.py), and a clear error when a step hangs.

On a fixture history of its own (``tests/examples/histories/timeouts``, see its README): one revision records the
timeouts its statements see, one adds a column (ACCESS EXCLUSIVE), so a session holding a lock on the table makes it
wait. Nothing asserts how long anything took: a hang is proven to end *before* the Lambda timeout by the kind of answer
(the migration's own error, not Lambda's ``Sandbox.Timedout``), never by a stopwatch.
"""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dev import postgres
from dev.emulator import client
from tests.support.fixture_history import assemble
from tests.support.paths import HISTORIES
from yt_pubsub_handler import migrator

HISTORY = HISTORIES / "timeouts" / "versions"
REPO_ROOT = Path(__file__).resolve().parents[2]
CREATE, RECORD, ALTER, RECORD_AGAIN, NOTE = (
    "7100dead0001",
    "7100dead0002",
    "7100dead0003",
    "7100dead0004",
    "7100dead0005",
)
FUNCTION = "yt-pubsub-handler-local"
HANG_TIMEOUT_SECONDS = 15  # the fixture stage's timeout_seconds: the stopped backend is found well within it


@pytest.fixture
def history(tmp_path: Path) -> Path:
    return assemble(tmp_path / "migrations", HISTORY)


@pytest.fixture
def timeout_app(make_app, history: Path):
    return make_app(MIGRATIONS_DIR=str(history))


def _seconds(url: str, setting: str) -> float:
    """A timeout setting's value as PostgreSQL reads it ('270s', '2min', '0'), in seconds."""
    return float(postgres.scalar(url, "SELECT extract(epoch FROM CAST(:v AS interval))", v=setting))


def _seen(url: str) -> list[tuple[str, str]]:
    engine = postgres.engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT statement_timeout, lock_timeout FROM timeouts_seen ORDER BY seq"))
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def test_statements_get_both_timeouts_a_margin_before_the_deadline(timeout_app, database_url: str) -> None:
    with timeout_app.app_context():
        migrator.upgrade(revision=RECORD, time_left=100)
    (statement, lock), (_, lock_after_set) = _seen(database_url)
    # 100 s left, a 10 s margin: statements end by 90 s, lock waits earlier, so they are reported as such.
    assert 0 < _seconds(database_url, lock) < _seconds(database_url, statement) <= 90
    assert lock_after_set == "2s", "the revision's own tighter lock_timeout must be kept"


def test_the_time_limit_setting_stands_in_for_the_lambda_context(make_app, history: Path, database_url: str) -> None:
    app = make_app(MIGRATIONS_DIR=str(history), MIGRATION_TIME_LIMIT=100)
    with app.app_context():
        migrator.upgrade(revision=RECORD)
    (statement, _lock), _ = _seen(database_url)
    assert 0 < _seconds(database_url, statement) <= 90


def test_the_invocations_own_time_wins_over_the_setting(make_app, history: Path, database_url: str) -> None:
    app = make_app(MIGRATIONS_DIR=str(history), MIGRATION_TIME_LIMIT=10_000)
    with app.app_context():
        migrator.upgrade(revision=RECORD, time_left=100)
    (statement, _lock), _ = _seen(database_url)
    assert 0 < _seconds(database_url, statement) <= 90


def test_without_a_deadline_the_servers_settings_stay(timeout_app, database_url: str) -> None:
    server_default = (
        postgres.scalar(database_url, "SHOW statement_timeout"),
        postgres.scalar(database_url, "SHOW lock_timeout"),
    )
    with timeout_app.app_context():
        migrator.upgrade(revision=RECORD)
    assert _seen(database_url)[0] == server_default


def test_no_time_left_stops_before_the_first_statement(timeout_app, database_url: str) -> None:
    with timeout_app.app_context(), pytest.raises(migrator.MigrationTimedOut) as raised:
        migrator.upgrade(time_left=0.01)
    message = str(raised.value)
    assert f"revision {CREATE} stopped" in message
    assert "was not started" in message and "invoke" in message
    assert postgres.scalar(database_url, "SELECT to_regclass('public.alembic_version')") is None, "nothing may have run"


def test_a_lock_holder_that_never_commits_ends_in_a_lock_timeout(timeout_app, database_url: str) -> None:
    with timeout_app.app_context():
        migrator.upgrade(revision=RECORD)
    holder = postgres.engine(database_url).connect()
    try:
        holder.execute(sa.text("SELECT count(*) FROM gauges"))  # ACCESS SHARE until the transaction ends: never
        with timeout_app.app_context(), pytest.raises(migrator.MigrationTimedOut) as raised:
            migrator.upgrade(time_left=4)
    finally:
        holder.rollback()
        holder.close()
    message = str(raised.value)
    assert f"revision {ALTER} stopped" in message
    assert "lock_timeout" in message and "pg_locks" in message, message
    assert f"The database is at {RECORD}" in message
    assert postgres.alembic_version(database_url) == RECORD


def test_a_revisions_set_local_ends_with_its_transaction(timeout_app, database_url: str) -> None:
    with timeout_app.app_context():
        migrator.upgrade(revision=RECORD_AGAIN, time_left=100)
    rows = _seen(database_url)
    assert rows[1][1] == "2s", "7100dead0002's own SET LOCAL applies to its own statements"
    # Two revisions later the deadline's value applies again, not 7100dead0002's 2 s.
    assert _seconds(database_url, rows[2][1]) > 2, rows


# -- a step that hit its lock_timeout is retried with backoff ---------------------------------------------------------


class LockHolder:
    """A session that holds a lock on ``table`` until the migrating backend has been seen waiting for it ``waits``
    times (distinct waits: each one is a new attempt), then lets go. Nothing depends on how long anything takes."""

    def __init__(self, url: str, lock_sql: str, statement_like: str, waits: int) -> None:
        self.url, self.statement_like, self.waits = url, statement_like, waits
        self.conn = postgres.engine(url).connect()
        self.conn.execute(sa.text(lock_sql))
        self.seen: set[str] = set()

    def release_after_waits(self, timeout: float = 120) -> None:
        sql = (
            "SELECT l.waitstart::text FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE NOT l.granted AND a.datname = current_database() AND a.query ILIKE :like"
        )
        deadline = time.monotonic() + timeout
        try:
            while len(self.seen) < self.waits:
                assert time.monotonic() < deadline, f"saw {len(self.seen)} lock wait(s) of {self.statement_like!r}"
                with postgres.connect(self.url) as watcher:
                    self.seen.update(w for (w,) in watcher.execute(sa.text(sql), {"like": self.statement_like}) if w)
                time.sleep(0.02)
        finally:
            self.conn.rollback()
            self.conn.close()


def test_a_lock_timeout_is_retried_until_the_lock_is_free(timeout_app, database_url: str) -> None:
    with timeout_app.app_context():
        migrator.upgrade(revision=RECORD_AGAIN)
    holder = LockHolder(database_url, "SELECT count(*) FROM gauges", "ALTER TABLE gauges ADD COLUMN note%", waits=2)
    with ThreadPoolExecutor(1) as pool, timeout_app.app_context():
        releasing = pool.submit(holder.release_after_waits)
        result = migrator.upgrade(time_left=120)
        releasing.result()
    assert result["to_revision"] == NOTE and postgres.alembic_version(database_url) == NOTE
    retries = result["retries"]
    assert len(retries) >= 1, result
    assert {r["revision"] for r in retries} == {NOTE}
    assert all("lock timeout" in r["error"] and r["pause_ms"] > 0 for r in retries), retries
    assert [r["attempt"] for r in retries] == list(range(1, len(retries) + 1))
    assert [s["revision"] for s in result["steps"]] == [NOTE], "a retried step is reported once, when it ran"


def test_a_retried_relative_downgrade_still_ends_where_it_was_asked_to(timeout_app, database_url: str) -> None:
    with timeout_app.app_context():
        migrator.upgrade()
    holder = LockHolder(
        database_url, "LOCK TABLE timeouts_seen IN ACCESS EXCLUSIVE MODE", "DELETE FROM timeouts_seen%", waits=2
    )
    with ThreadPoolExecutor(1) as pool, timeout_app.app_context():
        releasing = pool.submit(holder.release_after_waits)
        result = migrator.downgrade(revision="-2", time_left=120)
        releasing.result()
    # NOTE's downgrade ran, RECORD_AGAIN's waited and was retried: "-2" still means two steps below head.
    assert result["to_revision"] == ALTER and postgres.alembic_version(database_url) == ALTER, result
    assert {r["revision"] for r in result["retries"]} == {RECORD_AGAIN}
    assert [s["revision"] for s in result["steps"]] == [NOTE, RECORD_AGAIN]


def test_retries_stop_when_the_budget_is_spent_and_the_error_says_so(
    make_app, history: Path, database_url: str
) -> None:
    app = make_app(MIGRATIONS_DIR=str(history), MIGRATION_LOCK_RETRY_SECONDS=2)
    with app.app_context():
        migrator.upgrade(revision=RECORD_AGAIN)
    holder = postgres.engine(database_url).connect()
    try:
        holder.execute(sa.text("SELECT count(*) FROM gauges"))  # never released while the migration runs
        with app.app_context(), pytest.raises(migrator.MigrationTimedOut) as raised:
            migrator.upgrade()
    finally:
        holder.rollback()
        holder.close()
    message = str(raised.value)
    assert f"revision {NOTE} stopped" in message and "lock_timeout" in message, message
    assert "retried" in message and "time(s) with backoff" in message, message
    assert postgres.alembic_version(database_url) == RECORD_AGAIN


# -- through Lambda: the context's remaining time, a backend stopped with SIGSTOP -------------------------------------


def _settings_with_stage(tmp_path: Path, name: str, timeout_seconds: int) -> Path:
    """The project's zappa_settings.json plus a stage ``name`` (``local`` with another timeout), outside the project."""
    settings = json.loads((REPO_ROOT / "zappa_settings.json").read_text())
    settings[name] = {"extends": "local", "timeout_seconds": timeout_seconds}
    path = tmp_path / "zappa_settings.json"
    path.write_text(json.dumps(settings, indent=4))
    return path


def _environment(database_url: str, migrations: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
    env.update(DATABASE_URL=database_url, MIGRATIONS_DIR=str(migrations))
    return env


def _warm(emulator: client.EmulatorProcess) -> None:
    """One successful call first, so the app is loaded; on a busy machine a cold start may be cut, then retried."""
    deadline = time.monotonic() + 120
    while True:
        answer = emulator.client().invoke(FUNCTION, client.zappa_command("run.run_alembic_current"))
        if answer.ok:
            return
        if (answer.error() or {}).get("errorType") != "Sandbox.Timedout" or time.monotonic() > deadline:
            raise AssertionError(answer.describe())


def _waiting_backend(url: str, timeout: float = 60) -> int:
    """The pid of the backend that waits for a lock to run ``ALTER TABLE gauges``."""
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND query ILIKE 'ALTER TABLE gauges%'"
    )
    deadline = time.monotonic() + timeout
    while (pid := postgres.scalar(url, sql)) is None:
        assert time.monotonic() < deadline, f"no backend waited for the lock on gauges within {timeout:.0f} s"
        time.sleep(0.02)
    return int(pid)


def _local_backend(pid: int, database: str) -> bool:
    """Whether ``pid`` is this machine's backend process serving ``database`` (never signal anything else)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return title.startswith("postgres: ") and f" {database} " in title


@pytest.mark.emulator
def test_a_database_that_stops_answering_ends_in_a_clear_error_before_the_lambda_timeout(
    timeout_app, database_url: str, history: Path, tmp_path: Path
) -> None:
    with timeout_app.app_context():
        migrator.upgrade(revision=RECORD)
    settings = _settings_with_stage(tmp_path, "hang", HANG_TIMEOUT_SECONDS)
    args = ("--settings", str(settings), "--limits-from", "hang", "--pass-env", "DATABASE_URL")
    emulator = client.start(
        *args,
        "--pass-env",
        "MIGRATIONS_DIR",
        log=tmp_path / "emulator.log",
        project_dir=REPO_ROOT,
        api=False,
        env=_environment(database_url, history),
    )
    holder = postgres.engine(database_url).connect()
    stopped = None
    try:
        _warm(emulator)
        holder.execute(sa.text("SELECT count(*) FROM gauges"))  # the ALTER waits behind this transaction
        with ThreadPoolExecutor(1) as pool:
            event = client.zappa_command("run.run_alembic_upgrade", {"revision": ALTER})
            future = pool.submit(emulator.client(timeout=300).invoke, FUNCTION, event)
            pid = _waiting_backend(database_url)
            if not _local_backend(pid, make_url(database_url).database):
                pytest.skip("the server's processes are not on this machine (TEST_DATABASE_URL): none can be stopped")
            os.kill(pid, signal.SIGSTOP)  # the backend stops answering; its own timeouts cannot fire any more
            stopped = pid
            holder.rollback()  # the lock is free now: only a server that answers could go on
            answer = future.result(timeout=300)
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        holder.close()
        emulator.stop()
    assert answer.function_error == "Unhandled", answer.describe()
    error = answer.json()
    # Not Lambda's Sandbox.Timedout: the migration answered by itself, before the function's timeout.
    assert error["errorType"] == "MigrationTimedOut", answer.describe()
    message = error["errorMessage"]
    assert f"revision {ALTER} stopped: the database stopped answering" in message, message
    assert "once it answers, invoke again" in message
    assert f"The database is at {RECORD}" in message
    assert postgres.alembic_version(database_url) == RECORD

"""The deploy rehearsal's parts on their own: phases, the verdict and the report's shape, the function's error line,
the router, the open-loop generator, BASE from git, and the lock-wait sampler and long transaction on PostgreSQL.

No emulator here (``test_rehearse_deploy.py`` runs the whole thing): these are fast, and each can fail on its own.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from dev import postgres
from dev.app_traffic import MIX, AppTraffic
from dev.migration_policy import DeclaredLoss, Policy
from dev.rehearse.function import Answer
from dev.rehearse_deploy import function_log, report
from dev.rehearse_deploy.function_log import error_lines
from dev.rehearse_deploy.git_base import Base, GitError, resolve_base
from dev.rehearse_deploy.lock_waits import LockWaitSampler
from dev.rehearse_deploy.long_transaction import LongTransaction, all_tables
from dev.rehearse_deploy.plan import phases
from dev.rehearse_deploy.router import RECEIVED_AT, Router
from dev.rehearse_deploy.run import DeployRun, Migration, Options, PhaseRun, place_in_phases
from dev.rehearse_deploy.traffic import Call, LoadGenerator, Outcome, Record, answered
from tests.support.git_repo import git

# -- phases ----------------------------------------------------------------------------------------------------------


def test_update_first_serves_the_new_code_on_the_old_schema_before_migrating() -> None:
    plan = phases("update-first")
    assert [p.name for p in plan] == ["before", "update", "migrate", "after", "rollback", "restored"]
    update = plan[1]
    assert (update.code, update.schema, update.switch_to) == ("new", "base", "new")
    assert [p.migrate for p in plan] == [None, None, "upgrade", None, "downgrade", None]


def test_migrate_first_migrates_while_the_old_code_serves() -> None:
    plan = phases("migrate-first")
    assert [p.name for p in plan] == ["before", "migrate", "after", "rollback", "restored"]
    assert (plan[1].code, plan[1].migrate, plan[1].hold) == ("base", "upgrade", True)
    assert plan[2].switch_to == "new"
    with pytest.raises(ValueError, match="update-first, migrate-first"):
        phases("big-bang")


# -- the function's error line ---------------------------------------------------------------------------------------

CONSOLE = """\
START RequestId: ok-1 Version: $LATEST
[INFO] 2026-12-05 GET /channels 200
END RequestId: ok-1
REPORT RequestId: ok-1\tDuration: 3.00 ms
START RequestId: bad-2 Version: $LATEST
[ERROR] Exception on /channels/UC1/videos [GET]
Traceback (most recent call last):
  File "/app/yt_pubsub_handler/api.py", line 70, in list_videos
psycopg2.errors.UndefinedColumn: column videos.view_count does not exist
LINE 1: ...

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn) column videos.view_count does not exist
LINE 1: SELECT videos.id, videos.view_count FROM videos
[SQL: SELECT videos.id FROM videos]
(Background on this error at: https://sqlalche.me/e/20/f405)
END RequestId: bad-2
REPORT RequestId: bad-2\tDuration: 9.00 ms
"""


def test_the_error_line_is_the_last_one_of_the_invocations_traceback() -> None:
    found = error_lines(CONSOLE)
    assert found == {
        "bad-2": "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn) column videos.view_count "
        "does not exist"
    }


def test_a_failed_request_takes_its_invocations_error_line_after_the_run(tmp_path: Path) -> None:
    console = tmp_path / "emulator-new.log"
    console.write_text(CONSOLE)
    failed = Record(1.0, "GET /channels/<id>/videos", 500, 9.0, "bad-2", "HTTP 500: <html>")
    answered_ok = Record(1.1, "GET /channels", 200, 3.0, "ok-1", None)
    unknown = Record(1.2, "GET /channels", 502, 3.0, "elsewhere", "HTTP 502: bad gateway")
    function_log.attach([failed, answered_ok, unknown], [console, tmp_path / "missing.log"])
    assert failed.error.startswith("sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn)")
    assert answered_ok.error is None and unknown.error == "HTTP 502: bad gateway"


# -- the verdict and report.json -------------------------------------------------------------------------------------


def _record(phase: str, at: float, status: int | None = 200, route: str = "GET /channels", error: str | None = None):
    record = Record(at, route, status, 10.0 + at, f"req-{phase}-{at}", error, at)
    record.phase = phase
    return record


def _run(
    order: str, records: list[Record], tmp_path: Path, waits=(), migration_error: str | None = None, losses=()
) -> DeployRun:
    runs, start = [], 0.0
    for phase in phases(order):
        run = PhaseRun(phase, start, start + 2.0)
        if phase.migrate:
            migrated = {"steps": [{"revision": "abc"}], "retries": [], "data_loss": list(losses)}
            result = {"result": migrated, "holds": [], "pids": [1]}
            answer = Answer(migration_error is None, result, None, None, 120.0, 90)
            if migration_error:
                answer = Answer(False, None, "MigrationFailed", migration_error, 120.0, 90)
            run.migration = Migration(phase.migrate, phase.name, start, start + 0.2, answer)
        runs.append(run)
        start += 2.0
    place_in_phases(records, runs)
    options = Options(project_dir=tmp_path, out_dir=tmp_path, order=order)
    policy = Policy(Path("policy.toml"), 2000.0)
    return DeployRun(options, Base("HEAD~1", "f" * 40), "base1", "abc", policy, runs, records, list(waits), None)


def test_errors_in_the_update_window_say_split_the_change(tmp_path: Path) -> None:
    error = "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn) column videos.view_count does not exist"
    records = [_record("before", 1.0), _record("update", 2.5, 500, "GET /channels/<id>/videos", error)]
    records += [_record("update", 3.0, 500, "GET /channels/<id>/videos", error), _record("after", 7.0)]
    run = _run("update-first", records, tmp_path)
    stats = report.phase_stats(run)
    result = report.verdict(run, stats)
    assert not result.safe
    assert "new code on the old schema: phase update failed 2 of 2 requests over 0.5 s" in result.text
    assert "column videos.view_count does not exist" in result.text and report.FIX_NEW_ON_OLD in result.text
    update = next(s for s in stats if s.name == "update")
    assert (update.errors, update.errors_by_route, update.first_error) == (2, {"GET /channels/<id>/videos": 2}, error)


def test_errors_of_the_old_code_on_the_new_schema_say_expand_contract(tmp_path: Path) -> None:
    error = "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn) column videos.link does not exist"
    run = _run("migrate-first", [_record("migrate", 2.5, 500, error=error)], tmp_path)
    result = report.verdict(run, report.phase_stats(run))
    assert "old code on the new schema: phase migrate failed" in result.text and report.FIX_OLD_ON_NEW in result.text


def test_an_app_lock_wait_over_the_ceiling_fails_and_the_migrations_own_does_not(tmp_path: Path) -> None:
    from dev.rehearse_deploy.lock_waits import LockWait

    app = LockWait(7, "t1", 2500.0, "AccessShareLock", "videos", "SELECT videos.id FROM videos", 4.5, 4.9)
    migration = LockWait(1, "t2", 9000.0, "AccessExclusiveLock", "videos", "ALTER TABLE videos", 4.0, 4.1)
    run = _run("update-first", [_record("migrate", 4.5)], tmp_path, waits=[app, migration])
    stats = report.phase_stats(run)
    assert next(s for s in stats if s.name == "migrate").max_lock_wait_ms == 2500.0
    result = report.verdict(run, stats)
    assert not result.safe and "waited 2.5 s for a lock, over the project's ceiling of 2 s" in result.text
    assert report.FIX_LOCKS in result.text
    run.waits = [migration]  # the migration waiting behind a long transaction is what retries are for
    assert report.verdict(run, report.phase_stats(run)).safe


def test_a_failed_migration_is_not_safe(tmp_path: Path) -> None:
    run = _run("update-first", [_record("before", 1.0)], tmp_path, migration_error="upgrade failed in revision abc")
    result = report.verdict(run, report.phase_stats(run))
    assert not result.safe and "the upgrade failed in phase migrate: MigrationFailed" in result.text


def test_data_loss_is_said_and_fails_unless_declared(tmp_path: Path) -> None:
    loss = {
        "revision": "abc",
        "direction": "upgrade",
        "table": "videos",
        "column": "link",
        "message": "revision abc (upgrade) dropped videos.link holding 15 non-null values (data loss)",
        "fix": "it looks like a rename of link to watch_url: write op.alter_column(...)",
    }
    run = _run("update-first", [_record("before", 1.0)], tmp_path, losses=[loss])
    result = report.verdict(run, report.phase_stats(run))
    assert not result.safe and "data loss: revision abc (upgrade) dropped videos.link holding 15" in result.text
    assert "WARNING: data loss: revision abc" in "\n".join(report._migration_lines(run))
    run.policy = Policy(Path("policy.toml"), 2000.0, (DeclaredLoss("abc", "upgrade", "videos.link", "archived"),))
    assert report.verdict(run, report.phase_stats(run)).safe


def test_report_json_has_the_agreed_shape(tmp_path: Path) -> None:
    records = [_record(p.name, 0.5 + 2 * i) for i, p in enumerate(phases("update-first"))]
    run = _run("update-first", records, tmp_path)
    _stats, result = report.write(run, tmp_path, "timeline.png")
    data = json.loads((tmp_path / "report.json").read_text())
    assert result.safe and data["safe"] is True and data["verdict"] == result.text
    assert isinstance(data["base"], str) and data["order"] == "update-first"
    assert set(data["migration"]) >= {"revisions", "retries", "seconds"}
    assert data["migration"]["revisions"] == ["abc"] and isinstance(data["migration"]["seconds"], float)
    keys = {"name", "seconds", "requests", "errors", "errors_by_route", "first_error", "p50_ms", "p99_ms", "max_ms"}
    for phase in data["phases"]:
        assert set(phase) >= keys | {"max_lock_wait_ms"}
        assert phase["requests"] == 1 and phase["first_error"] is None
        assert all(isinstance(phase[k], float) for k in ("seconds", "p50_ms", "p99_ms", "max_ms", "max_lock_wait_ms"))
    assert "| before | base code, base schema |" in (tmp_path / "report.md").read_text()


def test_percentiles_are_latencies_some_request_had() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (report._percentile(values, 50), report._percentile(values, 99)) == (50.0, 99.0)
    assert report._percentile([7.0], 99) == 7.0 and report._percentile([], 50) == 0.0


def test_a_request_counts_in_the_phase_production_received_it_in(tmp_path: Path) -> None:
    sent_before_switch = Record(1.99, "POST /websub/<id> (via the hub)", 500, 30.0, "r1", None, received=2.01)
    never_arrived = Record(3.0, "GET /channels", None, 1.0, None, "no answer", None)
    run = _run("update-first", [sent_before_switch, never_arrived], tmp_path)
    assert [r.phase for r in run.records] == ["update", "update"]


# -- the router ------------------------------------------------------------------------------------------------------


class _Upstream:
    def __init__(self, name: str) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"{outer.name} {self.path}".encode()
                self.send_response(200)
                self.send_header("x-amzn-RequestId", f"{outer.name}-1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.name = name
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams() -> Iterator[tuple[_Upstream, _Upstream]]:
    pair = (_Upstream("base"), _Upstream("new"))
    yield pair
    for upstream in pair:
        upstream.close()


def test_the_router_forwards_to_the_live_version_and_stamps_when_it_received(upstreams) -> None:
    base, new = upstreams
    with Router(clock=lambda: 12.5) as router:
        assert router.switch(base.url, "base") == 12.5, "a switch says when it happened"
        first = httpx.get(f"{router.url}/channels?limit=1", trust_env=False)
        router.switch(new.url, "new")
        second = httpx.get(f"{router.url}/channels", trust_env=False)
    assert (first.text, second.text) == ("base /channels?limit=1", "new /channels")
    assert first.headers[RECEIVED_AT] == "12.5000" and answered(second).received_at == 12.5
    assert answered(second).request_id == "new-1" and router.live == "new"


def test_the_router_says_when_the_live_version_does_not_answer(upstreams) -> None:
    base, _ = upstreams
    with Router() as router:
        router.switch(base.url, "base")
        base.close()
        answer = httpx.get(f"{router.url}/health", trust_env=False)
    assert answer.status_code == 502 and "gave no answer" in answer.text


# -- the generator ---------------------------------------------------------------------------------------------------


def test_the_generator_is_open_loop_a_stalled_answer_does_not_hold_the_next_request() -> None:
    """The first request is answered only once a later one has arrived: a generator that waited for each answer
    before sending the next would never finish."""
    arrived = threading.Event()
    count = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            count["n"] += 1
            if count["n"] == 1:
                assert arrived.wait(30), "no second request while the first waited"
            else:
                arrived.set()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    class Profile:
        def setup(self) -> None:
            pass

        def next_call(self) -> Call:
            async def send(http: httpx.AsyncClient) -> Outcome:
                return Outcome((await http.get(url)).status_code)

            return Call("GET /", send)

    started = time.monotonic()
    generator = LoadGenerator(Profile(), rate=50, clock=lambda: time.monotonic() - started).start()
    assert arrived.wait(30)
    records = generator.stop()
    server.shutdown()
    server.server_close()
    first = min(records, key=lambda r: r.sent)
    assert first.status == 200 and len(records) >= 2
    assert any(r.sent > first.sent and r.sent < first.sent + first.ms / 1000 for r in records)


def test_the_apps_traffic_mixes_reads_notifications_and_verifications_in_a_fixed_order() -> None:
    def one_run() -> list[str]:
        traffic = AppTraffic("http://api", "http://hub", invoke=lambda fn, payload: None)
        traffic.topics = dict.fromkeys(traffic.channel_ids, "https://topic")
        return [traffic.next_call().route for _ in range(len(MIX) * 3)]

    routes = one_run()
    assert routes == one_run(), "the same rehearsal sends the same requests"
    assert {route: routes.count(route) for route in set(routes)} == {
        "GET /channels": 6,
        "GET /channels/<id>/videos": 12,
        "POST /websub/<id> (via the hub)": 9,
        "GET /websub/<id> (verification)": 3,
    }


# -- BASE from git ---------------------------------------------------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "file.txt").write_text("1\n")
    git(repo, "add", "file.txt")
    git(repo, "commit", "-qm", "commit 1")
    (repo / "file.txt").write_text("2\n")
    git(repo, "commit", "-qam", "commit 2")
    return repo


def test_base_is_the_merge_base_with_main_on_a_branch(history: Path) -> None:
    fork = git(history, "rev-parse", "HEAD")
    git(history, "checkout", "-q", "-b", "feature")
    (history / "file.txt").write_text("feature\n")
    git(history, "commit", "-qam", "feature")
    assert resolve_base(history) == Base("merge base with main", fork)


def test_base_on_main_is_head_with_changes_and_the_commit_before_without(history: Path) -> None:
    head, before = git(history, "rev-parse", "HEAD"), git(history, "rev-parse", "HEAD~1")
    assert resolve_base(history) == Base("HEAD~1", before)
    (history / "file.txt").write_text("being changed\n")
    assert resolve_base(history) == Base("merge base with main", head)
    assert resolve_base(history, "HEAD~1").commit == before


def test_a_base_that_is_not_a_commit_says_what_to_pass(history: Path, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="BASE=<branch, tag or commit>"):
        resolve_base(history, "no-such-ref")
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match="not a git checkout"):
        resolve_base(tmp_path / "plain")


# -- on PostgreSQL: the sampler and the long transaction -------------------------------------------------------------


@pytest.fixture
def two_tables(database_url: str) -> str:
    with postgres.connect(database_url) as conn:
        conn.execute(sa.text("CREATE TABLE videos (id int); CREATE TABLE channels (id int)"))
        conn.commit()
    return database_url


def _lock_waiter(url: str, sql: str) -> threading.Thread:
    def run() -> None:
        with postgres.connect(url) as conn:
            conn.execute(sa.text("SET lock_timeout = '20s'"))
            with contextlib.suppress(sa.exc.OperationalError):
                conn.execute(sa.text(sql))
            conn.rollback()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_sampler_reads_how_long_a_query_waited_from_the_server(two_tables: str) -> None:
    started = time.monotonic()
    sampler = LockWaitSampler(two_tables, lambda: time.monotonic() - started).start()
    holder = LongTransaction(two_tables, ["videos"], seconds=60).start()
    assert holder.error is None and holder.describe() == "videos"
    waiter = _lock_waiter(two_tables, "ALTER TABLE videos ADD COLUMN n int")
    deadline = time.monotonic() + 60
    while not any(w.waited_ms > 300 for w in sampler.waits.values()):
        assert time.monotonic() < deadline, "the wait was never seen"
        time.sleep(0.02)
    holder.end_now()
    waiter.join(30)
    waits = sampler.stop()
    (wait,) = [w for w in waits if w.what == "videos"]
    assert wait.mode == "AccessExclusiveLock" and "ALTER TABLE videos" in wait.query and wait.waited_ms > 300
    assert wait.pid != holder.pid and wait.first_seen <= wait.last_seen


def test_the_long_transaction_holds_every_table_as_a_backup_does(two_tables: str) -> None:
    tables = all_tables(two_tables)
    assert tables == ["channels", "videos"]
    holder = LongTransaction(two_tables, tables, seconds=60).start()
    try:
        with postgres.connect(two_tables) as conn:
            conn.execute(sa.text("SET lock_timeout = '200ms'"))
            for table in tables:
                with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN n int"))
                conn.rollback()
                conn.execute(sa.text("SET lock_timeout = '200ms'"))
            assert conn.execute(sa.text("SELECT count(*) FROM videos")).scalar() == 0, "reads are not blocked"
    finally:
        holder.end_now()
    assert holder.describe() == "every table (channels, videos)"

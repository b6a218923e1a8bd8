"""One rehearsal: at each row count, a scratch database seeded revision by revision and migrated through Lambda.

For every row count (a few, up to N, so durations can be fitted against rows):

1. a scratch database, and an emulator serving the project's function on it under the rehearsed stage's limits
   (:mod:`.function`), warmed by one call so a cold start is not counted against a revision;
2. for each revision, oldest first: the tables that exist and are empty are filled with that many rows and
   analysed (the lock report's ``seed_and_analyze``, ``dev/table_seeder/``), then ``run.run_alembic_upgrade`` runs
   that one revision (``{"revision": id}``) inside the Lambda worker, measured there by :mod:`.probe` (blocking
   locks, commits), with Lambda's REPORT giving duration and peak memory;
3. when an invocation does not finish (Lambda's timeout killed it, or the migrator stopped it just before): the
   database is checked once the killed worker's sessions are gone (revision, sessions, locks, advisory locks,
   invalid indexes, unvalidated constraints), then the same revision is invoked again, warm, up to
   ``MAX_RESUMES`` times, as an operator would.

Nothing here talks to AWS: the limits come from ``zappa_settings.json`` (:mod:`.function`), the database is a scratch
one on a local server (:mod:`dev.guard` refuses any other), and the function runs in the emulator.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dev import postgres
from dev.guard import check_database_url
from dev.lock_report import MODE_RANK, LockHold
from dev.migration_policy import Policy, undeclared
from dev.migration_policy import load as load_policy
from dev.table_seeder import ProgressFn, seed_and_analyze

from .function import Answer, Function, Limits, started

UPGRADE = "run.run_alembic_upgrade"
MAX_RESUMES = 3
SETTLE_SECONDS = 60.0  # how long a killed worker's sessions may take to end (they end when its sockets close)
TICK_SECONDS = 5.0

Echo = Callable[[str], None]


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def row_counts(rows: int, points: int = 3) -> list[int]:
    """``points`` row counts up to ``rows``, evenly spaced on a log scale over one decade (N/10 ... N): wide enough
    apart for a fit, small enough that the smaller ones cost little next to N."""
    if rows < 1 or points < 1:
        raise ValueError(f"rows and points must be at least 1, got rows={rows}, points={points}")
    if points == 1:
        return [rows]
    counts = {max(1, round(rows / 10 ** (1 - i / (points - 1)))) for i in range(points)}
    return sorted(counts)


# -- what one invocation of one revision showed ------------------------------------------------------------------


@dataclass(frozen=True)
class AfterStop:
    """The database once an invocation was killed (or stopped) mid-revision and its sessions had ended."""

    killed: bool  # Lambda's timeout (else the migrator stopped the revision itself, just before)
    revision: str | None  # alembic_version now
    expected: str | None  # the last revision committed before the stopped one
    sessions: tuple[tuple[int, str, str], ...]  # other sessions still on the database: (pid, state, query)
    advisory_locks: int
    table_locks: tuple[str, ...]  # "mode on table" held by other sessions
    invalid_indexes: tuple[str, ...]
    unvalidated_constraints: tuple[str, ...]

    @property
    def consistent(self) -> bool:
        """At the last committed revision, with nothing running, locked or half-built."""
        # A killed worker's sessions must be gone; a live worker (the migrator stopped itself) may keep idle ones.
        busy = self.sessions if self.killed else [s for s in self.sessions if s[1] != "idle"]
        return (
            self.revision == self.expected
            and not busy
            and not self.advisory_locks
            and not self.table_locks
            and not self.invalid_indexes
        )

    def describe(self) -> str:
        where = "the last committed revision" if self.revision == self.expected else f"NOT {self.expected or 'base'}"
        parts = [f"at {self.revision or 'base'} ({where})"]
        listed = "; ".join(f"pid {pid} {state}: {query}" for pid, state, query in self.sessions)
        parts.append(f"{len(self.sessions)} other session(s)" + (f" ({listed})" if listed else ""))
        parts.append(f"{self.advisory_locks} advisory lock(s)")
        parts.append("table locks: " + (", ".join(self.table_locks) or "none"))
        parts.append("invalid indexes: " + (", ".join(self.invalid_indexes) or "none"))
        if self.unvalidated_constraints:  # left for the revision's rerun to drop or validate
            parts.append("NOT VALID constraints: " + ", ".join(self.unvalidated_constraints))
        return ", ".join(parts)


@dataclass
class Step:
    """One revision at one row count: the invocation that ran it, or the ones it took."""

    revision: str
    message: str
    rows: int
    duration_ms: float | None = None  # Lambda's Duration of the invocation that finished it in one go
    peak_mb: int | None = None
    holds: list[LockHold] = field(default_factory=list)
    commits: int | None = None
    error: str | None = None  # a failure that is not a timeout: the rehearsal stops there
    stopped: Answer | None = None  # the first invocation, when it did not finish
    after_stop: AfterStop | None = None
    resumes: list[Answer] = field(default_factory=list)
    losses: list[dict[str, Any]] = field(default_factory=list)  # what it destroyed (the migrator's data_loss)

    @property
    def finished_in_one(self) -> bool:
        return self.duration_ms is not None and self.stopped is None

    @property
    def finished(self) -> bool:
        return self.finished_in_one or any(answer.ok for answer in self.resumes)

    @property
    def longest(self) -> LockHold | None:
        return max(self.holds, key=lambda h: (h.hold_ms, MODE_RANK[h.mode]), default=None)


@dataclass
class Rehearsal:
    limits: Limits
    rows: list[int]
    steps: list[Step] = field(default_factory=list)
    policy: Policy | None = None  # migrations/policy.toml: the data losses declared on purpose

    def undeclared_losses(self) -> list[dict[str, Any]]:
        """What a revision destroyed at the largest row count it ran that the policy does not declare."""
        largest: dict[str, Step] = {}
        for step in self.steps:
            if step.revision not in largest or step.rows > largest[step.revision].rows:
                largest[step.revision] = step
        losses = [loss for step in largest.values() for loss in step.losses]
        return undeclared(losses, self.policy) if self.policy is not None else losses

    def at(self, rows: int) -> list[Step]:
        return [s for s in self.steps if s.rows == rows]

    def revisions(self) -> list[tuple[str, str]]:
        """(revision, message), oldest first, as the largest row count ran them."""
        seen: dict[str, str] = {}
        for step in self.steps:
            seen.setdefault(step.revision, step.message)
        return list(seen.items())

    def step(self, revision: str, rows: int) -> Step | None:
        return next((s for s in self.steps if s.revision == revision and s.rows == rows), None)


# -- the database side -------------------------------------------------------------------------------------------


def seed(url: str, rows: int, progress: ProgressFn | None) -> dict[str, int]:
    """The database at ``url`` seeded and analysed as a measurement needs it (``seed_and_analyze``, on a connection
    of its own); also what ``make rehearse-deploy`` seeds its database with."""
    with postgres.connect(url) as conn:
        return seed_and_analyze(conn, rows, progress)


_OTHERS = "SELECT pid, state, left(query, 80) FROM pg_stat_activity WHERE datname = current_database() "
_OTHERS += "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
_ADVISORY = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
_TABLE_LOCKS = """
SELECT l.mode || ' on ' || c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid() AND l.database = (
       SELECT oid FROM pg_database WHERE datname = current_database())
"""
_INVALID_INDEXES = """
SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND NOT x.indisvalid
"""
_UNVALIDATED = """
SELECT co.conname || ' on ' || c.relname FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT co.convalidated
"""


def check_after_stop(url: str, expected: str | None, killed: bool) -> AfterStop:
    """The database after a stopped invocation. A killed worker's sessions end when its sockets close: this waits
    (up to ``SETTLE_SECONDS``) for them to be gone, and for any other session to be idle, then looks."""
    with postgres.connect(url) as conn:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            others = conn.execute(sa.text(_OTHERS)).all()
            busy = [row for row in others if killed or row[1] != "idle"]
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return AfterStop(
            killed=killed,
            revision=postgres.alembic_version(conn),
            expected=expected,
            sessions=tuple((pid, state or "", " ".join((query or "").split())) for pid, state, query in others),
            advisory_locks=conn.execute(sa.text(_ADVISORY)).scalar() or 0,
            table_locks=tuple(conn.execute(sa.text(_TABLE_LOCKS)).scalars()),
            invalid_indexes=tuple(conn.execute(sa.text(_INVALID_INDEXES)).scalars()),
            unvalidated_constraints=tuple(conn.execute(sa.text(_UNVALIDATED)).scalars()),
        )


class Ticker:
    """Progress while an invocation runs: every ``TICK_SECONDS``, the time so far and the statement the server runs."""

    def __init__(self, url: str, what: str, timeout_seconds: int, echo: Echo) -> None:
        self.url, self.what, self.timeout, self.echo = url, what, timeout_seconds, echo
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rehearse-ticker", daemon=True)

    def __enter__(self) -> Ticker:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        engine = postgres.engine(self.url)
        try:
            while not self._stop.wait(TICK_SECONDS):
                try:
                    with engine.connect() as conn:
                        active = conn.execute(sa.text(_OTHERS + " AND state = 'active'")).all()
                except sa.exc.DBAPIError:
                    active = []
                running = f": {' '.join(active[0][2].split())}" if active else ""
                seconds = time.monotonic() - self._started
                self.echo(f"  ... {self.what}: {seconds:.0f} s of {self.timeout} s{running}")
        finally:
            engine.dispose()


# -- the rehearsal -----------------------------------------------------------------------------------------------


def _holds(result: dict[str, Any]) -> list[LockHold]:
    return [LockHold(**hold) for hold in result.get("holds", [])]


def _losses(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The migrator's data_loss, inside the probe's result (the local stage counts: MIGRATION_COUNT_DATA_LOSS)."""
    return list((result.get("result") or {}).get("data_loss") or [])


def _run_revision(
    fn: Function, url: str, revision: str, message: str, rows: int, previous: str | None, echo: Echo
) -> Step:
    step = Step(revision, message, rows)
    what = f"upgrade {revision} at {rows:,} rows"
    with Ticker(url, what, fn.limits.timeout_seconds, echo):
        answer = fn.measured(UPGRADE, {"revision": revision})
    if answer.ok:
        step.duration_ms, step.peak_mb = answer.duration_ms, answer.peak_mb
        step.holds, step.commits = _holds(answer.result), answer.result.get("commits")
        step.losses = _losses(answer.result)
        echo(f"{what}: {(answer.duration_ms or 0) / 1000:.2f} s, peak {answer.peak_mb} MB")
        for loss in step.losses:
            echo(f"  WARNING: data loss: {loss['message']}")
        return step
    if not (answer.killed or answer.error_type == "MigrationTimedOut"):
        step.error = f"{answer.error_type}: {answer.error_message}"
        echo(f"{what}: FAILED: {step.error}")
        return step
    step.stopped = answer
    how = "KILLED by Lambda's timeout" if answer.killed else "STOPPED by the migrator before Lambda's timeout"
    echo(f"{what}: {how} after {(answer.duration_ms or 0) / 1000:.2f} s: {answer.error_message}")
    step.after_stop = check_after_stop(url, previous, answer.killed)
    echo(f"  the database then: {step.after_stop.describe()}")
    for attempt in range(1, MAX_RESUMES + 1):
        fn.warm()
        with Ticker(url, f"{what}, invocation {attempt + 1}", fn.limits.timeout_seconds, echo):
            again = fn.measured(UPGRADE, {"revision": revision})
        step.resumes.append(again)
        seconds = (again.duration_ms or 0) / 1000
        if again.ok:
            step.holds, step.commits = _holds(again.result), again.result.get("commits")
            step.losses = _losses(again.result)
            step.peak_mb = again.peak_mb
            echo(f"  invocation {attempt + 1} finished {revision} in {seconds:.2f} s: it resumed where it stopped")
            break
        echo(f"  invocation {attempt + 1} did not finish either ({again.error_type}, {seconds:.2f} s)")
        if not (again.killed or again.error_type == "MigrationTimedOut"):
            step.error = f"{again.error_type}: {again.error_message}"
            break
    return step


def rehearse(
    project_dir: Path,
    settings: Path,
    limits: Limits,
    rows: int,
    points: int = 3,
    serve_stage: str = "local",
    database_url: str | None = None,
    migrations_dir: Path | None = None,
    work_dir: Path = Path("build/rehearse"),
    progress: ProgressFn | None = None,
    echo: Echo = to_stderr,
) -> Rehearsal:
    """Rehearse every revision of the project at ``points`` row counts up to ``rows`` (see the module docstring)."""
    rehearsal = Rehearsal(
        limits, row_counts(rows, points), policy=load_policy(migrations_dir or project_dir / "migrations")
    )
    if database_url:
        check_database_url(database_url)  # a local server only
    with postgres.server(database_url, prefix="rehearse") as server_url:
        for count in rehearsal.rows:
            echo(f"\n== {count:,} rows, {limits.describe()} ==")
            with (
                postgres.scratch(server_url, prefix="rehearse") as url,
                started(
                    project_dir, settings, serve_stage, limits, url, work_dir, migrations_dir, label=f"-{count}"
                ) as fn,
            ):
                fn.warm()
                history = fn.invoke("run.run_alembic_history")
                if not history.ok:
                    raise RuntimeError(f"run.run_alembic_history failed: {history.error_message}")
                previous = None
                for entry in history.result["revisions"]:
                    revision, message = entry["revision"], entry["message"].splitlines()[0]
                    seed(url, count, progress)
                    step = _run_revision(fn, url, revision, message, count, previous, echo)
                    rehearsal.steps.append(step)
                    if not step.finished:
                        echo(f"  {revision} did not finish: the later revisions are not rehearsed at {count:,} rows")
                        break
                    previous = revision
    return rehearsal

"""Measured locks: how long each revision blocks a populated table, at a realistic row count.

    python -m dev.lock_report --rows 1000000 [--budget-ms 100] [--no-downgrades]

A revision that is safe on an empty test database can hold ``ACCESS EXCLUSIVE`` for minutes on a production
table (a rewrite, a full-table validation, a non-concurrent index). Static lint guesses; this measures. For
every revision, base to head (then back down), the tables that exist are filled with N rows
(dev/table_seeder/), then the revision runs through the same helper Lambda uses (``yt_pubsub_handler.migrator``)
while ``LockRecorder`` watches the migrating connection from the inside. It reports, per revision, the wall time
and every hold of a lock that blocks ordinary writes (``SHARE``, ``SHARE ROW EXCLUSIVE``, ``EXCLUSIVE``,
``ACCESS EXCLUSIVE``) on a table that existed before the revision started (a table the revision creates blocks
nobody), with the statement that took it. It exits 1, naming the revision and the statement, when a hold exceeds
the budget.

The database: ``DATABASE_URL`` (or ``--database-url``) names a server; a scratch database is created on it and
dropped afterwards, so your data is never touched (the user needs CREATEDB). Without one, an embedded cluster
is started with ``dev.postgres`` in a temporary directory.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from dev.cli import run
from dev.postgres import scratch_database
from dev.table_seeder import EXCLUDED_TABLES, ProgressFn, ProgressLine, seed_and_analyze

BLOCKING_MODES = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
MODE_NAMES = {
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
MODE_RANK = {mode: rank for rank, mode in enumerate(BLOCKING_MODES)}
DEFAULT_BUDGET_MS = 100.0
STATEMENT_CHARS = 120

# Statements PostgreSQL refuses inside a transaction block (or that are transaction control themselves). They run
# as they are; their locks are gone when they return, so they are accounted for from PostgreSQL's documentation:
# the CONCURRENTLY family, plain VACUUM and ANALYZE take SHARE UPDATE EXCLUSIVE (blocks no reads or writes);
# VACUUM FULL and CLUSTER hold ACCESS EXCLUSIVE on what they rewrite for the whole statement.
_OUTSIDE_TRANSACTION = re.compile(
    r"\bCONCURRENTLY\b|^(VACUUM|ANALYZE|CLUSTER|REINDEX\s+(SYSTEM|DATABASE)|(CREATE|DROP)\s+(DATABASE|TABLESPACE)"
    r"|(CREATE|ALTER|DROP)\s+SUBSCRIPTION|ALTER\s+SYSTEM|(COMMIT|ROLLBACK)\s+PREPARED|PREPARE\s+TRANSACTION"
    r"|BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|DISCARD\s+ALL)\b",
    re.IGNORECASE,
)
_REWRITES_UNDER_ACCESS_EXCLUSIVE = re.compile(r"^(VACUUM\b[^;]*\bFULL\b|CLUSTER\b)", re.IGNORECASE)

_OWN_LOCKS = """
SELECT l.relation::bigint, l.mode FROM pg_locks l
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
   AND l.mode = ANY(%s) AND l.relation = ANY(%s::oid[])
"""


def _sql_text(statement: str) -> str:
    """The statement without leading comments, on one line."""
    lines = [line for line in statement.strip().splitlines() if not line.strip().startswith("--")]
    return " ".join(" ".join(lines).split())


def _short(statement: str) -> str:
    text = _sql_text(statement)
    return text if len(text) <= STATEMENT_CHARS else text[: STATEMENT_CHARS - 3] + "..."


@dataclass(frozen=True)
class LockHold:
    """One blocking lock on one table: taken by ``statement``, held for ``hold_ms`` (statement start to release).

    The hold counts from the start of the statement that took the lock, so it includes any time that statement
    waited for it (behind another transaction, or behind autovacuum, which PostgreSQL cancels only after
    ``deadlock_timeout``): a queued ACCESS EXCLUSIVE request already blocks every query that arrives after it.
    ``statement_ms`` is how long that statement itself ran (its wait, scan or rewrite), the rest of the hold is
    the time up to COMMIT.
    """

    table: str
    mode: str  # as pg_locks spells it, e.g. "AccessExclusiveLock"
    statement: str
    hold_ms: float
    statement_ms: float = 0.0

    @property
    def mode_name(self) -> str:
        return MODE_NAMES.get(self.mode, self.mode)


@dataclass
class _ConnectionState:
    started: float = 0.0
    statement: str = ""
    wrapped: bool = False  # we opened a transaction around an autocommit statement
    # (table, mode) -> (since, statement, how long that statement ran)
    open: dict[tuple[str, str], tuple[float, str, float]] = field(default_factory=dict)


class LockRecorder:
    """Measures, from inside every connection of ``engine``, the blocking locks it holds on ``tables``.

    After each statement (``after_cursor_execute``) the connection reads its own granted locks from ``pg_locks``
    (``pid = pg_backend_pid()``), so no hold is too short to see. A lock taken inside a transaction is held until
    the transaction ends, so a hold runs from the start of the statement after which it was first seen to the
    moment COMMIT or ROLLBACK is issued (SQLAlchemy's ``commit``/``rollback`` events): exact, whatever the load
    on the machine, short only of the COMMIT's own round trip. A statement in an autocommit block would release
    its locks before they could be read, so it is run inside ``BEGIN`` ... ``COMMIT`` of its own (what PostgreSQL
    does implicitly for a lone statement anyway) and measured per statement, up to its COMMIT's return; the few
    statements PostgreSQL refuses in a transaction block run unchanged (see ``_OUTSIDE_TRANSACTION``).

    ``tables`` maps the OIDs of the tables that existed before the revision to their names.
    """

    def __init__(self, engine: Engine, tables: dict[int, str]):
        self.tables = tables
        self.holds: list[LockHold] = []
        self._states: dict[int, _ConnectionState] = {}
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = [
            (engine, "before_cursor_execute", self._before),
            (engine, "after_cursor_execute", self._after),
            (engine, "commit", self._ended),
            (engine, "rollback", self._ended),
            (engine, "handle_error", self._failed),
        ]

    def __enter__(self) -> LockRecorder:
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)
        return self

    def __exit__(self, *exc: object) -> None:
        for target, name, fn in self._listeners:
            event.remove(target, name, fn)
        now = time.perf_counter()
        for state in self._states.values():  # a connection that never ended its transaction (an error path)
            self._close(state, now)

    # -- events ------------------------------------------------------------------------------------------------
    def _state(self, dbapi_connection: Any) -> _ConnectionState:
        return self._states.setdefault(id(dbapi_connection), _ConnectionState())

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        dbapi = cursor.connection
        state = self._state(dbapi)
        state.statement = statement
        if getattr(dbapi, "autocommit", False) and not _OUTSIDE_TRANSACTION.search(_sql_text(statement)):
            self._raw(dbapi, "BEGIN")
            state.wrapped = True
        state.started = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        dbapi = cursor.connection
        state = self._state(dbapi)
        ran_ms = (time.perf_counter() - state.started) * 1000
        outside = getattr(dbapi, "autocommit", False) and not state.wrapped
        if outside:
            self._documented_locks(state, time.perf_counter())
            return
        for oid, mode in self._raw(dbapi, _OWN_LOCKS, (list(BLOCKING_MODES), list(self.tables))):
            state.open.setdefault((self.tables[oid], mode), (state.started, statement, ran_ms))
        if state.wrapped:
            self._raw(dbapi, "COMMIT")
            state.wrapped = False
            self._close(state, time.perf_counter())

    def _ended(self, conn: Connection) -> None:
        self._close(self._state(conn.connection.dbapi_connection), time.perf_counter())

    def _failed(self, context: Any) -> None:
        if context.connection is None or context.connection.closed:
            return
        dbapi = context.connection.connection.dbapi_connection
        state = self._state(dbapi)
        if state.wrapped:
            self._raw(dbapi, "ROLLBACK")
            state.wrapped = False
            self._close(state, time.perf_counter())

    # -- helpers -----------------------------------------------------------------------------------------------
    @staticmethod
    def _raw(dbapi: Any, sql: str, params: tuple | None = None) -> list[tuple]:
        """Run on the DBAPI connection itself: no SQLAlchemy events fire, the statement under watch is untouched."""
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()

    def _close(self, state: _ConnectionState, now: float) -> None:
        for (table, mode), (since, statement, ran_ms) in state.open.items():
            self.holds.append(LockHold(table, mode, _short(statement), (now - since) * 1000, ran_ms))
        state.open.clear()

    def _documented_locks(self, state: _ConnectionState, now: float) -> None:
        text = _sql_text(state.statement)
        if not _REWRITES_UNDER_ACCESS_EXCLUSIVE.match(text):
            return
        named = [t for t in self.tables.values() if re.search(rf'(?<![\w"]){re.escape(t)}(?![\w"])|"{t}"', text)]
        ran_ms = (now - state.started) * 1000
        for table in named or sorted(self.tables.values()):  # a bare VACUUM FULL / CLUSTER rewrites them all
            self.holds.append(LockHold(table, "AccessExclusiveLock", _short(text), ran_ms, ran_ms))


# -- the report --------------------------------------------------------------------------------------------------


@dataclass
class StepReport:
    revision: str
    direction: str
    message: str
    duration_ms: float
    holds: list[LockHold]

    @property
    def longest(self) -> LockHold | None:
        return max(self.holds, key=lambda h: (h.hold_ms, MODE_RANK[h.mode]), default=None)

    @property
    def max_hold_ms(self) -> float:
        return self.longest.hold_ms if self.longest else 0.0

    @property
    def blocking_locks(self) -> frozenset[tuple[str, str]]:
        """Which blocking locks the revision takes, as (table, mode): what must not depend on the row count."""
        return frozenset((h.table, h.mode) for h in self.holds)


def existing_tables(conn: Connection) -> dict[int, str]:
    """OID -> name of the tables a revision finds: the ones whose blocking locks count (see LockRecorder)."""
    sql = "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    sql += " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> ALL(:excluded)"
    return dict(conn.execute(sa.text(sql), {"excluded": list(EXCLUDED_TABLES)}).all())


def measure_revisions(
    app: Any,
    rows: int,
    downgrades: bool = True,
    progress: ProgressFn | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[StepReport]:
    """Run every revision of ``app``'s history, base to head (then back), on an empty database, measuring locks.

    The app's database must be empty (at base): rows are seeded before each revision into the tables that exist.
    """
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    with app.app_context():
        history = migrator.history()
        if history["current"] is not None:
            raise RuntimeError(
                f"the database is at {history['current']}, not empty: the lock report needs a scratch database "
                "(it creates one itself)"
            )
        chain = [(r["revision"], r["down_revision"], r["message"].splitlines()[0]) for r in history["revisions"]]
        reports: list[StepReport] = []

        def run(revision: str, direction: str, message: str, target: str) -> None:
            with db.engine.connect() as conn:
                if direction == "upgrade":
                    seed_and_analyze(conn, rows, progress)
                tables = existing_tables(conn)
            if echo:
                echo(f"{direction} {revision} ({message}) ...")
            started = time.perf_counter()
            with LockRecorder(db.engine, tables) as recorder:
                if direction == "upgrade":
                    migrator.upgrade(revision=target)
                else:
                    migrator.downgrade(revision=target)
            duration = (time.perf_counter() - started) * 1000
            reports.append(StepReport(revision, direction, message, duration, recorder.holds))

        for revision, _down, message in chain:
            run(revision, "upgrade", message, revision)
        if downgrades:
            for revision, down, message in reversed(chain):
                run(revision, "downgrade", message, down or "base")
    return reports


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def format_table(reports: list[StepReport], budget_ms: float) -> str:
    """The report as a fixed-width table, one line per revision and direction, then every hold with its statement."""
    header = ("revision", "direction", "message", "duration ms", "max blocking hold ms", "lock mode (table)", "")
    lines = []
    for r in reports:
        over = "OVER BUDGET" if r.max_hold_ms > budget_ms else ""
        lock = f"{r.longest.mode_name} ({r.longest.table})" if r.longest else "-"
        msg = r.message if len(r.message) <= 48 else r.message[:45] + "..."
        lines.append((r.revision, r.direction, msg, f"{r.duration_ms:.1f}", _ms(r.max_hold_ms), lock, over))
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    right = {3, 4}

    def fmt(row: tuple) -> str:
        cells = [
            str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    table = [fmt(header), fmt(tuple("-" * w for w in widths)), *(fmt(row) for row in lines)]
    details = [
        f"{r.revision} {r.direction:<9} {h.mode_name} on {h.table} for {_ms(h.hold_ms)} ms "
        f"(statement {_ms(h.statement_ms)} ms), taken by: {h.statement}"
        for r in reports
        for h in sorted(r.holds, key=lambda h: -h.hold_ms)
    ]
    if details:
        table += ["", "Blocking locks, longest first per revision, with the statement that took each:", *details]
    return "\n".join(table)


def over_budget(reports: list[StepReport], budget_ms: float) -> list[StepReport]:
    return [r for r in reports if r.max_hold_ms > budget_ms]


def budget_error(report: StepReport, budget_ms: float) -> str:
    """What to tell the author of a revision over budget: which lock, which statement, how to split it."""
    hold = report.longest
    assert hold is not None
    return (
        f"revision {report.revision} ({report.direction}: {report.message}) held {hold.mode_name} on {hold.table} "
        f"for {hold.hold_ms:.0f} ms, over the {budget_ms:g} ms budget; the lock was taken by `{hold.statement}`, "
        f"which itself ran {hold.statement_ms:.0f} ms (a scan, a rewrite, or waiting for the lock). "
        "Split the revision so no step rewrites or scans the table under that lock (add columns nullable, backfill "
        "in batches, NOT VALID + VALIDATE, CREATE INDEX CONCURRENTLY), then run the report again."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.lock_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table (default: %(default)s)")
    parser.add_argument("--budget-ms", type=float, default=DEFAULT_BUDGET_MS, help="max blocking hold per revision")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="server to use (a scratch database is created on it); default $DATABASE_URL, else an embedded cluster",
    )
    parser.add_argument("--migrations-dir", default=None, help="migrations directory (default: the project's)")
    parser.add_argument("--no-downgrades", action="store_true", help="measure upgrades only")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its URL is printed)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    from yt_pubsub_handler import create_app
    from yt_pubsub_handler.extensions import db

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per revision from us is enough

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with scratch_database(args.database_url, prefix="lock_report", keep=args.keep) as url:
        overrides: dict[str, Any] = {"DATABASE_URL": url}
        if args.migrations_dir:
            overrides["MIGRATIONS_DIR"] = str(Path(args.migrations_dir).resolve())
        app = create_app(overrides)
        try:
            reports = measure_revisions(
                app, args.rows, downgrades=not args.no_downgrades, progress=ProgressLine(), echo=echo
            )
        finally:
            with app.app_context():
                db.engine.dispose()
        if args.keep:
            echo(f"kept the scratch database: {url}")
    print(
        f"\nLock report: {args.rows:,} rows, budget {args.budget_ms:g} ms of blocking locks per revision "
        "(measured inside the migrating connection)\n"
    )
    print(format_table(reports, args.budget_ms))
    bad = over_budget(reports, args.budget_ms)
    for r in bad:
        print(f"\nerror: {budget_error(r, args.budget_ms)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    run(main)

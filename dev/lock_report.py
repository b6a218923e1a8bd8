"""Measured locks: how long each revision blocks a populated table, at a realistic row count.

    python -m dev.lock_report --rows 1000000 [--budget-ms 100] [--no-downgrades]

A revision that is safe on an empty test database can hold ``ACCESS EXCLUSIVE`` for minutes on a production
table (a rewrite, a full-table validation, a non-concurrent index). Static lint guesses; this measures. For
every revision, base to head (then back down), the tables that exist are filled with N rows, then the revision
runs through the same helper Lambda uses (``yt_pubsub_handler.migrator``) while a second connection samples
``pg_locks`` every few milliseconds. It reports, per revision, the wall time and the longest continuous hold
of a lock that blocks ordinary writes (``SHARE``, ``SHARE ROW EXCLUSIVE``, ``EXCLUSIVE``, ``ACCESS EXCLUSIVE``)
on a table that existed before the revision started (a table the revision creates blocks nobody). It exits 1,
naming the revision, when a hold exceeds the budget.

The database: ``DATABASE_URL`` (or ``--database-url``) names a server; a scratch database is created on it and
dropped afterwards, so your data is never touched (the user needs CREATEDB). Without one, an embedded cluster
is started with ``dev.postgres`` in a temporary directory.

The seeder (``seed_empty_tables``) is generic: it reads the catalog and fills every empty table with
deterministic, representative values (NULLs, empty and non-ASCII strings, every enum label, valid foreign
keys), so it also serves the round-trip tests and keeps working as the schema grows.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dev.postgres import scratch_database

BLOCKING_MODES = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
MODE_NAMES = {
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
MODE_RANK = {mode: rank for rank, mode in enumerate(BLOCKING_MODES)}
DEFAULT_BUDGET_MS = 100.0
DEFAULT_INTERVAL_MS = 2.0
CHUNK_ROWS = 100_000
EXCLUDED_TABLES = ("alembic_version",)

ProgressFn = Callable[[str, int, int], None]


class SeedError(RuntimeError):
    """The seeder met a column it cannot fill; the message names it and says where to add a generator."""


# -- generic seeder ----------------------------------------------------------------------------------------------

_SEED_COLUMNS = """
SELECT c.relname AS table, a.attname AS column, a.attnum, t.typname, t.typtype, t.typcategory,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS "default", a.attidentity AS identity, a.attgenerated AS generated,
       CASE WHEN t.typcategory = 'S' AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS max_length
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.relname, a.attnum
"""

_SEED_FKS = """
SELECT c.relname AS table, a.attname AS column, rc.relname AS ref_table, ra.attname AS ref_column
  FROM pg_constraint co
  JOIN pg_class c ON c.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class rc ON rc.oid = co.confrelid
  JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = co.conkey[1]
  JOIN pg_attribute ra ON ra.attrelid = co.confrelid AND ra.attnum = co.confkey[1]
 WHERE co.contype = 'f' AND n.nspname = 'public' AND cardinality(co.conkey) = 1
"""

_SEED_UNIQUE = """
SELECT c.relname AS table, a.attname AS column
  FROM pg_index x
  JOIN pg_class c ON c.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
 WHERE n.nspname = 'public' AND x.indisunique AND x.indnatts = 1
"""

# Representative text: ordinary, empty, non-ASCII (multi-byte, emoji), SQL-ish punctuation, longest allowed.
_TEXTS = (
    "'Title ' || g",
    "''",
    "'Ünïcødé ✓ 日本語 🎬 ' || g",
    "'quote '' \" \\ % _ ' || g",
    "repeat('long ', 100) || g",
)
_INTS = {"int2": "(g % 32000)", "int4": "(ARRAY[0, 1, -1, 2147483647, 432000])[1 + g % 5]"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Table:
    name: str
    columns: list[dict[str, Any]] = field(default_factory=list)
    fks: dict[str, tuple[str, str]] = field(default_factory=dict)
    unique: set[str] = field(default_factory=set)


def _catalog(conn: Connection) -> dict[str, _Table]:
    tables: dict[str, _Table] = {}
    for row in conn.execute(sa.text(_SEED_COLUMNS)).mappings():
        if row["table"] in EXCLUDED_TABLES:
            continue
        tables.setdefault(row["table"], _Table(row["table"])).columns.append(dict(row))
    for row in conn.execute(sa.text(_SEED_FKS)).mappings():
        if row["table"] in tables:
            tables[row["table"]].fks[row["column"]] = (row["ref_table"], row["ref_column"])
    for row in conn.execute(sa.text(_SEED_UNIQUE)).mappings():
        if row["table"] in tables:
            tables[row["table"]].unique.add(row["column"])
    return tables


def _order(tables: dict[str, _Table]) -> list[str]:
    """Parents before children (self-references ignored)."""
    done: list[str] = []
    pending = dict(tables)
    while pending:
        ready = [
            name
            for name, t in sorted(pending.items())
            if all(ref == name or ref not in pending for ref, _ in t.fks.values())
        ]
        if not ready:  # a cycle: fall back to name order, nullable FKs get NULLs
            ready = sorted(pending)[:1]
        for name in ready:
            done.append(name)
            del pending[name]
    return done


def plan_counts(tables: dict[str, _Table], rows: int) -> dict[str, int]:
    """N rows in leaf tables, N/50 (at least 8) in tables others point at, no more than a unique FK allows."""
    referenced = {ref for t in tables.values() for ref, _ in t.fks.values() if ref != t.name}
    counts: dict[str, int] = {}
    for name in _order(tables):
        count = max(8, rows // 50) if name in referenced else rows
        for column, (ref, _) in tables[name].fks.items():
            if column in tables[name].unique and ref in counts:
                count = min(count, counts[ref])
        counts[name] = count
    return counts


def _expression(table: _Table, col: dict[str, Any], parents: dict[str, str]) -> str | None:
    """SQL for column ``col`` of row ``g`` (0-based), or None to leave it to its default."""
    name, typname, category = col["column"], col["typname"], col["typcategory"]
    default = col["default"] or ""
    if col["identity"] or col["generated"] or default.startswith("nextval("):
        return None
    unique = name in table.unique
    if name in table.fks:
        keys = parents[name]
        expr = f"{keys}[1 + g]" if unique else f"{keys}[1 + g % cardinality({keys})]"
    elif col["typtype"] == "e":
        expr = f"(enum_range(NULL::{col['type']}))[1 + g % cardinality(enum_range(NULL::{col['type']}))]"
    elif category == "S":
        expr = f"'{table.name}-' || g" if unique else f"(ARRAY[{', '.join(_TEXTS)}])[1 + g % {len(_TEXTS)}]"
        if col["max_length"]:
            expr = f"left({expr}, {int(col['max_length'])})"
    elif category == "N":
        if unique:
            expr = "(g + 1)"
        elif typname in _INTS:
            expr = _INTS[typname]
        elif typname == "int8":
            expr = "(ARRAY[0, 1, -1, 9223372036854775807, 432000])[1 + g % 5]"
        else:
            expr = "(g * 1.25)"
    elif category == "D":
        expr = "(timestamptz '2026-01-01 00:00:00+00' + g * interval '37 minutes 13.123456 seconds')"
    elif category == "B":
        expr = "(g % 2 = 0)"
    elif typname in ("json", "jsonb"):
        expr = "json_build_object('n', g, 'text', 'ü ✓')"
    elif typname == "uuid":
        expr = "md5(g::text)::uuid"
    elif not col["not_null"]:
        return "NULL"
    elif default:
        return None
    else:
        raise SeedError(
            f"cannot seed {table.name}.{name} of type {col['type']} (NOT NULL, no default): add a generator for "
            "its type in dev/lock_report.py::_expression"
        )
    if not col["not_null"] and not unique:
        expr = f"CASE WHEN g % 4 = 3 THEN NULL ELSE {expr} END"
    return f"({expr})::{col['type']}"


def seed_empty_tables(
    conn: Connection, rows: int, progress: ProgressFn | None = None, chunk: int = CHUNK_ROWS
) -> dict[str, int]:
    """Fill every empty user table with deterministic rows; returns {table: rows inserted}.

    Only empty tables are touched, so calling it before every revision tops up exactly the tables that
    revision's predecessor created. Commits after each chunk (the connection must not be inside a caller's
    transaction), so a 1,000,000-row seed shows progress and does not hold one huge transaction.
    """
    tables = _catalog(conn)
    counts = plan_counts(tables, rows)
    inserted: dict[str, int] = {}
    for name in _order(tables):
        table = tables[name]
        if conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {_q(name)})")).scalar():
            continue
        count = counts[name]
        ctes, parents = [], {}
        for i, (column, (ref, ref_col)) in enumerate(sorted(table.fks.items())):
            alias = f"p{i}"
            ctes.append(f"{alias} AS (SELECT array_agg({_q(ref_col)} ORDER BY {_q(ref_col)}) AS k FROM {_q(ref)})")
            parents[column] = f"{alias}.k"
            if column in table.unique:
                have = conn.execute(sa.text(f"SELECT count(*) FROM {_q(ref)}")).scalar()
                count = min(count, have)
        if any(
            col["column"] in table.fks
            and col["not_null"]
            and not conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {_q(table.fks[col['column']][0])})")).scalar()
            for col in table.columns
        ):
            continue  # its parent is empty (e.g. excluded): nothing valid to point at
        exprs = {c["column"]: _expression(table, c, parents) for c in table.columns}
        exprs = {k: v for k, v in exprs.items() if v is not None}
        columns = ", ".join(_q(c) for c in exprs)
        sources = ", ".join(["generate_series(:lo, :hi) AS g", *[f"p{i}" for i in range(len(ctes))]])
        with_clause = f"WITH {', '.join(ctes)} " if ctes else ""
        sql = sa.text(
            f"{with_clause}INSERT INTO {_q(name)} ({columns}) SELECT {', '.join(exprs.values())} FROM {sources}"
        )
        done = 0
        while done < count:
            hi = min(count, done + chunk) - 1
            conn.execute(sql, {"lo": done, "hi": hi})
            conn.commit()
            done = hi + 1
            if progress:
                progress(name, done, count)
        inserted[name] = count
    conn.commit()
    return inserted


# -- lock monitor ------------------------------------------------------------------------------------------------

_LOCKS = """
SELECT c.relname, l.mode
  FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE l.locktype = 'relation' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = %s)
   AND l.pid <> pg_backend_pid() AND n.nspname = 'public' AND c.relkind IN ('r', 'p')
   AND l.mode = ANY(%s) AND c.oid = ANY(%s) AND c.relname <> ALL(%s)
"""


@dataclass
class LockMeasure:
    """The longest continuous blocking hold seen, per table, with the strongest mode seen during it."""

    max_hold_ms: float = 0.0
    table: str | None = None
    mode: str | None = None
    samples: int = 0


class LockMonitor:
    """Samples ``pg_locks`` from its own connection in a thread while a migration runs on another."""

    def __init__(self, dsn: str, dbname: str, table_oids: list[int], interval_ms: float = DEFAULT_INTERVAL_MS):
        import psycopg2

        self._conn = psycopg2.connect(dsn)
        self._conn.autocommit = True
        self._dbname, self._oids, self._interval = dbname, table_oids, interval_ms / 1000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.result = LockMeasure()
        self.error: BaseException | None = None

    def __enter__(self) -> LockMonitor:
        self._sample()  # one sample before the migration starts, so the query plan is warm
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the loop takes one last sample, then closes any hold still open
        self._thread.join(timeout=10)
        self._conn.close()

    def _sample(self) -> set[tuple[str, str]]:
        with self._conn.cursor() as cur:
            cur.execute(_LOCKS, (self._dbname, list(BLOCKING_MODES), self._oids, list(EXCLUDED_TABLES)))
            return set(cur.fetchall())

    def _loop(self) -> None:
        # A hold is counted from the last sample that did NOT see the lock to the first one that no longer sees it:
        # an upper bound (by at most two sampling periods), which is the safe side for a budget.
        since: dict[str, tuple[float, str]] = {}  # table -> (start bound, strongest mode)
        previous = time.perf_counter()
        try:
            while True:
                stopping = self._stop.is_set()
                now = time.perf_counter()
                held = self._sample()
                self.result.samples += 1
                tables: dict[str, str] = {}
                for table, mode in held:
                    if table not in tables or MODE_RANK[mode] > MODE_RANK[tables[table]]:
                        tables[table] = mode
                for table, mode in tables.items():
                    start, strongest = since.get(table, (previous, mode))
                    if MODE_RANK[mode] > MODE_RANK[strongest]:
                        strongest = mode
                    since[table] = (start, strongest)
                for table, (start, strongest) in list(since.items()):
                    if table not in tables or stopping:
                        self._record(table, strongest, (now - start) * 1000)
                        del since[table]
                previous = now
                if stopping:
                    return
                time.sleep(self._interval)
        except BaseException as exc:  # reported by the caller; a silent monitor would report 0 ms
            self.error = exc

    def _record(self, table: str, mode: str, hold_ms: float) -> None:
        if hold_ms >= self.result.max_hold_ms:
            self.result.max_hold_ms, self.result.table, self.result.mode = hold_ms, table, mode


# -- the report --------------------------------------------------------------------------------------------------


@dataclass
class StepReport:
    revision: str
    direction: str
    message: str
    duration_ms: float
    max_hold_ms: float
    table: str | None
    mode: str | None
    samples: int

    @property
    def mode_name(self) -> str:
        return MODE_NAMES.get(self.mode or "", "-")


def _existing_table_oids(conn: Connection) -> list[int]:
    sql = "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    sql += " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
    return [r[0] for r in conn.execute(sa.text(sql))]


def _plain_dsn(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def measure_revisions(
    app: Any,
    rows: int,
    downgrades: bool = True,
    interval_ms: float = DEFAULT_INTERVAL_MS,
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
                "(it creates one itself unless you pass --no-scratch)"
            )
        chain = [(r["revision"], r["down_revision"], r["message"].splitlines()[0]) for r in history["revisions"]]
        url = db.engine.url
        reports: list[StepReport] = []

        def run(revision: str, direction: str, message: str, target: str) -> None:
            with db.engine.connect() as conn:
                if direction == "upgrade" and seed_empty_tables(conn, rows, progress):
                    # A production table has been vacuumed and analysed; a freshly loaded one would make the
                    # first scan pay for hint bits and planner guesses.
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
                oids = _existing_table_oids(conn)
            if echo:
                echo(f"{direction} {revision} ({message}) ...")
            started = time.perf_counter()
            with LockMonitor(_plain_dsn(url), url.database, oids, interval_ms) as monitor:
                if direction == "upgrade":
                    migrator.upgrade(revision=target)
                else:
                    migrator.downgrade(revision=target)
            duration = (time.perf_counter() - started) * 1000
            if monitor.error:
                raise RuntimeError(f"the lock monitor failed: {monitor.error}") from monitor.error
            m = monitor.result
            reports.append(
                StepReport(revision, direction, message, duration, m.max_hold_ms, m.table, m.mode, m.samples)
            )

        for revision, _down, message in chain:
            run(revision, "upgrade", message, revision)
        if downgrades:
            for revision, down, message in reversed(chain):
                run(revision, "downgrade", message, down or "base")
    return reports


def format_table(reports: list[StepReport], budget_ms: float) -> str:
    """The report as a fixed-width table, one line per revision and direction."""
    header = ("revision", "direction", "message", "duration ms", "max blocking hold ms", "lock mode (table)", "")
    lines = []
    for r in reports:
        over = "OVER BUDGET" if r.max_hold_ms > budget_ms else ""
        lock = f"{r.mode_name} ({r.table})" if r.table else "-"
        msg = r.message if len(r.message) <= 48 else r.message[:45] + "..."
        lines.append((r.revision, r.direction, msg, f"{r.duration_ms:.1f}", f"{r.max_hold_ms:.1f}", lock, over))
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    right = {3, 4}

    def fmt(row: tuple) -> str:
        cells = [
            str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *(fmt(row) for row in lines)])


def over_budget(reports: list[StepReport], budget_ms: float) -> list[StepReport]:
    return [r for r in reports if r.max_hold_ms > budget_ms]


class _Progress:
    """One self-overwriting line on a terminal, a line per 10% otherwise (CI logs)."""

    def __init__(self, stream: Any = sys.stderr):
        self.stream, self.tty, self._last = stream, stream.isatty(), {}

    def __call__(self, table: str, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        line = f"seeding {table}: {done:,}/{total:,} rows ({pct}%)"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total or pct // 10 > self._last.get(table, -1):
            self.stream.write(line + "\n")
        self._last[table] = pct // 10
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.lock_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table (default: %(default)s)")
    parser.add_argument("--budget-ms", type=float, default=DEFAULT_BUDGET_MS, help="max blocking hold per revision")
    parser.add_argument("--interval-ms", type=float, default=DEFAULT_INTERVAL_MS, help="pg_locks sampling interval")
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
                app,
                args.rows,
                downgrades=not args.no_downgrades,
                interval_ms=args.interval_ms,
                progress=_Progress(),
                echo=echo,
            )
        finally:
            with app.app_context():
                db.engine.dispose()
        if args.keep:
            echo(f"kept the scratch database: {url}")
    print(
        f"\nLock report: {args.rows:,} rows, budget {args.budget_ms:g} ms of blocking locks per revision "
        f"(sampled every {args.interval_ms:g} ms)\n"
    )
    print(format_table(reports, args.budget_ms))
    bad = over_budget(reports, args.budget_ms)
    if bad:
        for r in bad:
            print(
                f"\nerror: revision {r.revision} ({r.direction}: {r.message}) held {r.mode_name} on {r.table} for "
                f"{r.max_hold_ms:.0f} ms, over the {args.budget_ms:g} ms budget. Split it so no step rewrites or "
                "scans the table under that lock (add columns nullable, backfill in batches, NOT VALID + VALIDATE, "
                "CREATE INDEX CONCURRENTLY), then run the report again.",
                file=sys.stderr,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

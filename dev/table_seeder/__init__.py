"""Fill every empty table of a database with deterministic, representative rows, read from the catalog.

    seeded = seed_empty_tables(conn, rows=1_000_000, progress=ProgressLine())
    seeded = seed_and_analyze(conn, rows)  # then VACUUM ANALYZE, as production's tables are

Why generic: the seeder reads ``pg_catalog`` (columns, types, enum labels, foreign keys, unique keys), not the
models, so it keeps working as revisions add tables and columns, and it can fill a schema at any revision of the
history. The values are the awkward ones production has (:mod:`.values`): NULLs where allowed, empty and non-ASCII
strings, the longest string a ``varchar(n)`` takes, every enum label, extreme numbers, and foreign keys that point
at real parent rows. Any valid key shape works at any row count (:mod:`.plan`): composite primary keys and unique
constraints across several columns, foreign keys inside them, composite foreign keys, self-references.
Leaf tables get N rows, tables others point at N/50 (at least 8, or N when N is smaller), and a table whose unique
keys cannot tell more rows apart gets fewer (a one-to-one child no more than its parent).

Only empty tables are touched, so calling it before every revision tops up exactly the tables the previous
revision created. Used by the lock report (dev/lock_report.py), ``make rehearse`` (dev/rehearse/), the data round
trip of the migration tests and ``make bench``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .catalog import EXCLUDED_TABLES, Table, read_catalog
from .plan import TableSeedError, plan_table
from .progress import ProgressFn, ProgressLine

__all__ = [
    "CHUNK_ROWS",
    "EXCLUDED_TABLES",
    "ProgressFn",
    "ProgressLine",
    "TableSeedError",
    "seed_and_analyze",
    "seed_empty_tables",
]

CHUNK_ROWS = 100_000
REFERENCED_SHARE = 50  # a table others point at gets N / 50 rows
REFERENCED_MIN = 8  # ... and at least this many, so references spread


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _order(tables: dict[str, Table]) -> list[str]:
    """Parents before children (a self-reference is no parent: its rows point at rows inserted before)."""
    done: list[str] = []
    pending = dict(tables)
    while pending:
        ready = [name for name, t in sorted(pending.items()) if not t.parents & set(pending)]
        if not ready:  # a cycle: fall back to name order; a nullable foreign key into it gets NULLs
            ready = sorted(pending)[:1]
        for name in ready:
            done.append(name)
            del pending[name]
    return done


def planned_rows(tables: dict[str, Table], rows: int) -> dict[str, int]:
    """N rows for leaf tables, N/50 (at least 8, never more than N) for tables others point at."""
    referenced = {parent for t in tables.values() for parent in t.parents}
    share = max(min(REFERENCED_MIN, rows), rows // REFERENCED_SHARE)
    return {name: share if name in referenced else rows for name in tables}


def _parent_rows(conn: Connection, table: Table) -> dict[str, int]:
    """Per foreign key to another table: how many parent rows have a complete (non-NULL) key to point at."""
    found = {}
    for fk in table.foreign_keys:
        if fk.ref_table == table.name:
            continue
        present = " AND ".join(f"{_q(c)} IS NOT NULL" for c in fk.ref_columns)
        found[fk.name] = conn.execute(sa.text(f"SELECT count(*) FROM {fk.ref_sql} WHERE {present}")).scalar() or 0
    return found


def seed_empty_tables(
    conn: Connection, rows: int, progress: ProgressFn | None = None, chunk: int = CHUNK_ROWS
) -> dict[str, int]:
    """Fill every empty user table with deterministic rows; returns {table: rows inserted}.

    Only empty tables are touched, so calling it before every revision tops up exactly the tables that
    revision's predecessor created. Commits after each chunk (the connection must not be inside a caller's
    transaction), so a 1,000,000-row seed shows progress and does not hold one huge transaction. Raises
    ``TableSeedError`` when a table cannot be filled, naming the column and where to add a generator.
    """
    if rows < 1 or chunk < 1:
        raise ValueError(f"rows and chunk must be at least 1, got rows={rows}, chunk={chunk}")
    tables = read_catalog(conn)
    counts = planned_rows(tables, rows)
    inserted: dict[str, int] = {}
    for name in _order(tables):
        table = tables[name]
        if conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {_q(name)})")).scalar():
            continue
        plan = plan_table(table, counts[name], _parent_rows(conn, table))
        if plan is None or plan.count < 1:
            continue  # a NOT NULL foreign key with nothing to point at: left empty
        sql = sa.text(plan.insert_sql())
        done = 0
        while done < plan.count:
            hi = min(plan.count, done + chunk) - 1
            conn.execute(sql, {"lo": done, "hi": hi})
            conn.commit()
            done = hi + 1
            if progress:
                progress(name, done, plan.count)
        for sequence, last in plan.sequences():
            conn.execute(
                sa.text("SELECT setval(CAST(:sequence AS regclass), :last)"), {"sequence": sequence, "last": last}
            )
        inserted[name] = plan.count
    conn.commit()
    return inserted


def seed_and_analyze(conn: Connection, rows: int, progress: ProgressFn | None = None) -> dict[str, int]:
    """``seed_empty_tables``, then ``VACUUM ANALYZE`` when anything was seeded: what a measurement needs.

    A production table has been vacuumed and analysed; a freshly loaded one would make the first scan after it pay
    for hint bits and the planner guess from no statistics, so a revision would be timed slower (or planned
    differently) than it will run. The connection keeps its isolation level (VACUUM needs autocommit for itself).
    """
    seeded = seed_empty_tables(conn, rows, progress)
    if seeded:
        previous = conn.get_execution_options().get("isolation_level", conn.default_isolation_level)
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
        conn.commit()  # ends SQLAlchemy's (autocommitted) transaction, so the level can change back
        conn.execution_options(isolation_level=previous)
    return seeded

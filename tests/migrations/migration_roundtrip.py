"""Data round-trip of one revision: seed at its parent, upgrade, downgrade, upgrade; nothing may be lost.

Used by test_roundtrip.py for the shipped history and by test_bad_revisions.py to show it catches the usual
mistakes. Runs through ``yt_pubsub_handler.migrator`` (the path Lambda uses), needs an application context
whose database is empty.

What "survives" means, precisely:
- upgrade: every row of every table that still exists keeps its primary key and, for every column that still
  exists, its value. Columns are matched by PostgreSQL's attribute number, not by name, so a rename
  (``url`` -> ``link``) must carry the values, and a rename done as drop + add is caught;
- downgrade: the catalog snapshot equals the one taken before the upgrade (tables, columns, types, enums,
  defaults, indexes, constraints, sequences), and every row is back with its values in every column the upgraded
  schema could hold (a column the upgrade dropped cannot come back filled);
- upgrade again: same snapshot and same rows as after the first upgrade.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from snapshot import catalog_snapshot, diff_snapshots
from sqlalchemy.engine import Connection

from dev.table_seeder import seed_empty_tables

DEFAULT_ROWS = 24

# What to do about the usual reasons a revision fails on a table that has rows (matched in the error text).
HINTS = {
    "NotNullViolation": (
        "a NOT NULL column on a table that has rows needs a value for them: add the column nullable, backfill it "
        "in batches, then SET NOT NULL (or give it a server_default that is right for the old rows)"
    ),
    "UniqueViolation": "the existing rows break the new unique constraint: clean them up first, in the revision",
    "ForeignKeyViolation": "existing rows point at nothing: add the constraint NOT VALID, fix the rows, then VALIDATE",
    "CheckViolation": "existing rows break the new check: add it NOT VALID, fix the rows, then VALIDATE",
}


class RoundTripError(AssertionError):
    """A revision lost data or did not restore the schema; the message names the revision and the objects."""


@dataclass
class TableData:
    oid: int
    name: str
    columns: dict[int, str]  # attnum -> name
    key: tuple[int, ...]  # attnums of the primary key (all columns when there is none)
    rows: dict[tuple, dict[int, Any]]  # key values -> attnum -> value


_TABLES = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version' ORDER BY 2
"""
_COLS = "SELECT attnum, attname FROM pg_attribute WHERE attrelid = :oid AND attnum > 0 AND NOT attisdropped ORDER BY 1"
_PK = "SELECT indkey::int2[] FROM pg_index WHERE indrelid = :oid AND indisprimary"


def read_data(conn: Connection) -> dict[int, TableData]:
    """Every row of every user table, keyed by table OID and primary key, values keyed by attribute number."""
    out: dict[int, TableData] = {}
    for oid, name in conn.execute(sa.text(_TABLES)).all():
        columns = dict(conn.execute(sa.text(_COLS), {"oid": oid}).all())
        pk = conn.execute(sa.text(_PK), {"oid": oid}).scalar()
        key = tuple(pk) if pk else tuple(columns)
        select = ", ".join('"' + c.replace('"', '""') + '"' for c in columns.values())
        rows: dict[tuple, dict[int, Any]] = {}
        for i, row in enumerate(conn.execute(sa.text(f'SELECT {select} FROM "{name}"')).all()):
            values = dict(zip(columns, row, strict=True))
            k = tuple(values[a] for a in key) if pk else (*(values[a] for a in key), i)
            rows[k] = values
        out[oid] = TableData(oid, name, columns, key, rows)
    conn.commit()
    return out


def _compare_rows(
    label: str, before: TableData, after: TableData, column_pairs: list[tuple[int, int]], limit: int = 5
) -> list[str]:
    problems: list[str] = []
    lost = [k for k in before.rows if k not in after.rows]
    if lost:
        problems.append(f"{label}: {len(lost)} row(s) of {before.name} lost, e.g. key {lost[:3]}")
    for key, row in before.rows.items():
        if key not in after.rows:
            continue
        for a_before, a_after in column_pairs:
            old, new = row[a_before], after.rows[key][a_after]
            if old != new:
                problems.append(
                    f"{label}: {before.name}.{before.columns[a_before]} of row {key} changed: {old!r} -> "
                    f"{after.name}.{after.columns[a_after]} = {new!r}"
                )
                if len(problems) >= limit:
                    return problems
    return problems


def _by_name(data: dict[int, TableData]) -> dict[str, TableData]:
    return {t.name: t for t in data.values()}


@dataclass
class RoundTripReport:
    revision: str
    seeded: dict[str, int]
    columns_not_held: list[str]  # columns the upgrade dropped: their values cannot survive the downgrade


def roundtrip(
    revision: str,
    down_revision: str | None,
    rows: int = DEFAULT_ROWS,
    after_upgrade: Callable[[Connection], None] | None = None,
) -> RoundTripReport:
    """Seed at ``down_revision``, then upgrade to ``revision``, downgrade, upgrade; raise RoundTripError on loss.

    ``after_upgrade`` is a revision-specific check of the upgraded data (a backfill, a transformation), run
    after both upgrades; it raises AssertionError on a wrong value.
    """
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    def fail(what: str, problems: list[str]) -> None:
        lines = "\n  ".join(problems[:20])
        raise RoundTripError(f"revision {revision}: {what}:\n  {lines}")

    def step(action: Callable[..., dict], target: str, what: str) -> None:
        try:
            action(revision=target)
        except migrator.MigrationError as exc:
            hint = next((h for key, h in HINTS.items() if key in str(exc)), "make it work on tables that have rows")
            raise RoundTripError(
                f"revision {revision}: {what} failed on a database seeded with rows: {exc}\nFix the revision: {hint}."
            ) from exc

    if down_revision is not None:
        step(migrator.upgrade, down_revision, f"upgrade to its parent {down_revision}")
    with db.engine.connect() as conn:
        seeded = seed_empty_tables(conn, rows)
        snap_p, data_p = catalog_snapshot(conn), read_data(conn)

    step(migrator.upgrade, revision, "upgrade")
    with db.engine.connect() as conn:
        snap_r, data_r = catalog_snapshot(conn), read_data(conn)
        if after_upgrade:
            after_upgrade(conn)
    problems: list[str] = []
    held: dict[str, set[str]] = {}  # table name at the parent -> its columns the upgraded schema still holds
    for oid, before in data_p.items():
        if oid not in data_r:
            continue  # the table was dropped: its rows cannot survive, and the downgrade check reports the schema
        after = data_r[oid]
        pairs = [(a, a) for a in before.columns if a in after.columns]
        held[before.name] = {before.columns[a] for a, _ in pairs}
        problems += _compare_rows("after the upgrade", before, after, pairs)
    if problems:
        fail("the upgrade lost or changed existing data", problems)

    step(migrator.downgrade, down_revision or "base", "downgrade")
    with db.engine.connect() as conn:
        snap_p2, data_p2 = catalog_snapshot(conn), read_data(conn)
    diff = diff_snapshots(snap_p, snap_p2)
    if diff:
        fail(f"the downgrade does not restore the schema of {down_revision or 'base'} (before -> after)", diff)
    after_by_name = _by_name(data_p2)
    not_held: list[str] = []
    for before in data_p.values():
        after = after_by_name.get(before.name)
        if after is None:
            problems.append(f"after the downgrade: table {before.name} is gone")
            continue
        names_after = {n: a for a, n in after.columns.items()}
        keep = held.get(before.name, set())
        not_held += sorted(f"{before.name}.{n}" for n in before.columns.values() if n not in keep)
        pairs = [(a, names_after[n]) for a, n in before.columns.items() if n in keep and n in names_after]
        problems += _compare_rows("after the downgrade", before, after, pairs)
    if problems:
        fail("the downgrade lost or changed data the upgraded schema held", problems)

    step(migrator.upgrade, revision, "upgrade after the downgrade")
    with db.engine.connect() as conn:
        snap_r2, data_r2 = catalog_snapshot(conn), read_data(conn)
        if after_upgrade:
            after_upgrade(conn)
    diff = diff_snapshots(snap_r, snap_r2)
    if diff:
        fail("upgrading again gives a different schema than the first upgrade (first -> second)", diff)
    second = _by_name(data_r2)
    for first in data_r.values():
        again = second.get(first.name)
        if again is None:
            problems.append(f"after upgrading again: table {first.name} is gone")
            continue
        names_again = {n: a for a, n in again.columns.items()}
        pairs = [(a, names_again[n]) for a, n in first.columns.items() if n in names_again]
        problems += _compare_rows("after upgrading again", first, again, pairs)
    if problems:
        fail("upgrade, downgrade, upgrade does not give back the data of the first upgrade", problems)
    return RoundTripReport(revision, seeded, not_held)

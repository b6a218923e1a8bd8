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


def kept_by_upgrade(
    parent: dict[int, TableData], upgraded: dict[int, TableData]
) -> tuple[list[str], dict[str, set[str]]]:
    """Rows and values the upgrade must carry, matched by table OID and attribute number (a rename keeps both):
    (problems, per table at the parent, the names of its columns the upgraded schema still holds)."""
    problems: list[str] = []
    held: dict[str, set[str]] = {}
    for oid, before in parent.items():
        if oid not in upgraded:
            continue  # the table was dropped: its rows cannot survive, and the downgrade check reports the schema
        after = upgraded[oid]
        pairs = [(a, a) for a in before.columns if a in after.columns]
        held[before.name] = {before.columns[a] for a, _ in pairs}
        problems += _compare_rows("after the upgrade", before, after, pairs)
    return problems, held


def restored_by_downgrade(
    parent: dict[int, TableData], downgraded: dict[int, TableData], held: dict[str, set[str]]
) -> tuple[list[str], list[str]]:
    """Every parent row back, by table and column name, in every column the upgraded schema held:
    (problems, ``table.column`` the upgrade dropped, whose values cannot come back)."""
    problems: list[str] = []
    not_held: list[str] = []
    after_by_name = _by_name(downgraded)
    for before in parent.values():
        after = after_by_name.get(before.name)
        if after is None:
            problems.append(f"after the downgrade: table {before.name} is gone")
            continue
        names_after = {n: a for a, n in after.columns.items()}
        keep = held.get(before.name, set())
        not_held += sorted(f"{before.name}.{n}" for n in before.columns.values() if n not in keep)
        pairs = [(a, names_after[n]) for a, n in before.columns.items() if n in keep and n in names_after]
        problems += _compare_rows("after the downgrade", before, after, pairs)
    return problems, not_held


def same_after_upgrading_again(first: dict[int, TableData], again: dict[int, TableData]) -> list[str]:
    """The second upgrade gives back the first upgrade's rows, by table and column name."""
    problems: list[str] = []
    second = _by_name(again)
    for table in first.values():
        other = second.get(table.name)
        if other is None:
            problems.append(f"after upgrading again: table {table.name} is gone")
            continue
        names_again = {n: a for a, n in other.columns.items()}
        pairs = [(a, names_again[n]) for a, n in table.columns.items() if n in names_again]
        problems += _compare_rows("after upgrading again", table, other, pairs)
    return problems


@dataclass
class _Run:
    """One round trip's migrations and checks, each failure a RoundTripError naming the revision."""

    revision: str
    after_upgrade: Callable[[Connection], None] | None

    def fail(self, what: str, problems: list[str]) -> None:
        if problems:
            lines = "\n  ".join(problems[:20])
            raise RoundTripError(f"revision {self.revision}: {what}:\n  {lines}")

    def migrate(self, action: Callable[..., dict], target: str, what: str) -> None:
        from yt_pubsub_handler import migrator

        try:
            action(revision=target)
        except migrator.MigrationError as exc:
            hint = next((h for key, h in HINTS.items() if key in str(exc)), "make it work on tables that have rows")
            raise RoundTripError(
                f"revision {self.revision}: {what} failed on a database seeded with rows: {exc}\n"
                f"Fix the revision: {hint}."
            ) from exc

    def capture(self, upgraded: bool = False) -> tuple[Any, dict[int, TableData]]:
        """The catalog snapshot and every row; after an upgrade, the revision's own data check too."""
        from yt_pubsub_handler.extensions import db

        with db.engine.connect() as conn:
            captured = catalog_snapshot(conn), read_data(conn)
            if upgraded and self.after_upgrade:
                self.after_upgrade(conn)
        return captured


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

    run = _Run(revision, after_upgrade)
    parent_name = down_revision or "base"
    if down_revision is not None:
        run.migrate(migrator.upgrade, down_revision, f"upgrade to its parent {down_revision}")
    with db.engine.connect() as conn:
        seeded = seed_empty_tables(conn, rows)
    snap_parent, data_parent = run.capture()

    run.migrate(migrator.upgrade, revision, "upgrade")
    snap_upgraded, data_upgraded = run.capture(upgraded=True)
    problems, held = kept_by_upgrade(data_parent, data_upgraded)
    run.fail("the upgrade lost or changed existing data", problems)

    run.migrate(migrator.downgrade, parent_name, "downgrade")
    snap_back, data_back = run.capture()
    run.fail(
        f"the downgrade does not restore the schema of {parent_name} (before -> after)",
        diff_snapshots(snap_parent, snap_back),
    )
    problems, not_held = restored_by_downgrade(data_parent, data_back, held)
    run.fail("the downgrade lost or changed data the upgraded schema held", problems)

    run.migrate(migrator.upgrade, revision, "upgrade after the downgrade")
    snap_again, data_again = run.capture(upgraded=True)
    run.fail(
        "upgrading again gives a different schema than the first upgrade (first -> second)",
        diff_snapshots(snap_upgraded, snap_again),
    )
    run.fail(
        "upgrade, downgrade, upgrade does not give back the data of the first upgrade",
        same_after_upgrading_again(data_upgraded, data_again),
    )
    return RoundTripReport(revision, seeded, not_held)

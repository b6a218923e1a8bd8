"""Fill every empty table of a database with deterministic, representative rows, read from the catalog.

    seeded = seed_empty_tables(conn, rows=1_000_000, progress=ProgressLine())

Why generic: the seeder reads ``pg_catalog`` (columns, types, enum labels, foreign keys, unique columns), not the
models, so it keeps working as revisions add tables and columns, and it can fill a schema at any revision of the
history. The values are the awkward ones production has: NULLs where allowed, empty and non-ASCII strings,
the longest string a ``varchar(n)`` takes, every enum label, extreme integers, and foreign keys that point at
real parent rows. Leaf tables get N rows, tables others point at N/50 (at least 8).

Only empty tables are touched, so calling it before every revision tops up exactly the tables the previous
revision created. Used by the lock report (dev/lock_report.py), the data round trip of the migration tests and
``make bench``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHUNK_ROWS = 100_000
EXCLUDED_TABLES = ("alembic_version",)

ProgressFn = Callable[[str, int, int], None]
"""``progress(table, rows_done, rows_total)``, called after every committed chunk."""


class TableSeedError(RuntimeError):
    """A column the seeder cannot fill (NOT NULL, no default, a type it has no generator for); the message says
    where to add one."""


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


def _plan_counts(tables: dict[str, _Table], rows: int) -> dict[str, int]:
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
        raise TableSeedError(
            f"cannot seed {table.name}.{name} of type {col['type']} (NOT NULL, no default): add a generator for "
            "its type in dev/table_seeder.py::_expression"
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
    if rows < 1 or chunk < 1:
        raise ValueError(f"rows and chunk must be at least 1, got rows={rows}, chunk={chunk}")
    tables = _catalog(conn)
    counts = _plan_counts(tables, rows)
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


class ProgressLine:
    """A ``progress`` callback for people: one self-overwriting line on a terminal, a line per 10% otherwise (CI)."""

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

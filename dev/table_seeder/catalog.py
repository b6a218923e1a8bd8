"""What the seeder needs to know about a schema, read from ``pg_catalog``: tables, columns, keys.

Read from the catalog rather than the models so the seeder fills a schema at any revision of any history,
including tables the team adds after the seeder was written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

EXCLUDED_TABLES = ("alembic_version",)

_COLUMNS = """
SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type_sql,
       bt.typname, bt.typtype, bt.typcategory AS category, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS "default", a.attidentity AS identity, a.attgenerated AS generated,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       (SELECT count(*) FROM pg_enum e WHERE e.enumtypid = bt.oid) AS enum_labels,
       s.seqrelid::regclass::text AS sequence, s.seqstart AS sequence_start, s.seqincrement AS sequence_increment
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_sequence s
         ON s.seqrelid = pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname)::regclass
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.relname, a.attnum
"""

_FOREIGN_KEYS = """
SELECT co.conname AS name, c.relname AS table, rc.relname AS ref_table, co.confrelid::regclass::text AS ref_sql,
       array_agg(a.attname ORDER BY k.i) AS columns, array_agg(ra.attname ORDER BY k.i) AS ref_columns
  FROM pg_constraint co
  JOIN pg_class c ON c.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class rc ON rc.oid = co.confrelid
  CROSS JOIN LATERAL unnest(co.conkey, co.confkey) WITH ORDINALITY AS k(attnum, ref_attnum, i)
  JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum
  JOIN pg_attribute ra ON ra.attrelid = co.confrelid AND ra.attnum = k.ref_attnum
 WHERE co.contype = 'f' AND n.nspname = 'public'
 GROUP BY co.conname, c.relname, rc.relname, co.confrelid
 ORDER BY c.relname, co.conname
"""

# One row per key column of every unique index (primary keys and unique constraints included; INCLUDE columns
# and partial-index predicates left out: a partial index is treated as if it applied to every row, which is
# stricter). ``indnullsnotdistinct`` is read through to_jsonb so that servers before PostgreSQL 15 answer too.
_UNIQUE_KEYS = """
SELECT c.relname AS table, x.indexrelid::regclass::text AS index, k.k AS position, a.attname AS column,
       pg_get_indexdef(x.indexrelid, k.k, true) AS expression,
       coalesce((to_jsonb(x) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct
  FROM pg_index x
  JOIN pg_class c ON c.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL generate_series(1, x.indnkeyatts) AS k(k)
  LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k.k - 1] AND x.indkey[k.k - 1] > 0
 WHERE n.nspname = 'public' AND x.indisunique
 ORDER BY c.relname, 2, k.k
"""


@dataclass(frozen=True)
class Column:
    name: str
    type_sql: str  # as declared (a domain's name for a domain), for casts
    typname: str  # the base type's name (a domain's base type)
    typtype: str  # 'e' for an enum
    category: str  # pg_type.typcategory: S text, N numeric, D date/time, T interval, B boolean, U user, I network
    not_null: bool
    default: str | None
    identity: str  # 'a' always, 'd' by default, '' none
    generated: str  # 's' stored generated column, '' none
    typmod: int
    enum_labels: int
    sequence: str | None = None  # the sequence an identity or serial column owns
    sequence_start: int | None = None
    sequence_increment: int | None = None

    @property
    def max_length(self) -> int | None:
        """Characters a varchar(n)/char(n) holds; None when unbounded."""
        return self.typmod - 4 if self.category == "S" and self.typmod > 4 else None

    @property
    def numeric_precision(self) -> tuple[int, int] | None:
        """(precision, scale) of a numeric(p, s); None when unconstrained."""
        if self.typname != "numeric" or self.typmod < 4:
            return None
        packed = self.typmod - 4
        return (packed >> 16) & 0xFFFF, packed & 0xFFFF


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_sql: str  # the referenced table, quoted and qualified as SQL needs it
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class UniqueKey:
    """The columns one unique index (or primary key) makes unique together; for an expression key, the columns its
    expressions read."""

    index: str
    columns: tuple[str, ...]  # in the index's order
    nulls_not_distinct: bool


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    unique_keys: list[UniqueKey] = field(default_factory=list)

    @property
    def parents(self) -> set[str]:
        """Other tables this one points at (a self-reference is not a parent: its rows are inserted together)."""
        return {fk.ref_table for fk in self.foreign_keys if fk.ref_table != self.name}


def _columns_read_by(expression: str, names: list[str]) -> list[str]:
    """The table's columns named in an index expression such as ``lower(email)`` or ``(a || "B")``."""
    found = []
    for name in names:
        plain = rf"(?<![\w\"]){re.escape(name)}(?![\w\"])"
        if f'"{name.replace(chr(34), chr(34) * 2)}"' in expression or re.search(plain, expression):
            found.append(name)
    return found


def read_catalog(conn: Connection) -> dict[str, Table]:
    """Every table of the ``public`` schema (but ``EXCLUDED_TABLES``), with its columns, foreign keys and unique
    keys."""
    tables: dict[str, Table] = {}
    for row in conn.execute(sa.text(_COLUMNS)).mappings():
        if row["table"] in EXCLUDED_TABLES:
            continue
        values = {k: v for k, v in row.items() if k != "table"}
        values["default"] = values["default"] or None
        table = tables.setdefault(row["table"], Table(row["table"]))
        table.columns[row["name"]] = Column(**values)
    for row in conn.execute(sa.text(_FOREIGN_KEYS)).mappings():
        if row["table"] in tables:
            tables[row["table"]].foreign_keys.append(
                ForeignKey(
                    row["name"], tuple(row["columns"]), row["ref_table"], row["ref_sql"], tuple(row["ref_columns"])
                )
            )
    keys: dict[tuple[str, str], tuple[dict[str, None], bool]] = {}
    for row in conn.execute(sa.text(_UNIQUE_KEYS)).mappings():
        table = tables.get(row["table"])
        if table is None:
            continue
        columns, _ = keys.setdefault((row["table"], row["index"]), ({}, row["nulls_not_distinct"]))
        read = (
            [row["column"]] if row["column"] is not None else _columns_read_by(row["expression"], list(table.columns))
        )
        columns.update(dict.fromkeys(read))
    for (table_name, index), (columns, nulls_not_distinct) in keys.items():
        table = tables[table_name]
        # A generated column is as distinct as the columns its expression reads: the key is on those.
        read: dict[str, None] = {}
        for name in columns:
            column = table.columns[name]
            if column.generated and column.default:
                others = [c for c in table.columns if c != name and not table.columns[c].generated]
                read.update(dict.fromkeys(_columns_read_by(column.default, others)))
            else:
                read[name] = None
        if read:
            table.unique_keys.append(UniqueKey(index, tuple(read), nulls_not_distinct))
    return tables

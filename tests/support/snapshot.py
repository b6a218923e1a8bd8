"""Normalised catalog snapshots: the schema of a database as plain, comparable, JSON-serialisable data.

Why not Alembic's autogenerate diff or ``MetaData.reflect``? Both are blind to things a downgrade most often
leaves behind: enum types (and their labels), sequences, index definitions' details (``WHERE``, ``INCLUDE``,
``INVALID`` after a failed concurrent build), constraint validity, column order. The snapshot reads
``pg_catalog`` directly and keeps only what does not depend on object identity (no OIDs, no attnums, no data),
so "the schema after a downgrade equals the schema before the upgrade" becomes a plain ``==``, and the same
function works on any path that reaches the database (in-process, through Lambda, in CI).

    snap = catalog_snapshot(connection_or_url)
    problems = diff_snapshots(before, after)   # [] when equal; readable lines otherwise
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dev import postgres

DEFAULT_SCHEMAS = ("public",)
# Alembic's own bookkeeping: present after the first upgrade and kept (empty) after a downgrade to base.
DEFAULT_EXCLUDE = ("alembic_version",)

Snapshot = dict[str, Any]


@contextmanager
def _connect(target: Connection | sa.Engine | str) -> Iterator[Connection]:
    if isinstance(target, Connection):
        yield target
        return
    if isinstance(target, sa.Engine):
        with target.connect() as conn:
            yield conn
        return
    with postgres.connect(target) as conn:
        yield conn


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


_RELATIONS = """
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relpersistence AS persistence
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 ORDER BY 1, 2
"""

_COLUMNS = """
SELECT n.nspname AS schema, c.relname AS table, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS "default", a.attidentity AS identity, a.attgenerated AS generated,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
 WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY 1, 2, a.attnum
"""

_INDEXES = """
SELECT n.nspname AS schema, t.relname AS table, i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition,
       x.indisvalid AS valid, x.indisprimary AS primary, x.indisunique AS unique
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = ANY(:schemas)
 ORDER BY 1, 2, 3
"""

_CONSTRAINTS = """
SELECT n.nspname AS schema, COALESCE(t.relname, ty.typname) AS table, co.conname AS name, co.contype AS type,
       pg_get_constraintdef(co.oid) AS definition, co.convalidated AS validated,
       co.condeferrable AS deferrable, co.condeferred AS deferred
  FROM pg_constraint co
  JOIN pg_namespace n ON n.oid = co.connamespace
  LEFT JOIN pg_class t ON t.oid = co.conrelid
  LEFT JOIN pg_type ty ON ty.oid = co.contypid
 WHERE n.nspname = ANY(:schemas)
 ORDER BY 1, 2, 3
"""

_ENUMS = """
SELECT n.nspname AS schema, t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
 WHERE n.nspname = ANY(:schemas)
 GROUP BY 1, 2
 ORDER BY 1, 2
"""

_OTHER_TYPES = """
SELECT n.nspname AS schema, t.typname AS name, t.typtype AS kind,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base,
       t.typnotnull AS not_null, t.typdefault AS "default"
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_class c ON c.oid = t.typrelid
 WHERE n.nspname = ANY(:schemas) AND t.typtype IN ('d', 'c', 'r') AND (c.oid IS NULL OR c.relkind = 'c')
 ORDER BY 1, 2
"""

_SEQUENCES = """
SELECT n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS type, s.seqstart AS start,
       s.seqincrement AS increment, s.seqmin AS min, s.seqmax AS max, s.seqcache AS cache, s.seqcycle AS cycle,
       c.relpersistence AS persistence,
       (SELECT tn.nspname || '.' || tc.relname || '.' || ta.attname
          FROM pg_depend dp
          JOIN pg_class tc ON tc.oid = dp.refobjid
          JOIN pg_namespace tn ON tn.oid = tc.relnamespace
          JOIN pg_attribute ta ON ta.attrelid = dp.refobjid AND ta.attnum = dp.refobjsubid
         WHERE dp.classid = 'pg_class'::regclass AND dp.objid = c.oid AND dp.refclassid = 'pg_class'::regclass
           AND dp.deptype IN ('a', 'i')
         LIMIT 1) AS owned_by
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(:schemas)
 ORDER BY 1, 2
"""

_VIEWS = """
SELECT n.nspname AS schema, c.relname AS name, pg_get_viewdef(c.oid, true) AS definition
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('v', 'm')
 ORDER BY 1, 2
"""

_TRIGGERS = """
SELECT n.nspname AS schema, c.relname AS table, tg.tgname AS name, pg_get_triggerdef(tg.oid) AS definition,
       tg.tgenabled AS enabled
  FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(:schemas) AND NOT tg.tgisinternal
 ORDER BY 1, 2, 3
"""

_FUNCTIONS = """
SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS arguments,
       pg_get_functiondef(p.oid) AS definition
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY(:schemas) AND p.prokind IN ('f', 'p')
 ORDER BY 1, 2, 3
"""

_EXTENSIONS = """
SELECT e.extname AS name, n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname <> 'plpgsql' ORDER BY 1
"""

_SCHEMAS = "SELECT nspname AS name FROM pg_namespace WHERE nspname = ANY(:schemas) ORDER BY 1"


def _qualified(row: dict[str, Any], key: str = "name") -> str:
    return f"{row['schema']}.{row[key]}"


def _strip(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in keys}


def catalog_snapshot(
    target: Connection | sa.Engine | str,
    schemas: Iterable[str] = DEFAULT_SCHEMAS,
    exclude_tables: Iterable[str] = DEFAULT_EXCLUDE,
) -> Snapshot:
    """The schema of ``target`` (a Connection, Engine or URL) as a normalised, JSON-serialisable dict.

    Keys: ``schemas``, ``tables`` (kind, persistence, ordered columns with type, NOT NULL, default, identity,
    generated, collation), ``indexes`` (definition, valid, primary, unique), ``constraints`` (type, definition,
    validated, deferrable), ``enums`` (ordered labels), ``types`` (domains, composites, ranges), ``sequences``
    (parameters and owner, not their current value), ``views``, ``triggers``, ``functions``, ``extensions``.
    Objects are keyed by qualified name, so two snapshots compare with ``==`` and differ only where the schema
    does. ``exclude_tables`` drops those tables and everything attached to them (Alembic's version table by
    default: it survives a downgrade to base by design).
    """
    schemas = list(schemas)
    excluded = {t if "." in t else f"{s}.{t}" for t in exclude_tables for s in schemas}
    with _connect(target) as conn:
        q = lambda sql: _rows(conn, sql, schemas=schemas)  # noqa: E731
        relations, columns = q(_RELATIONS), q(_COLUMNS)
        indexes, constraints = q(_INDEXES), q(_CONSTRAINTS)
        enums, types, sequences = q(_ENUMS), q(_OTHER_TYPES), q(_SEQUENCES)
        views, triggers, functions = q(_VIEWS), q(_TRIGGERS), q(_FUNCTIONS)
        extensions, present_schemas = _rows(conn, _EXTENSIONS), q(_SCHEMAS)

    tables: dict[str, Any] = {}
    for rel in relations:
        name = _qualified(rel)
        if name not in excluded:
            tables[name] = {"kind": rel["kind"], "persistence": rel["persistence"], "columns": []}
    for col in columns:
        table = _qualified(col, "table")
        if table in tables:
            tables[table]["columns"].append(_strip(col, "schema", "table"))

    def attached(rows: list[dict[str, Any]]) -> dict[str, Any]:
        out = {}
        for row in rows:
            table = _qualified(row, "table")
            if table in excluded:
                continue
            out[f"{table}.{row['name']}"] = _strip(row, "schema", "table", "name")
        return out

    return {
        "schemas": [r["name"] for r in present_schemas],
        "tables": tables,
        "indexes": attached(indexes),
        "constraints": attached(constraints),
        "enums": {_qualified(e): list(e["labels"]) for e in enums},
        "types": {_qualified(t): _strip(t, "schema", "name") for t in types},
        "sequences": {
            _qualified(s): {k: (str(v) if isinstance(v, int) else v) for k, v in _strip(s, "schema", "name").items()}
            for s in sequences
            if not (s["owned_by"] and s["owned_by"].rsplit(".", 1)[0] in excluded)
        },
        "views": {_qualified(v): v["definition"] for v in views if _qualified(v) not in excluded},
        "triggers": attached(triggers),
        "functions": {f"{_qualified(f)}({f['arguments']})": f["definition"] for f in functions},
        "extensions": {e["name"]: e["schema"] for e in extensions},
    }


def diff_snapshots(before: Snapshot, after: Snapshot) -> list[str]:
    """Readable differences between two snapshots (``[]`` when equal), one line per changed object.

    The lines name the object and both versions, so a failing round-trip says what the downgrade left behind
    or took away, not just that "something differs".
    """
    problems: list[str] = []
    for section in sorted(set(before) | set(after)):
        a, b = before.get(section), after.get(section)
        if a == b:
            continue
        if not (isinstance(a, dict) and isinstance(b, dict)):
            problems.append(f"{section}: {a!r} -> {b!r}")
            continue
        for key in sorted(set(a) | set(b)):
            if key not in b:
                problems.append(f"{section}: {key} was removed ({_short(a[key])})")
            elif key not in a:
                problems.append(f"{section}: {key} was added ({_short(b[key])})")
            elif section == "tables":
                problems.extend(_diff_table(key, a[key], b[key]))
            elif a[key] != b[key]:
                problems.append(f"{section}: {key} changed: {_short(a[key])} -> {_short(b[key])}")
    return problems


def _diff_table(name: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = [f"tables: {name} {k} changed: {a[k]!r} -> {b[k]!r}" for k in ("kind", "persistence") if a[k] != b[k]]
    cols_a = {c["name"]: c for c in a["columns"]}
    cols_b = {c["name"]: c for c in b["columns"]}
    for col in sorted(set(cols_a) | set(cols_b)):
        if col not in cols_b:
            out.append(f"tables: column {name}.{col} was removed ({_short(cols_a[col])})")
        elif col not in cols_a:
            out.append(f"tables: column {name}.{col} was added ({_short(cols_b[col])})")
        elif cols_a[col] != cols_b[col]:
            out.append(f"tables: column {name}.{col} changed: {_short(cols_a[col])} -> {_short(cols_b[col])}")
    if not out and list(cols_a) != list(cols_b):
        out.append(f"tables: {name} column order changed: {list(cols_a)} -> {list(cols_b)}")
    return out


def _short(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."

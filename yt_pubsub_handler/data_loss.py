"""What a migration destroys, counted just before it does: rows of dropped tables, values of dropped columns, values a
narrowing type change alters.

Why: a revision that drops a column runs without a word, and Alembic's autogenerate cannot see renames (its
documentation says so): renaming ``Video.link`` writes an add plus a drop, and every link is gone while every
command says ok. Counting the values before the statement runs turns that into "revision X dropped videos.link
holding 15 non-null values (data loss)", with the fix: it looks like a rename when the revision also added a column
of the same type to the table (``op.alter_column(..., new_column_name=...)`` keeps the values).

How: a ``before_cursor_execute`` listener on the migrating connection recognises ``DROP TABLE``, ``ALTER TABLE ...
DROP COLUMN`` and ``ALTER TABLE ... ALTER COLUMN ... TYPE`` and, on the same connection (so a copy made earlier in
the revision's own transaction is seen), counts what the statement is about to destroy, inside a savepoint so a
failed count can never abort the migration. Values already copied to a column the same revision added are not lost
(an add-copy-drop written by hand); a drop whose values live on in a column backfilled by an earlier revision (the
last step of expand/contract) is counted, and declared with its reason in ``migrations/policy.toml``.

The counts cost a scan of each table a revision drops from, so they run where a person rehearses (the ``local``
stage, ``make rehearse``, ``make check-migrations``: ``MIGRATION_COUNT_DATA_LOSS``), not in production.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_TABLE = rf"(?:{_IDENT}\s*\.\s*)?({_IDENT})"
_ALTER_TABLE = re.compile(rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_TABLE}\s+(.*)$", re.I | re.S)
_DROP_TABLE = re.compile(
    r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(.+?)(?:\s+(?:CASCADE|RESTRICT))?\s*;?\s*$", re.I | re.S
)
_NOT_A_COLUMN = r"(?!(?:CONSTRAINT|DEFAULT|NOT|EXPRESSION|IDENTITY)\b)"
_DROP_COLUMN = re.compile(rf"(?:^|,)\s*DROP\s+(?:COLUMN\s+)?{_NOT_A_COLUMN}(?:IF\s+EXISTS\s+)?({_IDENT})", re.I)
_ADD_COLUMN = re.compile(rf"(?:^|,)\s*ADD\s+(?:COLUMN\s+)?(?!CONSTRAINT\b)(?:IF\s+NOT\s+EXISTS\s+)?({_IDENT})\s", re.I)
_ALTER_TYPE = re.compile(
    rf"(?:^|,)\s*ALTER\s+(?:COLUMN\s+)?({_IDENT})\s+(?:SET\s+DATA\s+)?TYPE\s+(.+?)(\s+USING\s+.+?)?\s*(?=,\s*(?:ALTER|ADD|DROP)\b|;?\s*$)",
    re.I | re.S,
)

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a
 WHERE a.attrelid = to_regclass(%(table)s) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""


def _name(identifier: str) -> str:
    """An identifier as PostgreSQL stores it: quoted kept as written, unquoted folded to lower case."""
    identifier = identifier.strip()
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Loss:
    """What one statement destroyed: ``values`` non-null values of ``table.column`` (rows of ``table`` when
    ``column`` is None; values changed when ``kind`` is "type")."""

    revision: str
    direction: str
    kind: str  # "table", "column" or "type"
    table: str
    column: str | None
    values: int
    statement: str
    renamed_to: str | None = None  # an added column of the same type: this looks like a rename to it
    new_type: str | None = None

    @property
    def what(self) -> str:
        return self.table if self.column is None else f"{self.table}.{self.column}"

    def describe(self) -> str:
        where = f"revision {self.revision} ({self.direction})"
        if self.kind == "table":
            return f"{where} dropped table {self.table} holding {_plural(self.values, 'row')} (data loss)"
        if self.kind == "type":
            return (
                f"{where} changed {self.what} to {self.new_type}, which alters {_plural(self.values, 'value')} "
                "(data loss)"
            )
        return f"{where} dropped {self.what} holding {_plural(self.values, 'non-null value')} (data loss)"

    def fix(self) -> str:
        if self.renamed_to:
            return (
                f"it looks like a rename of {self.column} to {self.renamed_to} (the revision adds a column of the same "
                f"type to {self.table}): autogenerate cannot see renames, so write "
                f"op.alter_column({self.table!r}, {self.column!r}, new_column_name={self.renamed_to!r}) instead of "
                "add_column + drop_column, and the values stay"
            )
        if self.kind == "type":
            return "convert the values explicitly (a USING expression, or a new column backfilled and checked) first"
        return "copy the values where the new schema keeps them before dropping (or declare the loss, with a reason)"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.describe(), "fix": self.fix()}


@dataclass
class LossCounter:
    """Counts, on the migrating connection, what each statement is about to destroy.

    ``revision_now()`` names the revision running (the migrator's plan, indexed by the steps done so far) and
    ``direction`` is "upgrade" or "downgrade".
    """

    direction: str
    revision_now: Callable[[], str]
    losses: list[Loss] = field(default_factory=list)
    _added: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (revision, table) -> added columns

    @contextmanager
    def applied(self, connection: Connection) -> Iterator[None]:
        event.listen(connection, "before_cursor_execute", self._before)
        try:
            yield
        finally:
            event.remove(connection, "before_cursor_execute", self._before)

    def forget(self, revision: str) -> None:
        """A step of ``revision`` failed and will run again: its transaction was rolled back, recount it."""
        self.losses = [loss for loss in self.losses if loss.revision != revision]
        self._added = {key: value for key, value in self._added.items() if key[0] != revision}

    # -- the listener ------------------------------------------------------------------------------------------------
    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        text = " ".join(statement.split())
        dropped_tables = _DROP_TABLE.match(text)
        altered = _ALTER_TABLE.match(text)
        if not dropped_tables and not altered:
            return
        revision = self.revision_now()
        dbapi = cursor.connection
        if dropped_tables:
            for raw in re.findall(_TABLE, dropped_tables.group(1)):
                self._count(dbapi, revision, "table", _name(raw), None, text)
            return
        table, actions = _name(altered.group(1)), altered.group(2)
        for column in _ADD_COLUMN.findall(actions):
            self._added.setdefault((revision, table), set()).add(_name(column))
        for column in _DROP_COLUMN.findall(actions):
            self._count(dbapi, revision, "column", table, _name(column), text)
        for column, new_type, using in _ALTER_TYPE.findall(actions):
            if not using:  # a USING expression is the author's own conversion: not guessed at here
                self._count(dbapi, revision, "type", table, _name(column), text, new_type.strip())

    def _count(
        self, dbapi: Any, revision: str, kind: str, table: str, column: str | None, text: str, new_type: str = ""
    ) -> None:
        try:
            loss = _savepointed(dbapi, lambda cur: self._measure(cur, revision, kind, table, column, text, new_type))
        except Exception as exc:  # the count must never be what breaks a migration
            log.warning("could not count what %s destroys in %s: %s", text[:80], table, exc)
            return
        if loss is not None:
            self.losses.append(loss)
            log.warning("%s. Fix: %s", loss.describe(), loss.fix())

    def _measure(
        self, cur: Any, revision: str, kind: str, table: str, column: str | None, text: str, new_type: str
    ) -> Loss | None:
        cur.execute(_COLUMNS, {"table": _quote(table)})
        types = dict(cur.fetchall())
        if not types:
            return None  # DROP ... IF EXISTS of something absent
        statement = text[:200]
        if kind == "table":
            cur.execute(f"SELECT count(*) FROM {_quote(table)}")
            rows = cur.fetchone()[0]
            return Loss(revision, self.direction, kind, table, None, rows, statement) if rows else None
        assert column is not None
        if column not in types:
            return None
        old_type, q = types[column], _quote(column)
        if kind == "type":
            cur.execute(
                f"SELECT count(*) FROM {_quote(table)} WHERE {q} IS NOT NULL "
                f"AND {q} IS DISTINCT FROM CAST(CAST({q} AS {new_type}) AS {old_type})"
            )
            changed = cur.fetchone()[0]
            if not changed:
                return None
            return Loss(revision, self.direction, kind, table, column, changed, statement, new_type=new_type)
        # A column this revision added, of the same type, holding every value already (add, copy, drop written by
        # hand) means nothing is lost; one holding none of them makes the drop look like an autogenerated rename.
        # Only columns of this revision count: columns that merely happen to hold equal values elsewhere do not
        # keep the dropped ones (and seeded test data would make them look alike).
        added = self._added.get((revision, table), set())
        same = [c for c, t in types.items() if t == old_type and c != column and c in added]
        differs = [f"count(*) FILTER (WHERE {q} IS NOT NULL AND {q} IS DISTINCT FROM {_quote(c)})" for c in same]
        cur.execute(f"SELECT count({q}){''.join(', ' + d for d in differs)} FROM {_quote(table)}")
        values, *missing = cur.fetchone()
        if values == 0 or any(m == 0 for m in missing):
            return None
        renamed = same[0] if same else None
        return Loss(revision, self.direction, kind, table, column, values, statement, renamed_to=renamed)


def _savepointed(dbapi: Any, measure: Callable[[Any], Loss | None]) -> Loss | None:
    """``measure(cursor)`` on the migrating connection; inside a transaction, in a savepoint rolled back on error."""
    cur = dbapi.cursor()
    in_transaction = not dbapi.autocommit
    try:
        if in_transaction:
            cur.execute("SAVEPOINT data_loss_count")
        try:
            found = measure(cur)
        except Exception:
            if in_transaction:
                cur.execute("ROLLBACK TO SAVEPOINT data_loss_count")
            raise
        if in_transaction:
            cur.execute("RELEASE SAVEPOINT data_loss_count")
        return found
    finally:
        cur.close()

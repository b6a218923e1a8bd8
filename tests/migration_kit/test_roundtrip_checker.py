"""The data round trip's own checker (tests/support/migration_roundtrip.py), on a table of its own."""

from __future__ import annotations

import sqlalchemy as sa

from dev.table_seeder import seed_empty_tables
from tests.support.migration_roundtrip import _compare_rows, read_data


def test_roundtrip_compares_values_not_counts(make_app) -> None:
    """A value changed behind the migration's back must be reported, naming the column."""
    from yt_pubsub_handler.extensions import db

    with make_app().app_context(), db.engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, note text)"))
        seed_empty_tables(conn, 10)
        before = {t.name: t for t in read_data(conn).values()}
        conn.execute(sa.text("UPDATE items SET title = title || '!' WHERE id = (SELECT min(id) FROM items)"))
        conn.commit()
        after = {t.name: t for t in read_data(conn).values()}
    pairs = [(a, a) for a in before["items"].columns]
    problems = _compare_rows("check", before["items"], after["items"], pairs)
    assert len(problems) == 1 and "items.title" in problems[0]

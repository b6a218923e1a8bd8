"""dev/table_seeder: every empty table filled from the catalog, with the awkward values production has.

The seeder is checked on a schema of its own (created here with SQL); that it fills the team's history at head is
a check of that history (tests/migrations/test_seeding.py). Key shapes (composite and multi-column unique keys,
self-references, composite foreign keys) at every size: test_table_seeder_shapes.py.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dev.table_seeder import TableSeedError, seed_and_analyze, seed_empty_tables

SCHEMA = """
CREATE TYPE mood AS ENUM ('calm', 'busy', 'gone');
CREATE TABLE parents (id varchar(20) PRIMARY KEY, title varchar(12), created timestamptz NOT NULL DEFAULT now());
CREATE TABLE children (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id varchar(20) NOT NULL REFERENCES parents (id),
    state mood NOT NULL,
    small int4,
    big int8 NOT NULL,
    flag boolean,
    data jsonb,
    uid uuid,
    note text NOT NULL
);
CREATE TABLE profiles (parent_id varchar(20) PRIMARY KEY REFERENCES parents (id), bio text);
"""


@pytest.fixture
def conn(make_app) -> Connection:
    from yt_pubsub_handler.extensions import db

    with make_app().app_context(), db.engine.connect() as connection:
        connection.execute(sa.text(SCHEMA))
        connection.commit()
        yield connection


def _q(conn: Connection, sql: str):
    return conn.execute(sa.text(sql)).scalar()


def test_fills_every_table_with_representative_rows(conn) -> None:
    progress = []
    seeded = seed_empty_tables(conn, 300, progress=lambda *a: progress.append(a), chunk=128)
    # Tables others point at get N/50 (at least 8) rows, a one-to-one child no more than its parent has.
    assert seeded == {"parents": 8, "children": 300, "profiles": 8}
    assert [done for table, done, total in progress if table == "children"] == [128, 256, 300]
    assert _q(conn, "SELECT count(DISTINCT state) FROM children") == 3  # every enum label
    assert _q(conn, "SELECT count(*) FROM children c LEFT JOIN parents p ON p.id = c.parent_id WHERE p.id IS NULL") == 0
    assert _q(conn, "SELECT count(DISTINCT parent_id) FROM children") == 8  # spread over every parent
    assert _q(conn, "SELECT count(*) FROM children WHERE small IS NULL") > 0  # NULLs where allowed
    assert _q(conn, "SELECT count(*) FROM children WHERE note = ''") > 0  # empty strings
    assert _q(conn, "SELECT count(*) FROM children WHERE note ~ '[^[:ascii:]]'") > 0  # non-ASCII
    assert _q(conn, "SELECT max(big) FROM children") == 9223372036854775807  # extremes
    assert _q(conn, "SELECT count(*) FROM parents WHERE length(title) = 12") > 0  # the longest value allowed
    assert _q(conn, "SELECT count(DISTINCT flag) FROM children") == 2
    assert _q(conn, "SELECT count(*) FROM children WHERE data ? 'n' AND uid IS NOT NULL") > 0
    # The identity column was filled along its sequence, which now continues after the seeded rows.
    assert _q(conn, "SELECT array_agg(id ORDER BY id) FROM children") == list(range(1, 301))
    new_id = "INSERT INTO children (parent_id, state, big, note) VALUES ('1', 'calm', 0, 'x') RETURNING id"
    assert _q(conn, new_id) == 301


def test_only_empty_tables_are_touched(conn) -> None:
    conn.execute(sa.text("INSERT INTO parents (id) VALUES ('mine')"))
    conn.commit()
    seeded = seed_empty_tables(conn, 100)
    assert "parents" not in seeded and seeded["children"] == 100
    assert _q(conn, "SELECT array_agg(DISTINCT parent_id) FROM children") == ["mine"]
    assert seed_empty_tables(conn, 100) == {}


def test_a_column_it_cannot_fill_is_named_with_where_to_add_a_generator(conn) -> None:
    conn.execute(sa.text("CREATE TABLE odd (id int PRIMARY KEY, span int4range NOT NULL)"))
    conn.commit()
    with pytest.raises(TableSeedError, match=r"odd\.span of type int4range .*dev/table_seeder/values\.py"):
        seed_empty_tables(conn, 10)


def test_a_nullable_column_it_cannot_fill_is_left_null(conn) -> None:
    conn.execute(sa.text("CREATE TABLE odd (id int PRIMARY KEY, span int4range)"))
    conn.commit()
    assert seed_empty_tables(conn, 10)["odd"] == 10
    assert _q(conn, "SELECT count(*) FROM odd WHERE span IS NULL") == 10


def test_seed_and_analyze_leaves_tables_analysed_and_the_connection_as_it_was(conn) -> None:
    # reltuples is -1 until a table is first vacuumed or analysed (one statement here: VACUUM ANALYZE).
    assert _q(conn, "SELECT reltuples FROM pg_class WHERE relname = 'children'") == -1
    level = conn.get_isolation_level()
    seeded = seed_and_analyze(conn, 120)
    assert _q(conn, "SELECT reltuples FROM pg_class WHERE relname = 'children'") == seeded["children"] == 120
    conn.rollback()
    assert conn.get_isolation_level() == level != "AUTOCOMMIT"
    assert seed_and_analyze(conn, 120) == {}, "nothing left to seed: nothing seeded, nothing vacuumed"

"""dev.postgres.alembic_version: the one reader of the revision a database is at, for the harness and its tests."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dev import postgres


def test_base_then_one_revision_then_several_heads(database_url: str) -> None:
    assert postgres.alembic_version(database_url) is None  # no table yet
    with postgres.connect(database_url) as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        conn.commit()
        assert postgres.alembic_version(conn) is None  # the table, no row: still base
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('abc123')"))
        assert postgres.alembic_version(conn) == "abc123", "read inside the connection's own transaction"
        conn.commit()
        assert postgres.alembic_version(database_url) == "abc123", "and from a connection of its own"
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('def456')"))
        conn.commit()
    with pytest.raises(ValueError, match=r"2 revisions \(abc123, def456\): several heads"):
        postgres.alembic_version(database_url)

"""pytest-alembic's standard checks, run against PostgreSQL inside an application context (see conftest.py).

``test_downgrade_leaves_no_trace`` is our own version of pytest-alembic's experimental test of that name: the
original rolls DDL back inside savepoints and hands ``env.py`` a fake engine, which cannot work with revisions
that must commit (``CREATE INDEX CONCURRENTLY`` in an ``autocommit_block``) nor with Flask-Migrate's ``env.py``.
This one commits for real and compares Alembic's autogenerate view of the schema before the upgrade and after
the downgrade. The catalog-snapshot round-trip (test_roundtrip.py) is the stricter check (enum types, sequences,
index details); this one speaks Alembic's language in its message.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext as AlembicMigrationContext
from pytest_alembic.tests import (  # noqa: F401  (collected as tests here)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection


def test_engine_is_postgresql(alembic_engine: Connection) -> None:
    """The built-ins silently pass on SQLite; make sure they ran where production runs."""
    assert alembic_engine.dialect.name == "postgresql"


def _reflect(conn: Connection) -> MetaData:
    metadata = MetaData()
    metadata.reflect(conn)
    metadata.remove(metadata.tables["alembic_version"]) if "alembic_version" in metadata.tables else None
    conn.commit()
    return metadata


def downgrade_leaves_no_trace(alembic_runner, conn: Connection) -> None:
    """For each revision: reflect, upgrade, downgrade; Alembic must see no difference from the reflected state."""
    for revision in [r for r in alembic_runner.history.revisions if r not in ("base", "heads")]:
        before = _reflect(conn)
        alembic_runner.migrate_up_one()
        alembic_runner.migrate_down_one()
        context = AlembicMigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diffs = compare_metadata(context, before)
        conn.commit()
        if diffs:
            pytest.fail(
                f"revision {revision}: its downgrade does not restore the schema it started from; Alembic sees "
                f"{len(diffs)} difference(s): {diffs}. Make downgrade() undo every change upgrade() makes."
            )
        alembic_runner.migrate_up_one()


def test_downgrade_leaves_no_trace(alembic_runner, alembic_engine: Connection) -> None:
    downgrade_leaves_no_trace(alembic_runner, alembic_engine)

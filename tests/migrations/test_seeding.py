"""The generic seeder (dev/table_seeder, what the round trip, `make lock-report` and `make rehearse` fill tables
with) fills every table of the history under test at head, without naming them: whatever tables the team adds."""

from __future__ import annotations

import sqlalchemy as sa

from dev.table_seeder import seed_empty_tables
from tests.support.history_under_test import UpgradeFailure


def test_seeder_fills_every_table_at_head(migrations_app, upgrade_failure: UpgradeFailure | None) -> None:
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    if upgrade_failure is not None:
        upgrade_failure.skip_below()
    migrator.upgrade()
    with db.engine.connect() as connection:
        seeded = seed_empty_tables(connection, 60)
        tables = connection.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
        ).scalars()
        assert set(seeded) == set(tables), "a table of the schema at head was left empty"
        assert all(count > 0 for count in seeded.values())

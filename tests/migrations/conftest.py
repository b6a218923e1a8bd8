"""The checks of the team's history (``make check-migrations``): their order, and pytest-alembic wired to the
Flask-Migrate environment, on real PostgreSQL, inside an application context.

Only checks of the history under test live in this directory (the project's ``migrations/``, or ``$MIGRATIONS_DIR``);
the migration kit's own tests are in tests/migration_kit. Each check is parametrized by revision where it can be, so
an unsafe revision fails once per problem, named after the problem and the revision; a check that cannot run
because a revision below fails to upgrade is skipped, naming that revision (its own round trip says why).

pytest-alembic defaults to an in-memory SQLite engine and knows nothing about Flask; our ``env.py`` reads
``current_app`` (engine URL, metadata), so every test here runs inside ``app.app_context()`` (the recipe from
Flask-Migrate issue 354). ``alembic_engine`` yields a *Connection*, not an Engine: ``env.py`` passes
``config.attributes["connection"]`` straight to ``context.configure``, which rejects an Engine. The helpers the
tests import (the history under test, the settling runner) are in history_under_test.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.config import Config as AlembicConfig
from flask import Flask
from pytest_alembic.runner import MigrationContext
from sqlalchemy.engine import Connection

from dev.postgres import create_database, drop_database
from tests.support.history_under_test import (
    UpgradeFailure,
    alembic_config_for,
    alembic_runner_for,
    first_upgrade_failure,
    migrations_dir,
)

# The most telling check first: data loss and failures on real rows, then pytest-alembic's, the SQL lint, the
# production path through Lambda, then what follows from the history (the README's table, the seeder at head).
ORDER = (
    "test_roundtrip.py",
    "test_pytest_alembic.py",
    "test_lint.py",
    "test_through_lambda.py",
    "test_history_table.py",
    "test_seeding.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return ORDER.index(name) if item.path.parent.name == "migrations" and name in ORDER else len(ORDER)

    items.sort(key=rank)  # stable: the order within a file is kept, and other directories' tests come after


@pytest.fixture(scope="session")
def upgrade_failure(pg_admin_url: str) -> Iterator[UpgradeFailure | None]:
    """The first revision that fails to upgrade an empty database (None when the whole history upgrades)."""
    url = create_database(pg_admin_url, prefix="test")
    try:
        yield first_upgrade_failure(url)
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
def migrations_app(make_app) -> Iterator[Flask]:
    """An app on this test's empty database, with the migrations directory under test, counting what each revision
    destroys (data loss); its context is pushed."""
    app = make_app(MIGRATIONS_DIR=migrations_dir(), MIGRATION_COUNT_DATA_LOSS=True)
    with app.app_context():
        yield app


@pytest.fixture
def alembic_config(migrations_app: Flask) -> AlembicConfig:
    """Flask-Migrate's own Alembic config (alembic.ini, script location) for the directory under test."""
    return alembic_config_for(migrations_app)


@pytest.fixture
def alembic_engine(migrations_app: Flask) -> Iterator[Connection]:
    """A connection to this test's PostgreSQL database, for pytest-alembic to migrate through."""
    from yt_pubsub_handler.extensions import db

    with db.engine.connect() as conn:
        yield conn


@pytest.fixture
def alembic_runner(
    migrations_app: Flask, alembic_config: AlembicConfig, alembic_engine: Connection
) -> Iterator[MigrationContext]:
    """pytest-alembic's runner, with the settling executor (history_under_test.py says why)."""
    with alembic_runner_for(migrations_app, alembic_engine, alembic_config) as runner:
        yield runner

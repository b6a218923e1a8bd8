"""pytest-alembic wired to the Flask-Migrate environment, on real PostgreSQL, inside an application context.

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
from history_under_test import alembic_config_for, alembic_runner_for, migrations_dir
from pytest_alembic.runner import MigrationContext
from sqlalchemy.engine import Connection


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

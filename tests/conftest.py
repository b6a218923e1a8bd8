"""Shared fixtures: one real PostgreSQL cluster per session, one fresh database per test.

Set TEST_DATABASE_URL (or DATABASE_URL) to a server you own to use it instead of the embedded cluster; each
test still gets its own database created on that server (the URL's user needs CREATEDB).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dev.postgres import EmbeddedPostgres, admin_execute

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a maintenance database on a server the tests may create databases on."""
    given = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    # World-traversable parent: as root the server runs as an unprivileged user (see dev/postgres.py).
    base = Path(tempfile.mkdtemp(prefix="yt-pubsub-pg-"))
    base.chmod(0o755)
    server = EmbeddedPostgres(base / "cluster", fast_unsafe=True).start()
    try:
        yield server.url("postgres")
    finally:
        server.destroy()


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for this test; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin_execute(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield _with_database(pg_admin_url, name)
    finally:
        admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_app(database_url: str):
    """Factory for apps bound to this test's database; disposes their engines at teardown."""
    from yt_pubsub_handler import create_app
    from yt_pubsub_handler.extensions import db

    apps = []

    def factory(**overrides):
        config = {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "WEBSUB_SECRET": "test-secret",
            "WEBSUB_CALLBACK_URL": "http://127.0.0.1:8000/websub",
        }
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """An app whose database is migrated to head."""
    from yt_pubsub_handler import migrator

    app = make_app()
    with app.app_context():
        migrator.upgrade()
    return app


@pytest.fixture
def client(app):
    return app.test_client()

"""Shared fixtures: one real PostgreSQL cluster per test process (each pytest-xdist worker has its own), one fresh
database per test; and every test's tier (tests/support/tiers.py).

Set TEST_DATABASE_URL (or DATABASE_URL) to a server you own to use it instead of the embedded cluster; each
test still gets its own database created on that server (the URL's user needs CREATEDB).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dev.guard import check_database_url
from dev.postgres import EmbeddedPostgres, create_database, drop_database, service_tempdir
from tests.support import tiers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tiers.assign(items)


@pytest.fixture(autouse=True)
def _tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test of a cheap tier that starts what a dearer one does fails, saying which mark it needs."""
    tiers.guard(request.node, monkeypatch)


MEMORY_FS = Path("/dev/shm")
# A cluster and the databases of one worker's tests take a few hundred MB at most; a container's default 64 MB
# /dev/shm would fill up, so a small one is passed over for the disk.
MEMORY_FS_NEEDED = 1024**3


def _free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def _cluster_dir() -> Path:
    """Where this process's throwaway cluster lives: in memory where the machine has a tmpfs (CREATE DATABASE, once
    per test, takes ~30 ms there against ~200 ms on disk), else a temporary directory the server's user can reach
    (as root it runs as an unprivileged user: dev/postgres.py)."""
    if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK | os.X_OK) and _free_bytes(MEMORY_FS) >= MEMORY_FS_NEEDED:
        base = Path(tempfile.mkdtemp(prefix="yt-pubsub-pg-", dir=MEMORY_FS))
        base.chmod(0o755)
        return base
    return service_tempdir("yt-pubsub-pg-")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a maintenance database on a server the tests may create databases on."""
    given = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if given:
        # The tests create and drop databases: never on a shared server (dev/guard.py says why).
        check_database_url(given)
        yield given
        return
    base = _cluster_dir()
    server = EmbeddedPostgres(base / "cluster", fast_unsafe=True).start()
    try:
        yield server.url("postgres")
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def new_database(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Factory of more empty databases on the test server (a test may need several); all dropped at teardown."""
    created: list[str] = []

    def factory() -> str:
        created.append(create_database(pg_admin_url, prefix="test"))
        return created[-1]

    yield factory
    for url in created:
        drop_database(pg_admin_url, url)


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """This test's own database, fresh and empty (at base); dropped afterwards. ``migrated_database_url`` is at head."""
    url = create_database(pg_admin_url, prefix="test")
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture(scope="session")
def head_template(pg_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session, cloned for every test that needs a ready schema.

    Migrating per test costs ~0.3 s; cloning a template costs a few ms. The migrations themselves are proven
    from base by tests/core and tests/migrations.
    """
    from yt_pubsub_handler import create_app, migrator
    from yt_pubsub_handler.extensions import db

    url = create_database(pg_admin_url, prefix="test")
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        migrator.upgrade()
        db.engine.dispose()
    yield make_url(url).database
    drop_database(pg_admin_url, url)


@pytest.fixture
def migrated_database_url(pg_admin_url: str, head_template: str) -> Iterator[str]:
    """A fresh database already at head (a clone of ``head_template``); dropped afterwards."""
    url = create_database(pg_admin_url, template=head_template, prefix="test")
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


def _app_factory(database_url: str):
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

    def dispose():
        for app in apps:
            with app.app_context():
                db.engine.dispose()

    return factory, dispose


@pytest.fixture
def make_app(database_url: str):
    """Factory for apps bound to this test's empty database (``database_url``); disposes their engines at teardown."""
    factory, dispose = _app_factory(database_url)
    yield factory
    dispose()


@pytest.fixture
def make_migrated_app(migrated_database_url: str):
    """Factory for apps bound to this test's database at head (``migrated_database_url``, the one ``app`` uses)."""
    factory, dispose = _app_factory(migrated_database_url)
    yield factory
    dispose()


@pytest.fixture
def app(make_migrated_app):
    """An app whose database is at head (``migrated_database_url``)."""
    return make_migrated_app()


@pytest.fixture
def client(app):
    return app.test_client()

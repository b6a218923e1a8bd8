"""Apps on databases of their own, for fixtures wider than one test (a module's measurement done once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dev.postgres import create_database, drop_database


@contextmanager
def app_on_new_database(admin_url: str, **config: Any) -> Iterator[Any]:
    """An app (``config`` on top of the test defaults) on a new empty database of the test server; the engine is
    disposed and the database dropped on exit."""
    from yt_pubsub_handler import create_app
    from yt_pubsub_handler.extensions import db

    url = create_database(admin_url, prefix="test")
    app = create_app({"DATABASE_URL": url, "TESTING": True, **config})
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        drop_database(admin_url, url)

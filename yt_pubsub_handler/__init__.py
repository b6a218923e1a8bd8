"""yt_pubsub_handler: a YouTube WebSub subscriber that stores channels and videos in PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import MIGRATIONS_DIR, load_config
from .extensions import db, migrate

__all__ = ["MIGRATIONS_DIR", "create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: configuration from the environment, overridden by ``config``."""
    app = Flask(__name__)
    app.config.update(load_config(config))

    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIR"], compare_type=True, render_as_batch=False)

    from . import api, models, websub  # noqa: F401  (models: register tables on the metadata)

    app.register_blueprint(websub.bp)
    app.register_blueprint(api.bp)
    return app

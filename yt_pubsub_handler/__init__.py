"""yt_pubsub_handler: a YouTube WebSub subscriber that stores channels and videos in PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .config import load_config
from .extensions import db, migrate

# migrations/ sits next to the package both in the repository and in Zappa's package; absolute, because
# Flask-Migrate's default is relative to whatever the current directory happens to be.
MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: configuration from the environment, overridden by ``config``."""
    app = Flask(__name__)
    app.config.update(load_config(config))
    app.config.setdefault("MIGRATIONS_DIR", MIGRATIONS_DIR)

    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIR"], compare_type=True, render_as_batch=False)

    from . import api, models, websub  # noqa: F401  (models: register tables on the metadata)

    app.register_blueprint(websub.bp)
    app.register_blueprint(api.bp)
    return app

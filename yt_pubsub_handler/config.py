"""Configuration from the environment, normalised once so the rest of the app can trust it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# SQLAlchemy 2.1 maps a bare ``postgresql://`` URL to psycopg 3; we ship psycopg2 (it has Lambda wheels
# and is what the team runs in production), so every accepted spelling is pinned to it here.
DRIVER_PREFIX = "postgresql+psycopg2://"
_ACCEPTED_PREFIXES = ("postgres://", "postgresql://", DRIVER_PREFIX)

ENV_KEYS = (
    "DATABASE_URL",
    "WEBSUB_HUB_URL",
    "WEBSUB_CALLBACK_URL",
    "WEBSUB_SECRET",
    "WEBSUB_LEASE_SECONDS",
    "MIGRATION_LOCK_TIMEOUT",
    "DB_CONNECT_TIMEOUT",
)

DEFAULTS: dict[str, Any] = {
    "WEBSUB_HUB_URL": "https://pubsubhubbub.appspot.com/subscribe",
    "WEBSUB_CALLBACK_URL": None,
    "WEBSUB_SECRET": None,
    "WEBSUB_LEASE_SECONDS": 432000,  # what YouTube's hub grants anyway: five days
    "MIGRATION_LOCK_TIMEOUT": 60.0,
    "DB_CONNECT_TIMEOUT": 5,
    "API_PAGE_SIZE": 50,
}


class ConfigError(RuntimeError):
    """The app cannot start with the configuration it was given."""


def normalise_database_url(url: str) -> str:
    """Return ``url`` with the psycopg2 driver spelled out.

    ``postgres://`` is what Heroku-style providers and many secrets hand out; SQLAlchemy stopped accepting it.
    """
    url = url.strip()
    for prefix in _ACCEPTED_PREFIXES:
        if url.startswith(prefix):
            return DRIVER_PREFIX + url[len(prefix) :]
    scheme = url.split("://", 1)[0] if "://" in url else url[:20]
    raise ConfigError(
        f"DATABASE_URL must be a PostgreSQL URL (postgresql://user:pass@host:port/db), got scheme {scheme!r}"
    )


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config: defaults < environment < explicit overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = dict(DEFAULTS)
    values.update({key: environ[key] for key in ENV_KEYS if environ.get(key)})
    values.update(overrides or {})

    raw_url = values.get("SQLALCHEMY_DATABASE_URI") or values.get("DATABASE_URL")
    if not raw_url:
        raise ConfigError(
            "DATABASE_URL is not set: export DATABASE_URL=postgresql://user:pass@host:port/dbname "
            "(in the sandbox, `make status` prints it)"
        )
    connect_timeout = int(values["DB_CONNECT_TIMEOUT"])
    values["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(str(raw_url))
    # Lambda: one request at a time per container, connections die when the container freezes.
    values.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        {
            "pool_pre_ping": True,
            "pool_size": 1,
            "max_overflow": 2,
            "pool_recycle": 300,
            "connect_args": {"connect_timeout": connect_timeout},
        },
    )
    values["WEBSUB_LEASE_SECONDS"] = int(values["WEBSUB_LEASE_SECONDS"])
    values["MIGRATION_LOCK_TIMEOUT"] = float(values["MIGRATION_LOCK_TIMEOUT"])
    return values

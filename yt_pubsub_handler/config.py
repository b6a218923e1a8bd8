"""Configuration from the environment, normalised once so the rest of the app can trust it.

Every setting the app reads is declared in ``SETTINGS`` below, with its default, its parser and what it is for:
the rest of the package reads ``current_app.config[NAME]`` and never repeats a default. Each one can be set in
the environment (Zappa's ``environment_variables`` / ``remote_env``) or passed to ``create_app({...})``;
precedence is default < environment < explicit overrides. A value that does not parse stops the app at start-up
with an error that names the variable, instead of failing on the first request that needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# SQLAlchemy 2.1 maps a bare ``postgresql://`` URL to psycopg 3; we ship psycopg2 (it has Lambda wheels
# and is what the team runs in production), so every accepted spelling is pinned to it here.
DRIVER_PREFIX = "postgresql+psycopg2://"
_ACCEPTED_PREFIXES = ("postgres://", "postgresql://", DRIVER_PREFIX)

# migrations/ sits next to the package both in the repository and in Zappa's package; absolute, because
# Flask-Migrate's default is relative to whatever the current directory happens to be.
MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


class ConfigError(RuntimeError):
    """The app cannot start with the configuration it was given."""


@dataclass(frozen=True)
class Setting:
    """One configuration key: its default (None: unset), how a raw value becomes a typed one, and why it exists."""

    name: str
    default: Any
    parse: Callable[[str, Any], Any]
    doc: str


def _text(name: str, raw: Any) -> str:
    return str(raw).strip()


def _directory(name: str, raw: Any) -> str:
    return str(Path(str(raw).strip()).expanduser().resolve())  # absolute, whatever the current directory is later


def _secret(name: str, raw: Any) -> str:
    return str(raw)  # byte for byte: the per-topic secrets the hub holds were derived from exactly this


def _positive_int(name: str, raw: Any) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {str(raw)[:40]!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _positive_float(name: str, raw: Any) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {str(raw)[:40]!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0, got {value}")
    return value


def _flag(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {str(raw)[:40]!r}")


def _database_url(name: str, raw: Any) -> str:
    return normalise_database_url(str(raw))


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", None, _database_url, "PostgreSQL URL; `postgres://` and `postgresql://` become psycopg2"),
    Setting("DB_CONNECT_TIMEOUT", 5, _positive_int, "seconds a database connection attempt may take"),
    Setting("MIGRATIONS_DIR", MIGRATIONS_DIR, _directory, "the Alembic directory (`migrations/` next to the package)"),
    Setting("MIGRATION_LOCK_TIMEOUT", 60.0, _positive_float, "seconds a migration waits for another one to finish"),
    Setting(
        "MIGRATION_TIME_LIMIT",
        None,
        _positive_float,
        "seconds a migration may take when Lambda's context does not say (the stage's timeout_seconds); its "
        "statements get statement_timeout/lock_timeout a margin before it (migration_deadline.py); unset: no limit",
    ),
    Setting(
        "MIGRATION_LOCK_RETRY_SECONDS",
        60.0,
        _positive_float,
        "with no deadline (no Lambda context, no MIGRATION_TIME_LIMIT): how long a step that failed on its "
        "lock_timeout is retried, with backoff, before the migration fails; with a deadline, retries go on while it "
        "allows",
    ),
    Setting(
        "MIGRATION_COUNT_DATA_LOSS",
        False,
        _flag,
        "count what each revision destroys (dropped columns' values, dropped tables' rows) just before it does, and "
        "report it as data loss; on where people rehearse (the local stage), off in production (it scans the tables)",
    ),
    Setting("WEBSUB_HUB_URL", "https://pubsubhubbub.appspot.com/subscribe", _text, "the hub subscriptions are sent to"),
    Setting("WEBSUB_CALLBACK_URL", None, _text, "public base URL of `/websub`; the channel id is appended"),
    Setting("WEBSUB_SECRET", None, _secret, "master secret; per-topic `hub.secret`s are derived from it"),
    Setting("WEBSUB_LEASE_SECONDS", 432000, _positive_int, "lease asked of the hub (YouTube grants five days)"),
    Setting("WEBSUB_MAX_BODY_BYTES", 1024 * 1024, _positive_int, "larger notification bodies are refused with 413"),
    Setting("WEBSUB_HUB_CONNECT_TIMEOUT", 5.0, _positive_float, "seconds to connect to the hub"),
    Setting("WEBSUB_HUB_READ_TIMEOUT", 15.0, _positive_float, "seconds to wait for the hub's answer"),
    Setting("WEBSUB_RENEW_WITHIN_SECONDS", 2 * 86400, _positive_int, "renew leases that end within this window"),
    Setting("WEBSUB_RETRY_UNVERIFIED_SECONDS", 3600, _positive_int, "ask again for a subscription never verified"),
    Setting("API_PAGE_SIZE", 50, _positive_int, "videos per page when the request gives no `limit`"),
    Setting("API_MAX_PAGE_SIZE", 200, _positive_int, "the largest `limit` a request may ask for"),
)
SETTING_NAMES = tuple(setting.name for setting in SETTINGS)


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


def _raw_value(setting: Setting, overrides: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """The override, else the environment; None means the default.

    An override of None is an explicit "unset" (a test that wants no ``WEBSUB_SECRET`` must not get the
    developer's exported one); an empty environment variable counts as unset too.
    """
    if setting.name in overrides:
        return overrides[setting.name]
    return environ.get(setting.name) or None


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config: defaults < environment < explicit overrides, every setting parsed and checked."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    if overrides.get("SQLALCHEMY_DATABASE_URI"):  # Flask-SQLAlchemy's own name wins, as it always has
        overrides["DATABASE_URL"] = overrides["SQLALCHEMY_DATABASE_URI"]
    values: dict[str, Any] = dict(overrides)
    for setting in SETTINGS:
        raw = _raw_value(setting, overrides, environ)
        values[setting.name] = setting.default if raw is None else setting.parse(setting.name, raw)
    _check(values)
    values["SQLALCHEMY_DATABASE_URI"] = values["DATABASE_URL"]
    # Lambda: one request at a time per container, connections die when the container freezes.
    values.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        {
            "pool_pre_ping": True,
            "pool_size": 1,
            "max_overflow": 2,
            "pool_recycle": 300,
            "connect_args": {"connect_timeout": values["DB_CONNECT_TIMEOUT"]},
        },
    )
    return values


def _check(values: Mapping[str, Any]) -> None:
    """What no single setting can check on its own."""
    if not values["DATABASE_URL"]:
        raise ConfigError(
            "DATABASE_URL is not set: export DATABASE_URL=postgresql://user:pass@host:port/dbname "
            "(in the sandbox, `make status` prints it)"
        )
    if values["API_PAGE_SIZE"] > values["API_MAX_PAGE_SIZE"]:
        raise ConfigError(
            f"API_PAGE_SIZE ({values['API_PAGE_SIZE']}) is larger than API_MAX_PAGE_SIZE "
            f"({values['API_MAX_PAGE_SIZE']}): lower the first or raise the second"
        )

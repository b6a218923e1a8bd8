"""Zappa entry points: ``app`` for HTTP, and functions for ``zappa invoke STAGE 'run.<name>'``.

Lambda has no shell, so schema changes run as ``zappa invoke production 'run.run_alembic_upgrade'``. Zappa's
handler calls ``fn(event, context)`` with the invoke payload as ``event``; optional keys:

    revision  target revision (upgrade: default "head"; downgrade: default "-1", or "base"/an id)
    sql       true: return the SQL instead of running it (offline mode); "FROM:TO" ranges allowed

Both parameters are required on purpose: Zappa retries a function with fewer arguments on *any* TypeError,
so optional parameters would run a failing body three times.

The migration functions pass the time the invocation has left (``context.get_remaining_time_in_millis()``: Zappa
does not put ``timeout_seconds`` in the environment) to the migrator, which ends every statement a margin before
Lambda would kill it, so a hung step reports which revision and why (``yt_pubsub_handler/migration_deadline.py``).
"""

from __future__ import annotations

from typing import Any

from yt_pubsub_handler import create_app, migrator, subscriptions

app = create_app()


def _options(event: Any) -> dict:
    if event is None:
        return {}
    if not isinstance(event, dict):
        raise ValueError(f"the payload must be a JSON object, got {type(event).__name__}")
    allowed = {"revision", "sql", "command"}
    unknown = sorted(set(event) - allowed - {"kwargs"})
    if unknown:
        raise ValueError(f"unknown payload key(s) {unknown}: allowed are 'revision' and 'sql'")
    options = {}
    if event.get("revision") is not None:
        if not isinstance(event["revision"], str) or not event["revision"]:
            raise ValueError('\'revision\' must be a non-empty string, e.g. "head", "-1" or a revision id')
        options["revision"] = event["revision"]
    if "sql" in event:
        if not isinstance(event["sql"], bool):
            raise ValueError("'sql' must be true or false")
        options["sql"] = event["sql"]
    return options


def _time_left(context: Any) -> float | None:
    """Seconds this invocation has left, from Lambda's context; None without one (the MIGRATION_TIME_LIMIT setting
    then applies)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else None


def run_alembic_upgrade(event: Any, context: Any) -> dict:
    """Upgrade the schema (default: to head)."""
    with app.app_context():
        return migrator.upgrade(**_options(event), time_left=_time_left(context))


def run_alembic_downgrade(event: Any, context: Any) -> dict:
    """Downgrade the schema (default: one revision)."""
    with app.app_context():
        return migrator.downgrade(**_options(event), time_left=_time_left(context))


def run_alembic_current(event: Any, context: Any) -> dict:
    with app.app_context():
        return migrator.current()


def run_alembic_history(event: Any, context: Any) -> dict:
    with app.app_context():
        return migrator.history()


def run_alembic_check(event: Any, context: Any) -> dict:
    """Fail (function error) when the models need a revision that does not exist yet."""
    with app.app_context():
        return migrator.check()


def subscribe_channel(event: Any, context: Any) -> dict:
    """``zappa invoke STAGE 'run.subscribe_channel' --payload '{"channel_id": "UC..."}'``: ask the hub."""
    channel_id = event.get("channel_id") if isinstance(event, dict) else None
    if not isinstance(channel_id, str) or not channel_id:
        raise ValueError('the payload needs the channel to subscribe to: {"channel_id": "UC..."}')
    with app.app_context():
        return subscriptions.subscribe(channel_id)


def renew_subscriptions(event: Any, context: Any) -> dict:
    """Daily (zappa_settings.json ``events``): re-subscribe leases that expire within two days."""
    with app.app_context():
        return subscriptions.renew_subscriptions()

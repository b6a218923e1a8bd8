"""run.py's functions called the way Zappa calls them: ``fn(event, context)`` through Zappa's own dispatcher.

The migration functions run on the widgets fixture history (tests/examples/histories/widgets) (``revisions``); the
WebSub functions need the app's own schema, so they get a database at head of the project's history.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from zappa.handler import LambdaHandler

from dev import postgres
from dev.hub import Hub, serve

STEP_KEYS = {"revision", "down_revision", "message", "direction", "ms"}


@pytest.fixture
def load_run(monkeypatch) -> Iterator[Callable[[str], ModuleType]]:
    """Import run.py afresh for a database (it builds its app at import, as on Lambda); disposed afterwards."""
    loaded: list[ModuleType] = []

    def load(database_url: str) -> ModuleType:
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("WEBSUB_SECRET", "test-secret")
        monkeypatch.setenv("WEBSUB_CALLBACK_URL", "http://127.0.0.1:8000/websub")
        sys.modules.pop("run", None)
        loaded.append(importlib.import_module("run"))
        return loaded[-1]

    yield load
    from yt_pubsub_handler.extensions import db

    for module in loaded:
        with module.app.app_context():
            db.engine.dispose()
    sys.modules.pop("run", None)


@pytest.fixture
def run_module(load_run, database_url: str, history_dir: Path) -> ModuleType:
    """run.py on this test's empty database, its migrations being the fixture history."""
    module = load_run(database_url)
    module.app.config["MIGRATIONS_DIR"] = str(history_dir)
    return module


@pytest.fixture
def counted(monkeypatch) -> Callable[[ModuleType], list]:
    """Count how many times a run.py function's body runs: every body parses its payload once (``_options``)."""

    def install(module: ModuleType) -> list:
        calls: list = []
        original = module._options

        def counting(event):
            calls.append(event)
            return original(event)

        monkeypatch.setattr(module, "_options", counting)
        return calls

    return install


def invoke(fn, event):
    """What zappa.handler does with {"command": "run.fn", ...}."""
    return LambdaHandler.run_function(fn, event, context=None)


def test_upgrade_downgrade_current_history_check(run_module, revisions):
    head, below = revisions[-1], revisions[-2]
    up = invoke(run_module.run_alembic_upgrade, {"command": "run.run_alembic_upgrade"})
    assert {k: up[k] for k in ("action", "from_revision", "to_revision")} == {
        "action": "upgrade",
        "from_revision": None,
        "to_revision": head,
    }
    assert [s["revision"] for s in up["steps"]] == revisions
    assert all(set(s) == STEP_KEYS and s["direction"] == "upgrade" for s in up["steps"])
    assert invoke(run_module.run_alembic_check, {}) == {"action": "check", "ok": True, "revision": head, "diffs": []}

    down = invoke(run_module.run_alembic_downgrade, {"command": "run.run_alembic_downgrade"})
    assert (down["action"], down["from_revision"], down["to_revision"]) == ("downgrade", head, below)
    assert [(s["revision"], s["direction"]) for s in down["steps"]] == [(head, "downgrade")]

    current = invoke(run_module.run_alembic_current, {})
    assert {k: current[k] for k in ("action", "revision", "head", "is_head", "pending")} == {
        "action": "current",
        "revision": below,
        "head": head,
        "is_head": False,
        "pending": [head],
    }
    history = invoke(run_module.run_alembic_history, {})
    assert history["action"] == "history" and history["current"] == below
    assert [(r["revision"], r["applied"]) for r in history["revisions"]] == [(r, r != head) for r in revisions]


def test_payload_revision_and_sql(run_module, revisions, database_url):
    target = revisions[1]
    sql = invoke(run_module.run_alembic_upgrade, {"revision": target, "sql": True})
    assert (sql["mode"], sql["from_revision"], sql["to_revision"]) == ("sql", None, target)
    assert "CREATE TYPE gadget_kind" in sql["sql"] and "RENAME" not in sql["sql"]
    assert invoke(run_module.run_alembic_current, {})["revision"] is None, "sql=true must not touch the database"

    up = invoke(run_module.run_alembic_upgrade, {"revision": target})
    assert up["to_revision"] == target and [s["revision"] for s in up["steps"]] == revisions[:2]
    down = invoke(run_module.run_alembic_downgrade, {"revision": "base"})
    assert down["from_revision"] == target and down["to_revision"] is None
    assert [s["revision"] for s in down["steps"]] == [revisions[1], revisions[0]]


@pytest.mark.parametrize(
    "event, message",
    [
        ({"revision": 5}, "non-empty string"),
        ({"revision": ""}, "non-empty string"),
        ({"sql": "yes"}, "true or false"),
        ({"revison": "head"}, "unknown payload key"),
        (["head"], "JSON object"),
    ],
)
def test_bad_payloads_fail_once_with_a_clear_message(run_module, counted, event, message):
    calls = counted(run_module)
    with pytest.raises(ValueError, match=message):
        invoke(run_module.run_alembic_upgrade, event)
    assert calls == [event], "Zappa's dispatcher ran the body more than once"
    assert run_module.run_alembic_current({}, None)["revision"] is None


def test_a_type_error_inside_the_body_is_not_retried_by_zappa(run_module, counted, monkeypatch):
    """Zappa retries ``f(event)`` and ``f()`` on any TypeError: required parameters keep that from re-running a body."""
    calls = counted(run_module)

    def broken(**options):
        raise TypeError("a bug deep inside the migration")

    monkeypatch.setattr(run_module.migrator, "upgrade", broken)
    with pytest.raises(RuntimeError, match="Function signature is invalid"):
        invoke(run_module.run_alembic_upgrade, {"revision": "head"})
    assert calls == [{"revision": "head"}]


def test_renew_subscriptions_renews_what_is_due(load_run, migrated_database_url):
    module = load_run(migrated_database_url)
    now = datetime.now(UTC)
    engine = postgres.engine(migrated_database_url)
    with engine.begin() as conn:
        for channel, expires in (
            ("UCdue0000000000000000001", now + timedelta(hours=3)),
            ("UClater00000000000000001", now + timedelta(days=4)),
        ):
            conn.execute(sa.text("INSERT INTO channels (id) VALUES (:c)"), {"c": channel})
            conn.execute(
                sa.text(
                    "INSERT INTO subscriptions (channel_id, topic_url, callback_url, state, lease_seconds, expires_at)"
                    " VALUES (:c, 'https://example.invalid/t', 'http://127.0.0.1:8000/websub', 'active', 432000, :e)"
                ),
                {"c": channel, "e": expires},
            )
    engine.dispose()
    with serve(Hub(verification="manual")) as running:
        module.app.config["WEBSUB_HUB_URL"] = running.url
        result = invoke(module.renew_subscriptions, {})
    hub = running.hub
    assert result["action"] == "renew_subscriptions"
    assert (result["checked"], result["renewed"], result["failed"]) == (1, ["UCdue0000000000000000001"], [])
    assert [(r.form["hub.mode"], r.form["hub.topic"].rsplit("=", 1)[1]) for r in hub.requests] == [
        ("subscribe", "UCdue0000000000000000001")
    ]


def test_subscribe_channel_asks_the_hub_and_records_a_pending_subscription(load_run, migrated_database_url):
    module = load_run(migrated_database_url)
    with serve(Hub(verification="manual")) as running:
        module.app.config["WEBSUB_HUB_URL"] = running.url
        result = invoke(module.subscribe_channel, {"channel_id": "UCabcdefghijklmnopqrstuv"})
    hub = running.hub
    assert (result["channel_id"], result["state"]) == ("UCabcdefghijklmnopqrstuv", "pending")
    assert result["topic_url"].endswith("channel_id=UCabcdefghijklmnopqrstuv")
    assert [r.form["hub.mode"] for r in hub.requests] == ["subscribe"]
    assert hub.requests[0].form["hub.topic"] == result["topic_url"]
    with pytest.raises(ValueError, match="channel_id"):
        invoke(module.subscribe_channel, {})
    assert len(hub.requests) == 1, "a refused payload must not reach the hub"


def test_missing_database_url_names_the_variable(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    sys.modules.pop("run", None)
    from yt_pubsub_handler.config import ConfigError

    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        importlib.import_module("run")
    sys.modules.pop("run", None)

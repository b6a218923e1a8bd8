"""run.py's functions called the way Zappa calls them: ``fn(event, context)`` through Zappa's own dispatcher."""

from __future__ import annotations

import importlib
import sys

import pytest
from zappa.handler import LambdaHandler

HEAD = "5787b560db48"


@pytest.fixture
def run_module(database_url, monkeypatch):
    """A freshly imported run.py bound to this test's database (it builds its app at import, as on Lambda)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WEBSUB_SECRET", "test-secret")
    monkeypatch.setenv("WEBSUB_CALLBACK_URL", "http://127.0.0.1:8000/websub")
    sys.modules.pop("run", None)
    module = importlib.import_module("run")
    yield module
    from yt_pubsub_handler.extensions import db

    with module.app.app_context():
        db.engine.dispose()
    sys.modules.pop("run", None)


def invoke(fn, event):
    """What zappa.handler does with {"command": "run.fn", ...}."""
    return LambdaHandler.run_function(fn, event, context=None)


def test_upgrade_downgrade_current_history_check(run_module):
    up = invoke(run_module.run_alembic_upgrade, {"command": "run.run_alembic_upgrade"})
    assert up["to_revision"] == HEAD and len(up["steps"]) == 6
    assert invoke(run_module.run_alembic_check, {})["ok"] is True
    down = invoke(run_module.run_alembic_downgrade, {"command": "run.run_alembic_downgrade"})
    assert [s["revision"] for s in down["steps"]] == [HEAD]
    current = invoke(run_module.run_alembic_current, {})
    assert current["pending"] == [HEAD]
    history = invoke(run_module.run_alembic_history, {})
    assert history["current"] == down["to_revision"]


def test_payload_revision_and_sql(run_module):
    sql = invoke(run_module.run_alembic_upgrade, {"revision": "5688141dba78", "sql": True})
    assert "CREATE TYPE subscription_state" in sql["sql"] and "RENAME" not in sql["sql"]
    up = invoke(run_module.run_alembic_upgrade, {"revision": "5688141dba78"})
    assert up["to_revision"] == "5688141dba78"
    down = invoke(run_module.run_alembic_downgrade, {"revision": "base"})
    assert down["to_revision"] is None and len(down["steps"]) == 2


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
def test_bad_payloads_fail_once_with_a_clear_message(run_module, event, message):
    with pytest.raises(ValueError, match=message):
        invoke(run_module.run_alembic_upgrade, event)
    assert run_module.run_alembic_current({}, None)["revision"] is None


def test_renew_subscriptions_is_invokable(run_module):
    invoke(run_module.run_alembic_upgrade, {})
    result = invoke(run_module.renew_subscriptions, {})
    assert result["action"] == "renew_subscriptions"


def test_subscribe_channel_asks_the_hub_and_records_a_pending_subscription(run_module):
    from dev.hub import Hub, serve

    invoke(run_module.run_alembic_upgrade, {})
    with serve(Hub(verification="manual")) as running:
        run_module.app.config["WEBSUB_HUB_URL"] = running.url
        result = invoke(run_module.subscribe_channel, {"channel_id": "UCabcdefghijklmnopqrstuv"})
    hub = running.hub
    assert result["state"] == "pending"
    assert [r.form["hub.mode"] for r in hub.requests] == ["subscribe"]
    assert hub.requests[0].form["hub.topic"].endswith("channel_id=UCabcdefghijklmnopqrstuv")
    with pytest.raises(ValueError, match="channel_id"):
        invoke(run_module.subscribe_channel, {})


def test_missing_database_url_names_the_variable(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    sys.modules.pop("run", None)
    from yt_pubsub_handler.config import ConfigError

    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        importlib.import_module("run")
    sys.modules.pop("run", None)

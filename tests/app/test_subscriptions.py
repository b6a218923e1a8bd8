"""Subscribing and renewing against the local hub (dev/hub), a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dev.hub import Answer
from dev.ports import free_port
from tests.support.websub_testdata import CHANNEL, OTHER_CHANNEL, SECRET
from yt_pubsub_handler import subscriptions
from yt_pubsub_handler.config import ConfigError
from yt_pubsub_handler.feed import topic_for
from yt_pubsub_handler.models import SubscriptionState
from yt_pubsub_handler.signature import derive_secret


def via_test_client(app):
    client = app.test_client()

    def get(url: str, params: dict) -> Answer:
        path = url.split("://", 1)[1].split("/", 1)[1]
        response = client.get(f"/{path}", query_string=params)
        return Answer(response.status_code, response.get_data(as_text=True))

    return get


def test_subscribe_sends_the_spec_request_and_records_pending(hub_app, hub, query) -> None:
    with hub_app.app_context():
        result = subscriptions.subscribe(CHANNEL)
    assert result["state"] == "pending"
    [request] = hub.requests
    assert request.form == {
        "hub.callback": f"http://127.0.0.1:8000/websub/{CHANNEL}",
        "hub.mode": "subscribe",
        "hub.topic": f"https://www.youtube.com/xml/feeds/videos.xml?channel_id={CHANNEL}",
        "hub.secret": derive_secret(SECRET, topic_for(CHANNEL)),
        "hub.lease_seconds": "432000",
    }
    assert len(request.form["hub.secret"].encode()) < 200
    assert query("SELECT id FROM channels") == [(CHANNEL,)]
    assert query("SELECT channel_id, state, topic_url, callback_url FROM subscriptions") == [
        (CHANNEL, "pending", topic_for(CHANNEL), f"http://127.0.0.1:8000/websub/{CHANNEL}")
    ]
    # No secret is stored anywhere in the database.
    dump = json.dumps([list(map(str, row)) for row in query("SELECT * FROM subscriptions")])
    assert request.form["hub.secret"] not in dump and SECRET not in dump


def test_hub_verification_through_the_callback_activates(hub_app, hub, query) -> None:
    with hub_app.app_context():
        subscriptions.subscribe(CHANNEL)
    record = hub.verify_intent(hub.requests[0], get=via_test_client(hub_app))
    assert record.verified
    assert query("SELECT state, lease_seconds FROM subscriptions") == [("active", 432000)]
    assert [(s.topic, s.lease_seconds) for s in hub.subscriptions()] == [(topic_for(CHANNEL), 432000)]


def test_synchronous_hub_sees_the_committed_row(hub_app, hub, live_app, query) -> None:
    hub.verification = "sync"  # verifies over real HTTP before answering our POST
    with hub_app.app_context():
        result = subscriptions.subscribe(CHANNEL)
    assert hub.requests[0].verified
    assert result["state"] == "active"
    assert result["verified_at"] is not None


@pytest.mark.parametrize("status", [400, 500, 503])
def test_hub_refusal_is_a_clear_error_and_the_row_stays_pending(hub_app, hub, query, status) -> None:
    hub.refuse_with = status
    with hub_app.app_context(), pytest.raises(subscriptions.HubError, match=f"answered {status}.*WEBSUB_CALLBACK_URL"):
        subscriptions.subscribe(CHANNEL)
    assert query("SELECT state FROM subscriptions") == [("pending",)]


def test_unreachable_hub_is_a_clear_error(app) -> None:
    port = free_port()  # nothing listens there
    app.config["WEBSUB_HUB_URL"] = f"http://127.0.0.1:{port}/subscribe"
    with app.app_context(), pytest.raises(subscriptions.HubError, match=r"failed.*WEBSUB_HUB_URL"):
        subscriptions.subscribe(CHANNEL)


@pytest.mark.parametrize(
    ("key", "message"),
    [("WEBSUB_SECRET", "WEBSUB_SECRET is not set"), ("WEBSUB_CALLBACK_URL", "WEBSUB_CALLBACK_URL is not set")],
)
def test_missing_configuration_is_named(hub_app, hub, key, message) -> None:
    hub_app.config[key] = None
    with hub_app.app_context(), pytest.raises(ConfigError, match=message):
        subscriptions.subscribe(CHANNEL)
    assert hub.requests == []


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "UC/../../etc"])
def test_bad_channel_id_is_refused_before_anything_is_sent(hub_app, hub, bad) -> None:
    with hub_app.app_context(), pytest.raises(ValueError, match="not a YouTube channel id"):
        subscriptions.subscribe(bad)
    assert hub.requests == []


def test_resubscribing_active_keeps_it_active_and_denied_goes_pending(hub_app, hub, subscribed, query) -> None:
    subscribed(CHANNEL, SubscriptionState.ACTIVE)
    subscribed(OTHER_CHANNEL, SubscriptionState.DENIED, denied_reason="no")
    with hub_app.app_context():
        assert subscriptions.subscribe(CHANNEL)["state"] == "active"
        assert subscriptions.subscribe(OTHER_CHANNEL)["state"] == "pending"
    assert query("SELECT channel_id, state, denied_reason FROM subscriptions ORDER BY channel_id") == [
        (CHANNEL, "active", None),
        (OTHER_CHANNEL, "pending", None),
    ]


def test_unsubscribe_round_trip(hub_app, hub, subscribed, query) -> None:
    subscribed(CHANNEL, SubscriptionState.ACTIVE)
    with hub_app.app_context():
        assert subscriptions.unsubscribe(CHANNEL)["state"] == "unsubscribing"
    [request] = hub.requests
    assert (request.form["hub.mode"], request.form["hub.topic"]) == ("unsubscribe", topic_for(CHANNEL))
    assert hub.verify_intent(request, get=via_test_client(hub_app)).verified
    assert query("SELECT state FROM subscriptions") == [("unsubscribed",)]


def test_unsubscribe_unknown_channel(hub_app, hub) -> None:
    with hub_app.app_context(), pytest.raises(LookupError, match="nothing to unsubscribe"):
        subscriptions.unsubscribe(CHANNEL)
    assert hub.requests == []


def _renewal_fixture(subscribed, now: datetime) -> None:
    subscribed("UCdue000000000000000000a", SubscriptionState.ACTIVE, expires_at=now + timedelta(days=1))
    subscribed("UCexpired00000000000000b", SubscriptionState.ACTIVE, expires_at=now - timedelta(hours=1))
    subscribed("UClater00000000000000000", SubscriptionState.ACTIVE, expires_at=now + timedelta(days=4))
    subscribed(
        "UCunverified000000000000",
        SubscriptionState.PENDING,
        expires_at=None,
        requested_at=now - timedelta(hours=2),
    )
    subscribed("UCjustasked0000000000000", SubscriptionState.PENDING, expires_at=None, requested_at=now)
    subscribed("UCdenied0000000000000000", SubscriptionState.DENIED, expires_at=now + timedelta(hours=1))
    subscribed("UCgone000000000000000000", SubscriptionState.UNSUBSCRIBED, expires_at=now + timedelta(hours=1))


def test_renew_resubscribes_only_what_expires_within_two_days(hub_app, hub, subscribed) -> None:
    now = datetime.now(UTC)
    _renewal_fixture(subscribed, now)
    with hub_app.app_context():
        result = subscriptions.renew_subscriptions(now=now)
    json.dumps(result)  # Zappa returns it as the invoke result
    expected = ["UCunverified000000000000", "UCexpired00000000000000b", "UCdue000000000000000000a"]
    assert result["action"] == "renew_subscriptions"
    assert result["renewed"] == expected
    assert result["failed"] == []
    assert [r.form["hub.topic"].rsplit("=", 1)[1] for r in hub.requests] == expected
    assert all(r.form["hub.mode"] == "subscribe" for r in hub.requests)


def test_renew_reports_failures_and_carries_on(hub_app, hub, subscribed, query) -> None:
    now = datetime.now(UTC)
    _renewal_fixture(subscribed, now)
    hub.refuse_with = 503
    with hub_app.app_context():
        result = subscriptions.renew_subscriptions(now=now)
    assert result["renewed"] == []
    assert [f["channel_id"] for f in result["failed"]] == [
        "UCunverified000000000000",
        "UCexpired00000000000000b",
        "UCdue000000000000000000a",
    ]
    assert all("answered 503" in f["error"] for f in result["failed"])
    # The still-valid lease is left alone: ACTIVE, same expiry, retried tomorrow.
    assert query("SELECT state FROM subscriptions WHERE channel_id = 'UCdue000000000000000000a'") == [("active",)]


def test_renew_with_nothing_due_sends_nothing(hub_app, hub) -> None:
    with hub_app.app_context():
        result = subscriptions.renew_subscriptions()
    assert (result["renewed"], result["failed"], result["checked"]) == ([], [], 0)
    assert hub.requests == []


def test_renewal_windows_come_from_the_environment(monkeypatch, make_migrated_app, hub_server, subscribed) -> None:
    """Two hours ahead, and unverified after three: only the expired one and the one ending within 2 h are due."""
    monkeypatch.setenv("WEBSUB_RENEW_WITHIN_SECONDS", str(2 * 3600))
    monkeypatch.setenv("WEBSUB_RETRY_UNVERIFIED_SECONDS", str(3 * 3600))
    app = make_migrated_app(WEBSUB_HUB_URL=hub_server.url)
    now = datetime.now(UTC)
    _renewal_fixture(subscribed, now)  # UCunverified was asked 2 h ago, UCdue ends in a day
    subscribed("UCsoon000000000000000000", SubscriptionState.ACTIVE, expires_at=now + timedelta(hours=1))
    with app.app_context():
        result = subscriptions.renew_subscriptions(now=now)
    assert result["renewed"] == ["UCexpired00000000000000b", "UCsoon000000000000000000"]


@pytest.fixture
def silent_hub() -> Iterator[str]:
    """A hub that answers after 5 s (or when the test is over): inside the default read timeout, outside 0.5 s."""
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            done.wait(5)
            self.send_response(202)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/subscribe"
    finally:
        done.set()
        server.shutdown()
        server.server_close()


def test_hub_read_timeout_comes_from_the_environment(monkeypatch, make_migrated_app, silent_hub, query) -> None:
    monkeypatch.setenv("WEBSUB_HUB_READ_TIMEOUT", "0.5")
    app = make_migrated_app(WEBSUB_HUB_URL=silent_hub)
    with app.app_context(), pytest.raises(subscriptions.HubError, match="timed out"):
        subscriptions.subscribe(CHANNEL)
    assert query("SELECT state FROM subscriptions") == [("pending",)]  # committed first, retried by the renewal

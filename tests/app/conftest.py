"""Fixtures for the WebSub and API tests: subscribed channels, signed posts, the local hub on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from dev.hub import Hub, RunningHub, serve
from tests.support.websub_testdata import CHANNEL, SECRET
from yt_pubsub_handler.extensions import db
from yt_pubsub_handler.feed import topic_for
from yt_pubsub_handler.feed_samples import signed_headers
from yt_pubsub_handler.models import Channel, Subscription, SubscriptionState


@pytest.fixture
def subscribed(app) -> Callable[..., None]:
    """Give ``channel_id`` a subscription row in ``state`` (default ACTIVE), as if the hub had verified it."""

    def make(channel_id: str = CHANNEL, state: SubscriptionState = SubscriptionState.ACTIVE, **columns) -> None:
        with app.app_context():
            if db.session.get(Channel, channel_id) is None:
                db.session.add(Channel(id=channel_id))
            now = datetime.now(UTC)
            values = {
                "channel_id": channel_id,
                "topic_url": topic_for(channel_id),
                "callback_url": f"http://127.0.0.1:8000/websub/{channel_id}",
                "state": state,
                "lease_seconds": 432000,
                "expires_at": now + timedelta(days=5),
                "requested_at": now,
            }
            values.update(columns)
            db.session.add(Subscription(**values))
            db.session.commit()

    return make


@pytest.fixture
def post_feed(client) -> Callable[..., object]:
    """POST ``body`` to ``/websub/<channel_id>``, signed with that channel's derived secret unless told otherwise."""

    def post(body: bytes, channel_id: str = CHANNEL, *, algorithm: str = "sha1", headers: dict | None = None):
        sent = signed_headers(body, SECRET, channel_id, algorithm) if headers is None else headers
        return client.post(f"/websub/{channel_id}", data=body, headers=sent)

    return post


@pytest.fixture
def query(app) -> Callable[[str], list]:
    """Run SQL against the test database and return all rows (assertions read the tables, not the API)."""

    def run(sql: str, **params) -> list:
        with app.app_context():
            rows = db.session.execute(sa.text(sql), params).all()
            db.session.rollback()
            return rows

    return run


@pytest.fixture
def hub_server() -> Iterator[RunningHub]:
    """The local hub (dev/hub) on a free port, verifying only when a test says so (``verification="manual"``):
    a test sees each request as received and decides how the verification GET reaches the app."""
    with serve(Hub(verification="manual")) as running:
        yield running


@pytest.fixture
def hub(hub_server: RunningHub) -> Hub:
    return hub_server.hub


@pytest.fixture
def hub_app(app, hub_server: RunningHub):
    """The app subscribing at the local hub."""
    app.config["WEBSUB_HUB_URL"] = hub_server.url
    return app


@pytest.fixture
def live_app(hub_app) -> Iterator[str]:
    """The app served over real HTTP (threaded), so a hub can call the verification GET while we wait for it."""
    server = make_server("127.0.0.1", 0, hub_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    hub_app.config["WEBSUB_CALLBACK_URL"] = f"{base}/websub"
    try:
        yield base
    finally:
        server.shutdown()

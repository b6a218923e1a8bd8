"""Fixtures for the WebSub and API tests: subscribed channels, signed posts, a fake hub on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from websub_testdata import CHANNEL, SECRET

from dev.seed import FakeHub
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
def hub() -> Iterator[FakeHub]:
    with FakeHub() as fake:
        yield fake

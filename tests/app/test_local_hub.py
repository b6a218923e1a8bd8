"""The app and the local hub (dev/hub) together over real HTTP, as YouTube's hub and the deployed app meet.

The hub answers 202 and verifies afterwards through the app's callback; it delivers feeds signed with the secret
``subscribe()`` gave it, and the app stores them; it can deny, and it ends a subscription on a verified
unsubscribe. Each step is checked in the database and in the hub.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from dev.hub import Hub
from tests.support.websub_testdata import CHANNEL
from yt_pubsub_handler import subscriptions
from yt_pubsub_handler.feed import topic_for
from yt_pubsub_handler.feed_samples import SampleVideo, build_notification


@pytest.fixture
def async_hub(hub: Hub) -> Hub:
    hub.verification = "async"  # as pubsubhubbub.appspot.com: 202 first, the verification GET afterwards
    return hub


def subscribed_through_the_hub(app, hub: Hub) -> None:
    with app.app_context():
        assert subscriptions.subscribe(CHANNEL)["state"] in ("pending", "active")
    request = hub.requests[-1]
    assert request.done.wait(30), "the hub never verified"
    assert request.verified, request.detail


def test_the_hub_verifies_after_answering_and_the_lease_is_recorded(hub_app, async_hub, live_app, query) -> None:
    subscribed_through_the_hub(hub_app, async_hub)
    rows = query("SELECT state, lease_seconds, expires_at, verified_at FROM subscriptions")
    [(state, lease, expires, verified)] = rows
    assert (state, lease) == ("active", 432000)
    assert isinstance(expires, datetime) and (expires - verified).total_seconds() == pytest.approx(432000, abs=1)
    [held] = async_hub.subscriptions(topic_for(CHANNEL))
    assert held.callback == f"{live_app}/websub/{CHANNEL}" and held.lease_seconds == 432000


def test_a_published_feed_is_delivered_signed_and_stored(hub_app, async_hub, live_app, query) -> None:
    subscribed_through_the_hub(hub_app, async_hub)
    feed = build_notification([SampleVideo("vid00000001", CHANNEL, title="Hub-delivered")], feed_channel_id=CHANNEL)
    [delivery] = async_hub.publish(topic_for(CHANNEL), feed)
    assert delivery.answer.status == 200, delivery.answer
    assert query("SELECT id, title FROM videos") == [("vid00000001", "Hub-delivered")]


def test_a_hub_holding_another_secret_is_ignored(hub_app, async_hub, live_app, query) -> None:
    subscribed_through_the_hub(hub_app, async_hub)
    [held] = async_hub.subscriptions()
    held.secret = "not-what-the-app-derived"  # as a forged or stale subscription would sign
    feed = build_notification([SampleVideo("vid00000002", CHANNEL)], feed_channel_id=CHANNEL)
    [delivery] = async_hub.publish(topic_for(CHANNEL), feed)
    assert delivery.answer.status == 202  # the app ignores it (and says 2xx, as the spec allows)
    assert query("SELECT count(*) FROM videos") == [(0,)]


def test_a_denial_from_the_hub_is_recorded_with_its_reason(hub_app, async_hub, live_app, query) -> None:
    subscribed_through_the_hub(hub_app, async_hub)
    answer = async_hub.deny(topic_for(CHANNEL), f"{live_app}/websub/{CHANNEL}", "channel terminated")
    assert answer.status == 200
    assert query("SELECT state, denied_reason FROM subscriptions") == [("denied", "channel terminated")]
    assert async_hub.subscriptions() == []


def test_unsubscribing_ends_it_on_both_sides(hub_app, async_hub, live_app, query) -> None:
    subscribed_through_the_hub(hub_app, async_hub)
    with hub_app.app_context():
        subscriptions.unsubscribe(CHANNEL)
    request = async_hub.requests[-1]
    assert request.mode == "unsubscribe" and request.done.wait(30) and request.verified, request.detail
    assert query("SELECT state FROM subscriptions") == [("unsubscribed",)]
    assert async_hub.subscriptions() == []
    feed = build_notification([SampleVideo("vid00000003", CHANNEL)], feed_channel_id=CHANNEL)
    assert async_hub.publish(topic_for(CHANNEL), feed) == []

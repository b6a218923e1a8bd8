"""The callback on real PostgreSQL: intent verification, signed notifications, ordering, deletions, bad bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.websub_testdata import CHANNEL, OTHER_CHANNEL, SECRET
from yt_pubsub_handler.feed import topic_for
from yt_pubsub_handler.feed_samples import SampleDeletion, SampleVideo, build_notification, signed_headers
from yt_pubsub_handler.models import SubscriptionState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def video(video_id: str = "vid00000001", channel: str = CHANNEL, title: str = "First", at: datetime = T0, **kw):
    return SampleVideo(video_id, channel, title=title, author="Chan", published=T0, updated=at, **kw)


def verification(mode: str = "subscribe", channel: str = CHANNEL, **extra) -> dict:
    params = {
        "hub.mode": mode,
        "hub.topic": topic_for(channel),
        "hub.challenge": "c-123",
        "hub.lease_seconds": "432000",
    }
    params.update(extra)
    return params


# --- GET: verification of intent ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [SubscriptionState.PENDING, SubscriptionState.ACTIVE])
def test_subscribe_verification_echoes_challenge_and_records_lease(client, subscribed, query, state) -> None:
    subscribed(state=state, lease_seconds=None, expires_at=None)
    before = datetime.now(UTC)
    response = client.get(f"/websub/{CHANNEL}", query_string=verification())
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "c-123"
    [(got_state, lease, expires_at, verified_at)] = query(
        "SELECT state, lease_seconds, expires_at, verified_at FROM subscriptions"
    )
    assert (got_state, lease) == ("active", 432000)
    assert verified_at >= before
    assert expires_at - verified_at == timedelta(seconds=432000)


@pytest.mark.parametrize(
    "params",
    [
        verification(**{"hub.topic": topic_for(OTHER_CHANNEL)}),  # a topic we did not ask for
        verification(**{"hub.topic": topic_for(CHANNEL) + "&x=1"}),
        verification(mode="unsubscribe"),  # we asked for subscribe
        verification(mode="bogus"),
        verification(**{"hub.challenge": ""}),
        verification(**{"hub.lease_seconds": "-5"}),
        verification(**{"hub.lease_seconds": "soon"}),
        verification(**{"hub.lease_seconds": "99999999999"}),
        {"hub.mode": "subscribe", "hub.challenge": "c"},  # no topic
    ],
    ids=[
        "other-topic",
        "topic-suffix",
        "wrong-mode",
        "unknown-mode",
        "no-challenge",
        "negative-lease",
        "text-lease",
        "huge-lease",
        "no-topic",
    ],
)
def test_verification_we_did_not_request_is_404_and_changes_nothing(client, subscribed, query, params) -> None:
    subscribed(state=SubscriptionState.PENDING, lease_seconds=None, expires_at=None)
    response = client.get(f"/websub/{CHANNEL}", query_string=params)
    assert response.status_code == 404
    assert "c-123" not in response.get_data(as_text=True)
    assert query("SELECT state, lease_seconds, verified_at FROM subscriptions") == [("pending", None, None)]


def test_verification_for_unknown_channel_is_404(client) -> None:
    assert client.get(f"/websub/{CHANNEL}", query_string=verification()).status_code == 404
    assert client.get("/websub/not%20an%20id", query_string=verification()).status_code == 404


@pytest.mark.parametrize("state", [SubscriptionState.DENIED, SubscriptionState.UNSUBSCRIBED])
def test_subscribe_verification_refused_when_we_did_not_ask(client, subscribed, state) -> None:
    subscribed(state=state)
    assert client.get(f"/websub/{CHANNEL}", query_string=verification()).status_code == 404


def test_unsubscribe_verification_only_while_unsubscribing(client, subscribed, query) -> None:
    subscribed(state=SubscriptionState.UNSUBSCRIBING)
    response = client.get(f"/websub/{CHANNEL}", query_string=verification(mode="unsubscribe"))
    assert (response.status_code, response.get_data(as_text=True)) == (200, "c-123")
    assert query("SELECT state, expires_at FROM subscriptions") == [("unsubscribed", None)]
    # A second (replayed) unsubscribe verification is no longer something we asked for.
    assert client.get(f"/websub/{CHANNEL}", query_string=verification(mode="unsubscribe")).status_code == 404


def test_denial_is_recorded_with_reason(client, subscribed, query) -> None:
    subscribed(state=SubscriptionState.PENDING)
    params = {"hub.mode": "denied", "hub.topic": topic_for(CHANNEL), "hub.reason": "topic not found"}
    response = client.get(f"/websub/{CHANNEL}", query_string=params)
    assert response.status_code == 200
    assert query("SELECT state, denied_reason FROM subscriptions") == [("denied", "topic not found")]


def test_denial_for_another_topic_is_404(client, subscribed, query) -> None:
    subscribed(state=SubscriptionState.ACTIVE)
    params = {"hub.mode": "denied", "hub.topic": topic_for(OTHER_CHANNEL), "hub.reason": "nope"}
    assert client.get(f"/websub/{CHANNEL}", query_string=params).status_code == 404
    assert query("SELECT state FROM subscriptions") == [("active",)]


# --- POST: notifications -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_signed_notification_is_stored(subscribed, post_feed, query, algorithm) -> None:
    subscribed()
    response = post_feed(build_notification([video(), video("vid00000002", title="Second")]), algorithm=algorithm)
    assert response.status_code == 200
    assert response.get_json()["upserted"] == ["vid00000001", "vid00000002"]
    rows = query("SELECT id, channel_id, title, link, author, published_at, updated_at FROM videos ORDER BY id")
    assert rows == [
        ("vid00000001", CHANNEL, "First", "https://www.youtube.com/watch?v=vid00000001", "Chan", T0, T0),
        ("vid00000002", CHANNEL, "Second", "https://www.youtube.com/watch?v=vid00000002", "Chan", T0, T0),
    ]
    assert query("SELECT id, title FROM channels") == [(CHANNEL, "Chan")]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature": "sha1=" + "0" * 40},
        signed_headers(b"something else", SECRET, CHANNEL),
        signed_headers(b"x", "wrong-master-secret", CHANNEL),
        signed_headers(b"x", SECRET, OTHER_CHANNEL),  # right master secret, other topic's derived secret
    ],
    ids=["missing", "zeros", "other-body", "other-secret", "other-topic"],
)
def test_unsigned_or_forged_notification_is_ignored_with_202(subscribed, post_feed, query, headers) -> None:
    subscribed()
    body = build_notification([video()])
    response = post_feed(body, headers=headers)
    assert response.status_code == 202
    assert response.get_json()["status"] == "ignored"
    assert query("SELECT count(*) FROM videos") == [(0,)]
    assert query("SELECT title FROM channels") == [(None,)]


def test_wrong_secret_over_the_real_body_is_ignored(subscribed, post_feed, query) -> None:
    subscribed()
    body = build_notification([video()])
    for headers in (signed_headers(body, "wrong-master", CHANNEL), signed_headers(body, SECRET, OTHER_CHANNEL)):
        assert post_feed(body, headers=headers).status_code == 202
    assert query("SELECT count(*) FROM videos") == [(0,)]


@pytest.mark.parametrize("state", [None, SubscriptionState.DENIED, SubscriptionState.UNSUBSCRIBED])
def test_notification_without_live_subscription_is_410(subscribed, post_feed, query, state) -> None:
    if state is not None:
        subscribed(state=state)
    response = post_feed(build_notification([video()]))
    assert response.status_code == 410
    assert query("SELECT count(*) FROM videos") == [(0,)]


def test_replays_and_older_notifications_change_nothing(subscribed, post_feed, query) -> None:
    subscribed()
    first = build_notification([video(title="v1", at=T0)])
    assert post_feed(first).get_json()["upserted"] == ["vid00000001"]
    assert post_feed(first).get_json()["unchanged"] == ["vid00000001"]
    newer = build_notification([video(title="v2", at=T0 + timedelta(hours=1))])
    assert post_feed(newer).get_json()["upserted"] == ["vid00000001"]
    older = build_notification([video(title="v0", at=T0 - timedelta(hours=1))])
    assert post_feed(older).get_json()["unchanged"] == ["vid00000001"]
    assert query("SELECT title, updated_at FROM videos") == [("v2", T0 + timedelta(hours=1))]


def test_deletion_marks_video_and_older_update_does_not_resurrect(subscribed, post_feed, query) -> None:
    subscribed()
    post_feed(build_notification([video(at=T0)]))
    gone_at = T0 + timedelta(hours=2)
    response = post_feed(build_notification(deletions=[SampleDeletion("vid00000001", CHANNEL, gone_at)]))
    assert response.get_json()["deleted"] == ["vid00000001"]
    assert query("SELECT deleted_at FROM videos") == [(gone_at,)]

    late = build_notification([video(title="late", at=T0 + timedelta(hours=1))])  # sent before the deletion
    assert post_feed(late).get_json()["unchanged"] == ["vid00000001"]
    assert query("SELECT title, deleted_at FROM videos") == [("First", gone_at)]

    back = build_notification([video(title="public again", at=T0 + timedelta(hours=3))])
    assert post_feed(back).get_json()["upserted"] == ["vid00000001"]
    assert query("SELECT title, deleted_at FROM videos") == [("public again", None)]


def test_deletion_without_at_by_uses_the_callback_channel(subscribed, post_feed, query) -> None:
    subscribed()
    post_feed(build_notification([video()]))
    post_feed(build_notification(deletions=[SampleDeletion("vid00000001", None, T0 + timedelta(days=1))]))
    assert query("SELECT deleted_at IS NOT NULL FROM videos") == [(True,)]


def test_deletion_only_touches_videos_of_that_channel(subscribed, post_feed, query) -> None:
    subscribed(CHANNEL)
    subscribed(OTHER_CHANNEL)
    post_feed(build_notification([video("othervideo1", channel=OTHER_CHANNEL)]), channel_id=OTHER_CHANNEL)
    later = T0 + timedelta(days=1)
    # Addressed to CHANNEL: a tombstone naming the other channel, and one naming ours for the other's video.
    body = build_notification(
        deletions=[SampleDeletion("othervideo1", OTHER_CHANNEL, later), SampleDeletion("othervideo1", CHANNEL, later)]
    )
    result = post_feed(body).get_json()
    assert result["deleted"] == []
    assert query("SELECT deleted_at FROM videos") == [(None,)]


def test_entries_of_another_channel_are_ignored(subscribed, post_feed, query) -> None:
    subscribed()
    body = build_notification([video("ours0000001"), video("theirs00001", channel=OTHER_CHANNEL)])
    result = post_feed(body).get_json()
    assert (result["upserted"], result["ignored"]) == (["ours0000001"], ["theirs00001"])
    assert query("SELECT id, channel_id FROM videos") == [("ours0000001", CHANNEL)]


def test_video_id_is_never_moved_to_another_channel(subscribed, post_feed, query) -> None:
    subscribed(CHANNEL)
    subscribed(OTHER_CHANNEL)
    post_feed(build_notification([video("shared00001")]))
    hijack = build_notification([video("shared00001", channel=OTHER_CHANNEL, title="hijack", at=T0 + timedelta(1))])
    assert post_feed(hijack, channel_id=OTHER_CHANNEL).get_json()["unchanged"] == ["shared00001"]
    assert query("SELECT channel_id, title FROM videos") == [(CHANNEL, "First")]


def test_malformed_signed_body_is_400_and_the_whole_feed_is_rolled_back(subscribed, post_feed, query) -> None:
    subscribed()
    good = build_notification([video()])
    broken = good.replace(b"</feed>", b"<entry><yt:videoId>x</yt:videoId></entry></feed>")
    response = post_feed(broken)
    assert response.status_code == 400
    assert "yt:channelId" in response.get_json()["error"]
    assert query("SELECT count(*) FROM videos") == [(0,)]
    assert post_feed(b"<html>nope</html>").status_code == 400


def test_oversized_body_is_413(make_migrated_app, subscribed, query) -> None:
    small = make_migrated_app(WEBSUB_MAX_BODY_BYTES=2000)
    subscribed()
    body = build_notification([video(f"vid{i:08d}") for i in range(20)])
    response = small.test_client().post(f"/websub/{CHANNEL}", data=body, headers=signed_headers(body, SECRET, CHANNEL))
    assert response.status_code == 413
    assert query("SELECT count(*) FROM videos") == [(0,)]


def test_max_body_bytes_from_the_environment_sets_the_413_limit(
    monkeypatch, make_migrated_app, subscribed, query
) -> None:
    def post(app, body: bytes) -> int:
        headers = signed_headers(body, SECRET, CHANNEL)
        return app.test_client().post(f"/websub/{CHANNEL}", data=body, headers=headers).status_code

    large = build_notification([video(f"vid{i:08d}") for i in range(20)])
    small = build_notification([video()])
    assert len(small) < 3000 < len(large)
    monkeypatch.setenv("WEBSUB_MAX_BODY_BYTES", "3000")
    limited = make_migrated_app()
    subscribed()
    assert (post(limited, large), post(limited, small)) == (413, 200)
    assert query("SELECT count(*) FROM videos") == [(1,)]
    monkeypatch.delenv("WEBSUB_MAX_BODY_BYTES")
    assert post(make_migrated_app(), large) == 200  # 1 MiB unless set
    assert query("SELECT count(*) FROM videos") == [(20,)]


def test_notifications_keep_flowing_during_renewal_and_unsubscribe(subscribed, post_feed, query) -> None:
    subscribed(state=SubscriptionState.UNSUBSCRIBING)
    assert post_feed(build_notification([video()])).status_code == 200
    assert query("SELECT count(*) FROM videos") == [(1,)]


def test_without_websub_secret_everything_is_ignored(make_migrated_app, subscribed, query) -> None:
    subscribed()
    bare = make_migrated_app(WEBSUB_SECRET=None)
    body = build_notification([video()])
    response = bare.test_client().post(f"/websub/{CHANNEL}", data=body, headers=signed_headers(body, SECRET, CHANNEL))
    assert response.status_code == 202
    assert query("SELECT count(*) FROM videos") == [(0,)]

"""The read API on real PostgreSQL: health, channels, keyset and page pagination, and 400s for bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dev.ports import free_port
from tests.support.websub_testdata import CHANNEL, OTHER_CHANNEL
from yt_pubsub_handler.extensions import db
from yt_pubsub_handler.models import Channel, SubscriptionState, Video

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def videos(app) -> list[str]:
    """25 videos of CHANNEL: two share a timestamp, two have none, one is deleted; newest-first ids returned."""
    specs = [(f"v{i:03d}", T0 + timedelta(hours=i)) for i in range(21)]
    specs += [
        ("tieA", T0 + timedelta(hours=10)),
        ("tieZ", T0 + timedelta(hours=10)),
        ("nodateA", None),
        ("nodateB", None),
    ]
    with app.app_context():
        db.session.add(Channel(id=CHANNEL, title="Chan"))
        db.session.add(Channel(id=OTHER_CHANNEL))
        for video_id, published in specs:
            db.session.add(
                Video(id=video_id, channel_id=CHANNEL, title=f"t {video_id}", author="Chan", published_at=published)
            )
        db.session.add(
            Video(
                id="deleted", channel_id=CHANNEL, title="x", author="C", published_at=T0, deleted_at=T0 + timedelta(1)
            )
        )
        db.session.add(Video(id="other", channel_id=OTHER_CHANNEL, title="x", author="O", published_at=T0))
        db.session.commit()
    dated = sorted(((p, v) for v, p in specs if p is not None), reverse=True)
    return [v for _, v in dated] + ["nodateB", "nodateA"]


def test_health_ok(client) -> None:
    response = client.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok", "database": "ok"})


def test_health_503_when_the_database_is_unreachable(make_app) -> None:
    port = free_port()  # nothing listens there
    app = make_app(DATABASE_URL=f"postgresql://nobody@127.0.0.1:{port}/nothing", DB_CONNECT_TIMEOUT=2)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["database"]) == ("error", "unreachable")
    assert str(port) in body["error"] or "connect" in body["error"].lower()


def test_channels_lists_subscription_state(client, subscribed) -> None:
    subscribed(CHANNEL, SubscriptionState.ACTIVE)
    with client.application.app_context():
        db.session.add(Channel(id=OTHER_CHANNEL, title="Other"))
        db.session.commit()
    body = client.get("/channels").get_json()
    assert body["count"] == 2
    first, second = body["channels"]
    assert (first["id"], first["subscription"]["state"]) == (CHANNEL, "active")
    assert (second["id"], second["title"], second["subscription"]) == (OTHER_CHANNEL, "Other", None)


def test_cursor_pagination_walks_everything_newest_first(client, videos) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        response = client.get(f"/channels/{CHANNEL}/videos", query_string=params)
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["videos"]) <= 4
        seen += [v["id"] for v in body["videos"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == videos
    assert pages == 7  # 25 videos, 4 per page


def test_cursor_is_stable_when_new_videos_arrive(client, videos) -> None:
    first = client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 5}).get_json()
    with client.application.app_context():
        db.session.add(Video(id="brandnew", channel_id=CHANNEL, title="n", author="C", published_at=T0 + timedelta(9)))
        db.session.commit()
    second = client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 5, "cursor": first["next_cursor"]})
    assert [v["id"] for v in second.get_json()["videos"]] == videos[5:10]


def test_page_pagination(client, videos) -> None:
    body = client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 10, "page": 3}).get_json()
    assert [v["id"] for v in body["videos"]] == videos[20:]
    assert (body["page"], body["next_page"], body["next_cursor"]) == (3, None, None)
    body = client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 10, "page": 1}).get_json()
    assert body["next_page"] == 2


def test_deleted_videos_only_on_request(client, videos) -> None:
    default = client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 200}).get_json()
    assert "deleted" not in [v["id"] for v in default["videos"]]
    everything = client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 200, "include_deleted": "true"})
    deleted = [v for v in everything.get_json()["videos"] if v["id"] == "deleted"]
    assert deleted and deleted[0]["deleted_at"] is not None


def test_default_limit_and_fields(client, videos) -> None:
    body = client.get(f"/channels/{CHANNEL}/videos").get_json()
    assert body["limit"] == 50 and len(body["videos"]) == 25
    assert set(body["videos"][0]) == {
        "id",
        "channel_id",
        "title",
        "link",
        "author",
        "published_at",
        "updated_at",
        "deleted_at",
    }


def test_page_sizes_come_from_the_environment(monkeypatch, make_migrated_app, videos) -> None:
    monkeypatch.setenv("API_PAGE_SIZE", "3")
    monkeypatch.setenv("API_MAX_PAGE_SIZE", "10")
    client = make_migrated_app().test_client()
    body = client.get(f"/channels/{CHANNEL}/videos").get_json()
    assert (body["limit"], [v["id"] for v in body["videos"]]) == (3, videos[:3])
    assert client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 10}).status_code == 200
    too_many = client.get(f"/channels/{CHANNEL}/videos", query_string={"limit": 11})
    assert (too_many.status_code, too_many.get_json()["error"]) == (400, "limit must be between 1 and 10, got 11")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "between 1 and 200"),
        ({"limit": "201"}, "between 1 and 200"),
        ({"limit": "ten"}, "integer"),
        ({"limit": "--5"}, "integer"),
        ({"limit": "99999999999999999999"}, "integer"),
        ({"page": "0"}, "page starts at 1"),
        ({"page": "x"}, "integer"),
        ({"page": "1", "cursor": "abc"}, "either cursor or page"),
        ({"cursor": "not-a-cursor"}, "cursor is not one this API issued"),
        ({"cursor": "eyJwIjpudWxsfQ"}, "cursor is not one this API issued"),  # {"p":null}
        ({"cursor": "W10"}, "cursor is not one this API issued"),  # []
        ({"cursor": "eyJwIjoiMjAyNiIsImlkIjoiXHUwMDAwIn0"}, "cursor is not one this API issued"),  # NUL in id
        ({"include_deleted": "maybe"}, "true or false"),
    ],
)
def test_bad_parameters_are_400_json(client, videos, params, message) -> None:
    response = client.get(f"/channels/{CHANNEL}/videos", query_string=params)
    assert response.status_code == 400
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("channel_id", ["UCnobody00000000000000000", "has%00nul", "x" * 100])
def test_unknown_channel_is_404(client, videos, channel_id) -> None:
    response = client.get(f"/channels/{channel_id}/videos")
    assert response.status_code == 404
    assert "unknown channel" in response.get_json()["error"]

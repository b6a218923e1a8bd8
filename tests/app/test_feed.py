"""Parsing notifications: YouTube's real shapes, every field, and XML that must never be expanded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yt_pubsub_handler.feed import DeletedEntry, Entry, FeedError, parse_datetime, parse_feed
from yt_pubsub_handler.feed_samples import SampleDeletion, SampleVideo, build_notification

# Verbatim shape of YouTube's documented notification (developers.google.com/youtube/v3/guides/push_notifications).
YOUTUBE_EXAMPLE = b"""<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"
         xmlns="http://www.w3.org/2005/Atom">
  <link rel="hub" href="https://pubsubhubbub.appspot.com"/>
  <link rel="self" href="https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCaaaaaaaaaaaaaaaaaaaaaa"/>
  <title>YouTube video feed</title>
  <updated>2015-04-01T19:05:24.552394234+00:00</updated>
  <entry>
    <id>yt:video:VIDEO_ID001</id>
    <yt:videoId>VIDEO_ID001</yt:videoId>
    <yt:channelId>UCaaaaaaaaaaaaaaaaaaaaaa</yt:channelId>
    <title>Video title</title>
    <link rel="alternate" href="http://www.youtube.com/watch?v=VIDEO_ID001"/>
    <author>
     <name>Channel title</name>
     <uri>http://www.youtube.com/channel/UCaaaaaaaaaaaaaaaaaaaaaa</uri>
    </author>
    <published>2015-03-06T21:40:57+00:00</published>
    <updated>2015-03-09T19:05:24.552394234+00:00</updated>
  </entry>
</feed>"""

DELETION_EXAMPLE = b"""<feed xmlns:at="http://purl.org/atompub/tombstones/1.0" xmlns="http://www.w3.org/2005/Atom">
  <at:deleted-entry ref="yt:video:VIDEO_ID001" when="2015-03-10T19:05:24.552394234+00:00">
    <link href="http://www.youtube.com/watch?v=VIDEO_ID001"/>
    <at:by>
     <name>Channel title</name>
     <uri>http://www.youtube.com/channel/UCaaaaaaaaaaaaaaaaaaaaaa</uri>
    </at:by>
  </at:deleted-entry>
</feed>"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&xxe;</title></feed>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol9;</title></feed>"""

PLAIN_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE feed SYSTEM "http://127.0.0.1:9/feed.dtd">
<feed xmlns="http://www.w3.org/2005/Atom"></feed>"""


def test_youtube_example_parses_every_field() -> None:
    feed = parse_feed(YOUTUBE_EXAMPLE)
    assert feed.deleted == []
    assert feed.entries == [
        Entry(
            video_id="VIDEO_ID001",
            channel_id="UCaaaaaaaaaaaaaaaaaaaaaa",
            title="Video title",
            author="Channel title",
            link="http://www.youtube.com/watch?v=VIDEO_ID001",
            published=datetime(2015, 3, 6, 21, 40, 57, tzinfo=UTC),
            updated=datetime(2015, 3, 9, 19, 5, 24, 552394, tzinfo=UTC),
        )
    ]


def test_deleted_entry_takes_channel_from_at_by() -> None:
    feed = parse_feed(DELETION_EXAMPLE)
    assert feed.entries == []
    assert feed.deleted == [
        DeletedEntry("VIDEO_ID001", datetime(2015, 3, 10, 19, 5, 24, 552394, tzinfo=UTC), "UCaaaaaaaaaaaaaaaaaaaaaa")
    ]


def test_builder_round_trips_through_the_parser() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = build_notification(
        [SampleVideo("abc_DEF-123", "UCx", title='Fish & <chips> "ünïcode"', author="A & B", published=when)],
        [SampleDeletion("gone0000001", "UCx", when), SampleDeletion("gone0000002", None, when)],
    )
    feed = parse_feed(body)
    assert [(e.video_id, e.title, e.author, e.published, e.updated) for e in feed.entries] == [
        ("abc_DEF-123", 'Fish & <chips> "ünïcode"', "A & B", when, when)
    ]
    assert [(d.video_id, d.channel_id) for d in feed.deleted] == [("gone0000001", "UCx"), ("gone0000002", None)]


@pytest.mark.parametrize("body", [XXE_FILE, BILLION_LAUGHS, PLAIN_DTD], ids=["xxe", "billion-laughs", "dtd"])
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(FeedError, match="unsafe XML"):
        parse_feed(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"not xml at all", "malformed XML"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'>", "malformed XML"),
        (b"<rss><channel/></rss>", "Atom <feed>"),
        (b"<feed/>", "Atom <feed>"),  # right name, wrong namespace
        (b"<?xml version='1.0' encoding='klingon'?><feed/>", "XML"),
        (YOUTUBE_EXAMPLE.replace(b"<yt:channelId>UCaaaaaaaaaaaaaaaaaaaaaa</yt:channelId>", b""), "yt:channelId"),
        (
            YOUTUBE_EXAMPLE.replace(b"yt:video:VIDEO_ID001", b"x").replace(
                b"<yt:videoId>VIDEO_ID001</yt:videoId>", b""
            ),
            "yt:videoId",
        ),
        (YOUTUBE_EXAMPLE.replace(b"<yt:videoId>VIDEO_ID001", b"<yt:videoId>bad id!"), "yt:videoId"),
        (YOUTUBE_EXAMPLE.replace(b"<title>Video title</title>", b""), "<title>"),
        (YOUTUBE_EXAMPLE.replace(b"<name>Channel title</name>", b""), "<author><name>"),
        (YOUTUBE_EXAMPLE.replace(b"Channel title", b"x" * 256), "author longer"),
        (YOUTUBE_EXAMPLE.replace(b"2015-03-06T21:40:57+00:00", b"yesterday"), "RFC 3339"),
        (YOUTUBE_EXAMPLE.replace(b"2015-03-06T21:40:57+00:00", b"2015-02-30T21:40:57+00:00"), "valid timestamp"),
        (YOUTUBE_EXAMPLE.replace(b"2015-03-06T21:40:57+00:00", b"0001-01-01T00:00:00+05:00"), "out of range"),
        (DELETION_EXAMPLE.replace(b'ref="yt:video:', b'ref="tag:'), "unexpected ref"),
        (DELETION_EXAMPLE.replace(b' when="2015-03-10T19:05:24.552394234+00:00"', b""), "'when'"),
        (DELETION_EXAMPLE.replace(b"http://www.youtube.com/channel/", b"http://evil.example/"), "at:by/uri"),
    ],
    ids=lambda value: None if isinstance(value, bytes) else value,
)
def test_malformed_feeds_raise_feed_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message.replace("(", r"\(")):
        parse_feed(body)


def test_too_many_entries_is_refused() -> None:
    body = build_notification([SampleVideo(f"v{i:010d}", "UCx") for i in range(1001)])
    with pytest.raises(FeedError, match="more than 1000 entries"):
        parse_feed(body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-03-09T19:05:24.552394234+00:00", datetime(2015, 3, 9, 19, 5, 24, 552394, tzinfo=UTC)),
        ("2015-03-09T19:05:24Z", datetime(2015, 3, 9, 19, 5, 24, tzinfo=UTC)),
        ("2015-03-09T21:05:24+02:00", datetime(2015, 3, 9, 19, 5, 24, tzinfo=UTC)),
        ("2015-03-09T19:05:24", datetime(2015, 3, 9, 19, 5, 24, tzinfo=UTC)),
    ],
)
def test_timestamps_are_normalised_to_utc(text: str, expected: datetime) -> None:
    assert parse_datetime(text, "t") == expected

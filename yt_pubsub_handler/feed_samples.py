"""Build notifications exactly as YouTube's hub sends them, for tests and ``dev/seed.py``.

Kept in the package (not under tests/) so the seed script and the sandbox can post the same bytes the tests
check, signed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from .feed import ATOM, TOMBSTONES, YT, topic_for
from .signature import derive_secret, sign


@dataclass(frozen=True)
class SampleVideo:
    video_id: str
    channel_id: str
    title: str = "A video"
    author: str = "A channel"
    published: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class SampleDeletion:
    video_id: str
    channel_id: str | None
    when: datetime
    author: str = "A channel"


def rfc3339(value: datetime) -> str:
    """YouTube's spelling: explicit +00:00 offset."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def build_notification(
    videos: Iterable[SampleVideo] = (), deletions: Iterable[SampleDeletion] = (), feed_channel_id: str | None = None
) -> bytes:
    """An Atom feed with one ``<entry>`` per video and one ``<at:deleted-entry>`` per deletion, UTF-8 bytes."""
    now = datetime.now(UTC)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<feed xmlns:yt="{YT}" xmlns="{ATOM}" xmlns:at="{TOMBSTONES}">',
        '<link rel="hub" href="https://pubsubhubbub.appspot.com"/>',
    ]
    if feed_channel_id:
        parts.append(f'<link rel="self" href={quoteattr(topic_for(feed_channel_id))}/>')
    parts += ["<title>YouTube video feed</title>", f"<updated>{rfc3339(now)}</updated>"]
    for video in videos:
        published = video.published or now
        updated = video.updated or published
        watch = f"https://www.youtube.com/watch?v={video.video_id}"
        parts.append(
            "<entry>"
            f"<id>yt:video:{escape(video.video_id)}</id>"
            f"<yt:videoId>{escape(video.video_id)}</yt:videoId>"
            f"<yt:channelId>{escape(video.channel_id)}</yt:channelId>"
            f"<title>{escape(video.title)}</title>"
            f'<link rel="alternate" href={quoteattr(watch)}/>'
            "<author>"
            f"<name>{escape(video.author)}</name>"
            f"<uri>https://www.youtube.com/channel/{escape(video.channel_id)}</uri>"
            "</author>"
            f"<published>{rfc3339(published)}</published>"
            f"<updated>{rfc3339(updated)}</updated>"
            "</entry>"
        )
    for gone in deletions:
        by = ""
        if gone.channel_id is not None:
            by = (
                "<at:by>"
                f"<name>{escape(gone.author)}</name>"
                f"<uri>https://www.youtube.com/channel/{escape(gone.channel_id)}</uri>"
                "</at:by>"
            )
        parts.append(
            f'<at:deleted-entry ref="yt:video:{escape(gone.video_id)}" when="{rfc3339(gone.when)}">'
            f'<link href="https://www.youtube.com/watch?v={escape(gone.video_id)}"/>'
            f"{by}</at:deleted-entry>"
        )
    parts.append("</feed>")
    return "\n".join(parts).encode("utf-8")


def signed_headers(body: bytes, master_secret: str, channel_id: str, algorithm: str = "sha1") -> dict[str, str]:
    """Headers a hub sends with ``body`` for ``channel_id``'s topic, using the secret we gave it."""
    secret = derive_secret(master_secret, topic_for(channel_id))
    return {
        "Content-Type": "application/atom+xml",
        "X-Hub-Signature": sign(body, secret, algorithm),
        "Link": f"<https://pubsubhubbub.appspot.com>; rel=hub, <{topic_for(channel_id)}>; rel=self",
    }

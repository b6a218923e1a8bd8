"""Safe parsing of YouTube's WebSub Atom notifications into plain dataclasses.

The body comes from the internet: it is parsed with defusedxml with DTDs forbidden outright, which refuses
external entities (XXE), entity expansion bombs ("billion laughs") and any other DTD trick before a single
entity is expanded. Everything else the parser or the field checks dislike becomes ``FeedError``, which the
callback turns into a 400 without touching the database.

YouTube's format (https://developers.google.com/youtube/v3/guides/push_notifications):

    <feed xmlns="http://www.w3.org/2005/Atom" xmlns:yt="http://www.youtube.com/xml/schemas/2015">
      <entry>
        <id>yt:video:VIDEO_ID</id> <yt:videoId>VIDEO_ID</yt:videoId> <yt:channelId>CHANNEL_ID</yt:channelId>
        <title>...</title> <link rel="alternate" href="..."/> <author><name>...</name><uri>...</uri></author>
        <published>...</published> <updated>...</updated>
      </entry>
    </feed>

and deletions as ``<at:deleted-entry ref="yt:video:VIDEO_ID" when="...">`` (tombstones namespace) with an
``<at:by><uri>https://www.youtube.com/channel/CHANNEL_ID</uri></at:by>``: no ``yt:channelId`` there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

ATOM = "http://www.w3.org/2005/Atom"
YT = "http://www.youtube.com/xml/schemas/2015"
TOMBSTONES = "http://purl.org/atompub/tombstones/1.0"

# Column limits (models.py) and YouTube's alphabets: anything else could only fail later, inside the database.
VIDEO_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
CHANNEL_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_AUTHOR_CHARS = 255
MAX_TITLE_CHARS = 10_000
MAX_LINK_CHARS = 4_096
MAX_ENTRIES = 1_000
_CHANNEL_URI_RE = re.compile(r"^https?://(?:www\.)?youtube\.com/channel/([A-Za-z0-9_-]{1,64})/?$")


TOPIC_TEMPLATE = "https://www.youtube.com/xml/feeds/videos.xml?channel_id={channel_id}"


def topic_for(channel_id: str) -> str:
    """The hub.topic YouTube publishes a channel's uploads under."""
    return TOPIC_TEMPLATE.format(channel_id=channel_id)


class FeedError(ValueError):
    """The body is not a YouTube Atom notification we can store; the message says which part is wrong."""


@dataclass(frozen=True)
class Entry:
    """One uploaded or edited video."""

    video_id: str
    channel_id: str
    title: str
    author: str
    link: str | None = None
    published: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class DeletedEntry:
    """One ``at:deleted-entry``; ``channel_id`` comes from ``at:by/uri`` and is None when the hub omitted it."""

    video_id: str
    deleted_at: datetime
    channel_id: str | None = None


@dataclass(frozen=True)
class Feed:
    entries: list[Entry] = field(default_factory=list)
    deleted: list[DeletedEntry] = field(default_factory=list)


def is_valid_channel_id(value: str) -> bool:
    return bool(CHANNEL_ID_RE.fullmatch(value))


def parse_feed(body: bytes) -> Feed:
    """Parse a notification body; raise ``FeedError`` for anything that is not a well-formed Atom feed."""
    root = _parse_xml(body)
    if root.tag != f"{{{ATOM}}}feed":
        raise FeedError(f"expected an Atom <feed> root element, got {_local(root.tag)!r}")
    entries = [_entry(node) for node in root.findall(f"{{{ATOM}}}entry")]
    deleted = [_deleted(node) for node in root.findall(f"{{{TOMBSTONES}}}deleted-entry")]
    if len(entries) + len(deleted) > MAX_ENTRIES:
        raise FeedError(f"more than {MAX_ENTRIES} entries in one notification")
    return Feed(entries=entries, deleted=deleted)


def parse_datetime(value: str, what: str) -> datetime:
    """RFC 3339 timestamps as YouTube writes them (nanoseconds included); naive values are taken as UTC."""
    text = value.strip()
    # Python keeps microseconds; YouTube sends up to nine fractional digits.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})?", text):
        raise FeedError(f"{what} is not an RFC 3339 timestamp: {value[:64]!r}")
    try:
        parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise FeedError(f"{what} is not a valid timestamp: {value[:64]!r} ({exc})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise FeedError(f"{what} is out of range: {value[:64]!r}") from None


def _parse_xml(body: bytes) -> Element:
    if not body or not body.strip():
        raise FeedError("empty body: expected an Atom feed")
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FeedError(f"refused unsafe XML ({type(exc).__name__}): DTDs and entities are not accepted") from None
    except ParseError as exc:
        raise FeedError(f"malformed XML: {exc}") from None
    except (ValueError, LookupError, UnicodeError) as exc:  # e.g. an unknown encoding in the XML declaration
        raise FeedError(f"unreadable XML: {exc}") from None


def _entry(node: Element) -> Entry:
    video_id = _text(node, f"{{{YT}}}videoId")
    if video_id is None:
        atom_id = _text(node, f"{{{ATOM}}}id") or ""
        video_id = atom_id.removeprefix("yt:video:") if atom_id.startswith("yt:video:") else None
    if not video_id or not VIDEO_ID_RE.fullmatch(video_id):
        raise FeedError(f"entry without a valid yt:videoId: {video_id!r}"[:200])
    channel_id = _text(node, f"{{{YT}}}channelId")
    if not channel_id or not CHANNEL_ID_RE.fullmatch(channel_id):
        raise FeedError(f"entry {video_id} without a valid yt:channelId: {channel_id!r}"[:200])
    title = _text(node, f"{{{ATOM}}}title")
    if title is None:
        raise FeedError(f"entry {video_id} has no <title>")
    if len(title) > MAX_TITLE_CHARS:
        raise FeedError(f"entry {video_id}: title longer than {MAX_TITLE_CHARS} characters")
    author_node = node.find(f"{{{ATOM}}}author")
    author = _text(author_node, f"{{{ATOM}}}name") if author_node is not None else None
    if author is None:
        raise FeedError(f"entry {video_id} has no <author><name>")
    if len(author) > MAX_AUTHOR_CHARS:
        raise FeedError(f"entry {video_id}: author longer than {MAX_AUTHOR_CHARS} characters")
    link = _alternate_link(node)
    if link is not None and len(link) > MAX_LINK_CHARS:
        raise FeedError(f"entry {video_id}: link longer than {MAX_LINK_CHARS} characters")
    published = _optional_datetime(node, f"{{{ATOM}}}published", f"entry {video_id} <published>")
    updated = _optional_datetime(node, f"{{{ATOM}}}updated", f"entry {video_id} <updated>")
    return Entry(video_id, channel_id, title, author, link, published, updated)


def _deleted(node: Element) -> DeletedEntry:
    ref = (node.get("ref") or "").strip()
    video_id = ref.removeprefix("yt:video:")
    if not ref.startswith("yt:video:") or not VIDEO_ID_RE.fullmatch(video_id):
        raise FeedError(f"at:deleted-entry with an unexpected ref {ref[:80]!r} (expected yt:video:VIDEO_ID)")
    when = node.get("when")
    if not when:
        raise FeedError(f"at:deleted-entry {video_id} has no 'when' attribute")
    deleted_at = parse_datetime(when, f"at:deleted-entry {video_id} 'when'")
    channel_id = None
    by = node.find(f"{{{TOMBSTONES}}}by")
    if by is not None:
        uri = _text(by, f"{{{ATOM}}}uri")
        match = _CHANNEL_URI_RE.match(uri or "")
        if match is None:
            raise FeedError(f"at:deleted-entry {video_id}: at:by/uri is not a YouTube channel URL: {uri!r}"[:200])
        channel_id = match.group(1)
    return DeletedEntry(video_id, deleted_at, channel_id)


def _alternate_link(node: Element) -> str | None:
    for link in node.findall(f"{{{ATOM}}}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href").strip()
    return None


def _optional_datetime(node: Element, tag: str, what: str) -> datetime | None:
    value = _text(node, tag)
    return parse_datetime(value, what) if value else None


def _text(node: Element, tag: str) -> str | None:
    child = node.find(tag)
    if child is None:
        return None
    return "".join(child.itertext()).strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]

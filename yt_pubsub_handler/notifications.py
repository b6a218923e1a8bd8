"""Store a parsed notification: idempotent upserts, order-safe updates, channel-scoped deletions.

Hubs retry and reorder deliveries, so every statement here is safe to replay and to receive late:

- videos are upserted with ``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE`` the incoming ``updated`` is newer
  than the stored one, so a replay or an older notification changes nothing;
- a deleted video is only brought back by a notification updated *after* its deletion;
- a deletion only touches a video of the channel the notification was addressed to, and only when it is not
  older than the last update we stored;
- a video id already stored under another channel is never moved.

The caller owns the transaction (the callback commits once, or rolls everything back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from .extensions import db
from .feed import DeletedEntry, Entry, Feed
from .models import Channel, Video

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ApplyResult:
    """What a notification changed; JSON-friendly via ``to_dict``."""

    upserted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "upserted": self.upserted,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "ignored": self.ignored,
        }


def apply_feed(channel_id: str, feed: Feed) -> ApplyResult:
    """Apply ``feed`` as a notification for ``channel_id`` (the channel of the callback URL) in the session."""
    result = ApplyResult()
    # A notification for channel A must not write videos of channel B, whatever the body says.
    own = [entry for entry in feed.entries if entry.channel_id == channel_id]
    result.ignored += [entry.video_id for entry in feed.entries if entry.channel_id != channel_id]
    if own:
        newest = max(own, key=lambda e: e.updated or e.published or _EPOCH)
        _upsert_channel(channel_id, title=newest.author)
    for entry in own:
        (result.upserted if _upsert_video(channel_id, entry) else result.unchanged).append(entry.video_id)
    for gone in feed.deleted:
        if gone.channel_id is not None and gone.channel_id != channel_id:
            result.ignored.append(gone.video_id)
        else:
            (result.deleted if _mark_deleted(channel_id, gone) else result.unchanged).append(gone.video_id)
    return result


def _upsert_video(channel_id: str, entry: Entry) -> bool:
    """Insert the video, or update it when this entry is newer; True when a row was written."""
    table = Video.__table__
    stmt = insert(table).values(
        id=entry.video_id,
        channel_id=channel_id,
        title=entry.title,
        link=entry.link,
        author=entry.author,
        published_at=entry.published,
        updated_at=entry.updated,
    )
    excluded = stmt.excluded
    newer = sa.or_(
        table.c.updated_at.is_(None),
        sa.and_(excluded.updated_at.is_not(None), excluded.updated_at > table.c.updated_at),
    )
    not_resurrecting_from_the_past = sa.or_(
        table.c.deleted_at.is_(None),
        sa.and_(excluded.updated_at.is_not(None), excluded.updated_at > table.c.deleted_at),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={
            "title": excluded.title,
            "link": excluded.link,
            "author": excluded.author,
            "published_at": sa.func.coalesce(excluded.published_at, table.c.published_at),
            "updated_at": excluded.updated_at,
            "deleted_at": None,
        },
        where=sa.and_(table.c.channel_id == excluded.channel_id, newer, not_resurrecting_from_the_past),
    ).returning(table.c.id)
    return db.session.execute(stmt).scalar_one_or_none() is not None


def _mark_deleted(channel_id: str, gone: DeletedEntry) -> bool:
    """Mark the channel's video deleted unless it was updated after the deletion; True when a row changed."""
    table = Video.__table__
    stmt = (
        sa.update(table)
        .where(
            table.c.id == gone.video_id,
            table.c.channel_id == channel_id,
            table.c.deleted_at.is_(None),
            sa.or_(table.c.updated_at.is_(None), table.c.updated_at <= gone.deleted_at),
        )
        .values(deleted_at=gone.deleted_at)
        .returning(table.c.id)
    )
    return db.session.execute(stmt).scalar_one_or_none() is not None


def _upsert_channel(channel_id: str, title: str | None) -> None:
    """Create the channel row, or refresh its title (YouTube puts the channel name in each entry's author)."""
    table = Channel.__table__
    stmt = insert(table).values(id=channel_id, title=title)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={"title": stmt.excluded.title, "updated_at": sa.func.now()},
        where=sa.and_(stmt.excluded.title.is_not(None), table.c.title.is_distinct_from(stmt.excluded.title)),
    )
    db.session.execute(stmt)


def ensure_channel(channel_id: str) -> None:
    """Create the channel row if missing (subscribing to a channel we have never heard from)."""
    db.session.execute(insert(Channel.__table__).values(id=channel_id).on_conflict_do_nothing(index_elements=["id"]))

"""The schema at head. Every change here needs a reviewed revision in migrations/ (`make new-migration`)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


class SubscriptionState(enum.Enum):
    """Where a WebSub subscription stands with the hub."""

    PENDING = "pending"  # subscribe sent, hub has not verified yet
    ACTIVE = "active"  # hub verified; notifications flow until expires_at
    DENIED = "denied"  # hub (or publisher) refused
    UNSUBSCRIBING = "unsubscribing"  # unsubscribe sent, waiting for the hub's verification
    UNSUBSCRIBED = "unsubscribed"


subscription_state = sa.Enum(
    SubscriptionState,
    name="subscription_state",
    values_callable=lambda members: [m.value for m in members],
)


class Channel(db.Model):
    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    title: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )

    videos: Mapped[list[Video]] = relationship(back_populates="channel", passive_deletes=True)
    subscription: Mapped[Subscription | None] = relationship(back_populates="channel", passive_deletes=True)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


class Video(db.Model):
    __tablename__ = "videos"
    __table_args__ = (sa.Index("ix_videos_channel_id_published_at", "channel_id", "published_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    link: Mapped[str | None] = mapped_column(sa.Text)
    author: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )

    channel: Mapped[Channel] = relationship(back_populates="videos")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "title": self.title,
            "link": self.link,
            "author": self.author,
            "published_at": _iso(self.published_at),
            "updated_at": _iso(self.updated_at),
            "deleted_at": _iso(self.deleted_at),
        }


class Subscription(db.Model):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    topic_url: Mapped[str] = mapped_column(sa.Text, nullable=False)
    callback_url: Mapped[str] = mapped_column(sa.Text, nullable=False)
    state: Mapped[SubscriptionState] = mapped_column(
        subscription_state, nullable=False, server_default=SubscriptionState.PENDING.value
    )
    lease_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    requested_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    verified_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    denied_reason: Mapped[str | None] = mapped_column(sa.Text)

    channel: Mapped[Channel] = relationship(back_populates="subscription")

    def to_dict(self) -> dict:
        return {
            "channel_id": self.channel_id,
            "topic_url": self.topic_url,
            "callback_url": self.callback_url,
            "state": self.state.value,
            "lease_seconds": self.lease_seconds,
            "expires_at": _iso(self.expires_at),
            "requested_at": _iso(self.requested_at),
            "verified_at": _iso(self.verified_at),
            "denied_reason": self.denied_reason,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None

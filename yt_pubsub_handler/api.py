"""A small read API: health, channels, a channel's videos (newest first, keyset-paginated).

``GET /channels/<id>/videos`` takes ``limit`` (1..API_MAX_PAGE_SIZE, default API_PAGE_SIZE; see config.py) and
either ``cursor`` (opaque, from the previous page's ``next_cursor``; stable while videos arrive) or ``page``
(1-based offset pages, handy for people, may shift while videos arrive), plus ``include_deleted=true``.
Bad parameters: 400 with a JSON ``error`` that says what to send instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .feed import VIDEO_ID_RE, is_valid_channel_id
from .models import Channel, Subscription, Video

bp = Blueprint("api", __name__)


class BadRequest(ValueError):
    pass


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 400


@bp.get("/health")
def health() -> tuple[Response, int]:
    """200 when the database answers ``SELECT 1``; 503 otherwise (load balancers and `make status` read it)."""
    try:
        db.session.execute(sa.text("SELECT 1")).scalar_one()
        db.session.rollback()
    except SQLAlchemyError as exc:
        db.session.rollback()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        current_app.logger.error("health check: database unreachable: %s", reason)
        return jsonify(status="error", database="unreachable", error=reason), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/channels")
def list_channels() -> Response:
    """Every channel we know, with its subscription state (None when we never subscribed)."""
    rows = db.session.execute(
        sa.select(Channel, Subscription)
        .outerjoin(Subscription, Subscription.channel_id == Channel.id)
        .order_by(Channel.id)
    ).all()
    channels = []
    for channel, subscription in rows:
        item = channel.to_dict()
        item["subscription"] = subscription.to_dict() if subscription is not None else None
        channels.append(item)
    return jsonify(channels=channels, count=len(channels))


@bp.get("/channels/<channel_id>/videos")
def list_videos(channel_id: str) -> tuple[Response, int]:
    limit, cursor, page, include_deleted = _page_args()
    if not is_valid_channel_id(channel_id) or db.session.get(Channel, channel_id) is None:
        return jsonify(error=f"unknown channel {channel_id!r}: GET /channels lists the known ones"), 404
    query = _videos_query(channel_id, include_deleted, cursor).limit(limit + 1)
    if page is not None:
        query = query.offset((page - 1) * limit)
    videos = list(db.session.execute(query).scalars())
    has_more = len(videos) > limit
    videos = videos[:limit]
    body = {
        "channel_id": channel_id,
        "limit": limit,
        "videos": [video.to_dict() for video in videos],
        "next_cursor": _encode_cursor(videos[-1]) if has_more and page is None else None,
    }
    if page is not None:
        body["page"] = page
        body["next_page"] = page + 1 if has_more else None
    return jsonify(body), 200


def _page_args() -> tuple[int, tuple[datetime | None, str] | None, int | None, bool]:
    """``limit``, the decoded ``cursor``, ``page`` and ``include_deleted``; BadRequest names what is wrong."""
    largest = current_app.config["API_MAX_PAGE_SIZE"]
    limit = _int_arg("limit", default=current_app.config["API_PAGE_SIZE"])
    if not 1 <= limit <= largest:
        raise BadRequest(f"limit must be between 1 and {largest}, got {limit}")
    cursor_raw = request.args.get("cursor")
    page = _int_arg("page", default=None)
    if cursor_raw is not None and page is not None:
        raise BadRequest("send either cursor or page, not both")
    if page is not None and page < 1:
        raise BadRequest(f"page starts at 1, got {page}")
    cursor = _decode_cursor(cursor_raw) if cursor_raw is not None else None
    return limit, cursor, page, _bool_arg("include_deleted")


def _videos_query(channel_id: str, include_deleted: bool, cursor: tuple[datetime | None, str] | None) -> sa.Select:
    """Newest first, videos without a publication date last, id breaking ties so the order is total."""
    unpublished = Video.published_at.is_(None)
    query = sa.select(Video).where(Video.channel_id == channel_id)
    if not include_deleted:
        query = query.where(Video.deleted_at.is_(None))
    if cursor is not None:  # strictly after the last video of the previous page, in the same order
        published, last_id = cursor
        if published is None:
            query = query.where(unpublished, Video.id < last_id)
        else:
            query = query.where(
                sa.or_(
                    unpublished,
                    Video.published_at < published,
                    sa.and_(Video.published_at == published, Video.id < last_id),
                )
            )
    return query.order_by(unpublished.asc(), Video.published_at.desc(), Video.id.desc())


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    if not re.fullmatch(r"-?[0-9]{1,9}", raw):
        raise BadRequest(f"{name} must be an integer, got {raw[:40]!r}")
    return int(raw)


def _bool_arg(name: str) -> bool:
    raw = (request.args.get(name) or "false").strip().lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no", ""):
        return False
    raise BadRequest(f"{name} must be true or false, got {raw[:40]!r}")


def _encode_cursor(video: Video) -> str:
    payload = {"p": video.published_at.isoformat() if video.published_at else None, "id": video.id}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> tuple[datetime | None, str]:
    try:
        padded = raw.strip() + "=" * (-len(raw.strip()) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        last_id = payload["id"]
        published = payload["p"]
        if not isinstance(last_id, str) or not VIDEO_ID_RE.fullmatch(last_id):
            raise ValueError("bad video id")
        if not (published is None or isinstance(published, str)):
            raise TypeError("wrong field types")
        published_at = datetime.fromisoformat(published) if published is not None else None
        if published_at is not None and published_at.tzinfo is None:
            raise ValueError("naive timestamp")
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error, json.JSONDecodeError):
        raise BadRequest("cursor is not one this API issued: pass next_cursor from the previous page as is") from None
    return published_at, last_id

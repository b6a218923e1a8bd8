"""The WebSub callback: ``/websub/<channel_id>``, one URL per subscribed channel.

Follows the W3C WebSub recommendation (https://www.w3.org/TR/websub/):

GET, intent verification (section 5.3). We echo ``hub.challenge`` (200, text/plain) only for a request we
actually made: ``hub.topic`` must equal the stored topic of that channel, and ``hub.mode`` must match what we
asked for (``subscribe`` while PENDING or ACTIVE, ``unsubscribe`` while UNSUBSCRIBING). The lease is recorded.
``hub.mode=denied`` (section 5.2) records DENIED and the hub's reason and answers 200. Everything else: 404, which
tells the hub we do not agree.

POST, content distribution (sections 7 and 8). Status codes:

- 200 + JSON summary: signature valid, feed stored (one transaction);
- 202: bad or missing ``X-Hub-Signature``. The spec says the subscriber MUST ignore such a message and MAY still
  answer 2xx (so a forger learns nothing and a hub does not retry); nothing is stored;
- 400: valid signature but not a YouTube Atom feed (malformed, unsafe XML, missing fields); nothing changed;
- 410: we hold no live subscription for this channel (never subscribed, unsubscribed or denied). Section 7 lets
  the hub drop a subscription on 410;
- 413: body larger than ``WEBSUB_MAX_BODY_BYTES`` (default 1 MiB; YouTube sends a few KB).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, request

from . import notifications
from .extensions import db
from .feed import FeedError, is_valid_channel_id, parse_feed
from .models import Subscription, SubscriptionState
from .signature import derive_secret, verify

log = logging.getLogger(__name__)

bp = Blueprint("websub", __name__, url_prefix="/websub")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_LEASE_SECONDS = 2**31 - 1  # subscriptions.lease_seconds is an INTEGER
MAX_CHALLENGE_CHARS = 4096

# Where the hub may still be delivering: a renewal re-subscribes an ACTIVE subscription, and content may keep
# coming until the hub has verified an unsubscribe.
_RECEIVING = (SubscriptionState.PENDING, SubscriptionState.ACTIVE, SubscriptionState.UNSUBSCRIBING)


@bp.get("/<channel_id>")
def verify_intent(channel_id: str) -> Response:
    """Answer the hub's verification of intent (or its denial notice)."""
    mode = request.args.get("hub.mode", "")
    topic = request.args.get("hub.topic", "")
    if not is_valid_channel_id(channel_id) or not topic:
        return _refuse("unknown channel or missing hub.topic")
    subscription = db.session.execute(
        db.select(Subscription).where(Subscription.channel_id == channel_id).with_for_update()
    ).scalar_one_or_none()
    if subscription is None or subscription.topic_url != topic:
        db.session.rollback()
        return _refuse("no subscription for this channel and topic")
    now = datetime.now(UTC)

    if mode == "denied":
        subscription.state = SubscriptionState.DENIED
        subscription.denied_reason = (request.args.get("hub.reason") or "")[:2000] or None
        db.session.commit()
        log.warning("hub denied the subscription to %s: %s", topic, subscription.denied_reason)
        return Response("", status=200, mimetype="text/plain")

    challenge = request.args.get("hub.challenge", "")
    if not challenge or len(challenge) > MAX_CHALLENGE_CHARS:
        db.session.rollback()
        return _refuse("missing or oversized hub.challenge")

    if mode == "subscribe" and subscription.state in (SubscriptionState.PENDING, SubscriptionState.ACTIVE):
        lease = _lease_seconds(request.args.get("hub.lease_seconds"))
        if lease is None:
            db.session.rollback()
            return _refuse("hub.lease_seconds missing or not a positive integer")
        subscription.state = SubscriptionState.ACTIVE
        subscription.lease_seconds = lease
        subscription.expires_at = now + timedelta(seconds=lease)
        subscription.verified_at = now
        subscription.denied_reason = None
    elif mode == "unsubscribe" and subscription.state == SubscriptionState.UNSUBSCRIBING:
        subscription.state = SubscriptionState.UNSUBSCRIBED
        subscription.verified_at = now
        subscription.expires_at = None
    else:
        db.session.rollback()
        return _refuse(f"hub.mode {mode[:40]!r} does not match what we requested ({subscription.state.value})")
    db.session.commit()
    log.info("verified %s for %s", mode, topic)
    return Response(challenge, status=200, mimetype="text/plain")


@bp.post("/<channel_id>")
def receive_notification(channel_id: str) -> tuple[Response, int]:
    """Verify the signature on the raw body, then store the feed in one transaction."""
    limit = int(current_app.config.get("WEBSUB_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
    if request.content_length is not None and request.content_length > limit:
        return jsonify(error=f"body larger than {limit} bytes"), 413
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return jsonify(error=f"body larger than {limit} bytes"), 413

    subscription = None
    if is_valid_channel_id(channel_id):
        subscription = db.session.execute(
            db.select(Subscription).where(Subscription.channel_id == channel_id)
        ).scalar_one_or_none()
    if subscription is None or subscription.state not in _RECEIVING:
        db.session.rollback()
        return jsonify(error="no live subscription for this channel"), 410

    master = current_app.config.get("WEBSUB_SECRET")
    if not master:
        db.session.rollback()
        log.error("WEBSUB_SECRET is not set: every notification is ignored until it is")
        return jsonify(status="ignored", reason="signature cannot be verified"), 202
    secret = derive_secret(master, subscription.topic_url)
    topic = subscription.topic_url
    # Release the read snapshot before the (possibly slow) parse; the writes below run in their own transaction.
    db.session.rollback()
    if not verify(body, request.headers.get("X-Hub-Signature"), secret):
        log.warning("ignored a notification for %s with a bad or missing X-Hub-Signature", topic)
        return jsonify(status="ignored", reason="bad or missing X-Hub-Signature"), 202

    try:
        feed = parse_feed(body)
    except FeedError as exc:
        log.warning("rejected a signed notification for %s: %s", topic, exc)
        return jsonify(error=str(exc)), 400
    try:
        result = notifications.apply_feed(channel_id, feed)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return jsonify(status="processed", channel_id=channel_id, **result.to_dict()), 200


def _lease_seconds(raw: str | None) -> int | None:
    if raw is None or not re.fullmatch(r"[0-9]{1,12}", raw.strip()):
        return None
    value = int(raw.strip())
    return value if 0 < value <= MAX_LEASE_SECONDS else None


def _refuse(reason: str) -> Response:
    log.info("refused a WebSub verification: %s", reason)
    return Response("", status=404, mimetype="text/plain")

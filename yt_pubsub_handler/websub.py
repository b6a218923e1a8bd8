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
- 413: body larger than ``WEBSUB_MAX_BODY_BYTES`` (config.py: 1 MiB unless set; YouTube sends a few KB).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, request

from . import notifications
from .extensions import db
from .feed import Feed, FeedError, is_valid_channel_id, parse_feed
from .models import Subscription, SubscriptionState
from .signature import derive_secret, verify
from .subscriptions import subscription_for

log = logging.getLogger(__name__)

bp = Blueprint("websub", __name__, url_prefix="/websub")

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
    subscription = subscription_for(channel_id, for_update=True)
    if subscription is None or subscription.topic_url != topic:
        return _refuse("no subscription for this channel and topic")
    if mode == "denied":
        _record_denial(subscription, request.args.get("hub.reason"))
        return Response("", status=200, mimetype="text/plain")
    challenge = request.args.get("hub.challenge", "")
    if not challenge or len(challenge) > MAX_CHALLENGE_CHARS:
        return _refuse("missing or oversized hub.challenge")
    refusal = _record_verification(subscription, mode, request.args.get("hub.lease_seconds"))
    if refusal:
        return _refuse(refusal)
    log.info("verified %s for %s", mode, topic)
    return Response(challenge, status=200, mimetype="text/plain")


def _record_denial(subscription: Subscription, reason: str | None) -> None:
    subscription.state = SubscriptionState.DENIED
    subscription.denied_reason = (reason or "")[:2000] or None
    db.session.commit()
    log.warning("hub denied the subscription to %s: %s", subscription.topic_url, subscription.denied_reason)


def _record_verification(subscription: Subscription, mode: str, lease_raw: str | None) -> str | None:
    """Commit what the hub verified; or, when it is not what we asked for, change nothing and say why."""
    now = datetime.now(UTC)
    if mode == "subscribe" and subscription.state in (SubscriptionState.PENDING, SubscriptionState.ACTIVE):
        lease = _lease_seconds(lease_raw)
        if lease is None:
            return "hub.lease_seconds missing or not a positive integer"
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
        return f"hub.mode {mode[:40]!r} does not match what we requested ({subscription.state.value})"
    db.session.commit()
    return None


@bp.post("/<channel_id>")
def receive_notification(channel_id: str) -> tuple[Response, int]:
    """Verify the signature on the raw body, then store the feed in one transaction."""
    limit = current_app.config["WEBSUB_MAX_BODY_BYTES"]
    body = _read_body(limit)
    if body is None:
        return jsonify(error=f"body larger than {limit} bytes"), 413
    subscription = subscription_for(channel_id) if is_valid_channel_id(channel_id) else None
    if subscription is None or subscription.state not in _RECEIVING:
        db.session.rollback()
        return jsonify(error="no live subscription for this channel"), 410
    topic = subscription.topic_url
    # Release the read snapshot before the (possibly slow) parse; the writes below run in their own transaction.
    db.session.rollback()
    ignored = _signature_problem(body, topic)
    if ignored:
        return jsonify(status="ignored", reason=ignored), 202
    try:
        feed = parse_feed(body)
    except FeedError as exc:
        log.warning("rejected a signed notification for %s: %s", topic, exc)
        return jsonify(error=str(exc)), 400
    return jsonify(status="processed", channel_id=channel_id, **_store(channel_id, feed)), 200


def _read_body(limit: int) -> bytes | None:
    """The raw body (the signature covers its exact bytes), or None when it is larger than ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


def _signature_problem(body: bytes, topic: str) -> str | None:
    """Why the message must be ignored (no secret to check with, or a bad signature), or None when it is genuine."""
    master = current_app.config["WEBSUB_SECRET"]
    if not master:
        log.error("WEBSUB_SECRET is not set: every notification is ignored until it is")
        return "signature cannot be verified"
    if not verify(body, request.headers.get("X-Hub-Signature"), derive_secret(master, topic)):
        log.warning("ignored a notification for %s with a bad or missing X-Hub-Signature", topic)
        return "bad or missing X-Hub-Signature"
    return None


def _store(channel_id: str, feed: Feed) -> dict:
    """Apply the feed and commit it as one transaction; nothing of it stays on failure."""
    try:
        result = notifications.apply_feed(channel_id, feed)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return result.to_dict()


def _lease_seconds(raw: str | None) -> int | None:
    if raw is None or not re.fullmatch(r"[0-9]{1,12}", raw.strip()):
        return None
    value = int(raw.strip())
    return value if 0 < value <= MAX_LEASE_SECONDS else None


def _refuse(reason: str) -> Response:
    db.session.rollback()  # nothing of a refused verification is kept, and the row lock goes with it
    log.info("refused a WebSub verification: %s", reason)
    return Response("", status=404, mimetype="text/plain")

"""Subscribing to channels through the WebSub hub, and keeping the leases alive.

Order matters: the subscription row is committed *before* the request goes to the hub, because a hub may call
the verification GET before it even answers our POST (and in another Lambda container). A failed hub request
leaves the row as it was committed (PENDING for a new one, ACTIVE for a renewal) and raises ``HubError``; the next
``renew_subscriptions`` run retries it.

A renewal of an ACTIVE subscription keeps it ACTIVE: its current lease is still valid, and notifications keep
arriving while the hub re-verifies. New, denied or unsubscribed ones go to PENDING until the hub verifies.

Per-topic secrets are derived from ``WEBSUB_SECRET`` (see signature.py): nothing secret is stored.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import current_app

from .config import ConfigError
from .extensions import db
from .feed import is_valid_channel_id, topic_for
from .models import Subscription, SubscriptionState
from .notifications import ensure_channel
from .signature import derive_secret

log = logging.getLogger(__name__)


class HubError(RuntimeError):
    """The hub refused or could not be reached; the message names the hub, the answer and what to check."""


def subscription_for(channel_id: str, *, for_update: bool = False) -> Subscription | None:
    """The subscription row of ``channel_id``, or None.

    ``for_update`` locks the row until the transaction ends: a hub's verification GET and our own subscribe or
    unsubscribe may race for it, from different Lambda containers.
    """
    query = db.select(Subscription).where(Subscription.channel_id == channel_id)
    if for_update:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def callback_url(channel_id: str, base: str | None = None) -> str:
    """Our callback for ``channel_id``: ``{WEBSUB_CALLBACK_URL}/{channel_id}`` (served by websub.bp)."""
    base = base or current_app.config["WEBSUB_CALLBACK_URL"]
    if not base:
        raise ConfigError(
            "WEBSUB_CALLBACK_URL is not set: export the public URL of the callback, e.g. "
            "https://example.execute-api.eu-west-1.amazonaws.com/production/websub"
        )
    return f"{base.rstrip('/')}/{channel_id}"


def subscribe(
    channel_id: str,
    *,
    lease_seconds: int | None = None,
    now: datetime | None = None,
    session: requests.Session | None = None,
) -> dict:
    """Ask the hub to subscribe us to ``channel_id``'s uploads; return the subscription as a dict.

    Needs an app context (WEBSUB_HUB_URL, WEBSUB_CALLBACK_URL, WEBSUB_SECRET, WEBSUB_LEASE_SECONDS).
    """
    _check_channel_id(channel_id)
    master = current_app.config["WEBSUB_SECRET"]
    if not master:
        raise ConfigError("WEBSUB_SECRET is not set: export a long random string (the same one the callback uses)")
    topic = topic_for(channel_id)
    callback = callback_url(channel_id)
    lease = int(lease_seconds or current_app.config["WEBSUB_LEASE_SECONDS"])
    _record_request(channel_id, topic, callback, now or datetime.now(UTC))
    _send(
        "subscribe",
        {
            "hub.callback": callback,
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.secret": derive_secret(master, topic),
            "hub.lease_seconds": str(lease),
        },
        session,
    )
    return _reload(channel_id)


def _record_request(channel_id: str, topic: str, callback: str, now: datetime) -> None:
    """Commit the row before the hub hears of it: its verification GET may arrive before its answer to us."""
    ensure_channel(channel_id)
    subscription = subscription_for(channel_id, for_update=True)
    if subscription is None:
        subscription = Subscription(channel_id=channel_id, topic_url=topic, callback_url=callback)
        db.session.add(subscription)
    renewing = (
        subscription.state == SubscriptionState.ACTIVE
        and subscription.topic_url == topic
        and subscription.expires_at is not None
        and subscription.expires_at > now
    )
    subscription.topic_url = topic
    subscription.callback_url = callback
    subscription.requested_at = now
    subscription.denied_reason = None
    if not renewing:
        subscription.state = SubscriptionState.PENDING
    db.session.commit()


def unsubscribe(channel_id: str, *, session: requests.Session | None = None) -> dict:
    """Ask the hub to stop; the row goes to UNSUBSCRIBING until the hub's verification GET."""
    _check_channel_id(channel_id)
    subscription = subscription_for(channel_id, for_update=True)
    if subscription is None:
        db.session.rollback()
        raise LookupError(f"no subscription for channel {channel_id}: nothing to unsubscribe (see GET /channels)")
    subscription.state = SubscriptionState.UNSUBSCRIBING
    subscription.requested_at = datetime.now(UTC)
    topic, callback = subscription.topic_url, subscription.callback_url
    db.session.commit()
    _send("unsubscribe", {"hub.callback": callback, "hub.mode": "unsubscribe", "hub.topic": topic}, session)
    return _reload(channel_id)


def renew_subscriptions(now: datetime | None = None) -> dict:
    """Re-subscribe every ACTIVE/PENDING subscription whose lease ends soon (daily Zappa event).

    "Soon" is WEBSUB_RENEW_WITHIN_SECONDS. Also retries PENDING ones the hub never verified (no lease yet) once
    they are WEBSUB_RETRY_UNVERIFIED_SECONDS old. One failing hub request does not stop the others: failures are
    listed, with the error, in the result.
    """
    now = now or datetime.now(UTC)
    channel_ids = _due_for_renewal(now)
    renewed: list[str] = []
    failed: list[dict[str, str]] = []
    with requests.Session() as session:
        for channel_id in channel_ids:
            try:
                subscribe(channel_id, now=now, session=session)
            except (HubError, ConfigError) as exc:
                db.session.rollback()
                log.error("renewing %s failed: %s", channel_id, exc)
                failed.append({"channel_id": channel_id, "error": str(exc)})
            else:
                renewed.append(channel_id)
    return {
        "action": "renew_subscriptions",
        "now": now.isoformat(),
        "checked": len(channel_ids),
        "renewed": renewed,
        "failed": failed,
    }


def _due_for_renewal(now: datetime) -> list[str]:
    """Channels whose lease ends within the renewal window, or whose request the hub never verified; soonest first."""
    config = current_app.config
    horizon = now + timedelta(seconds=config["WEBSUB_RENEW_WITHIN_SECONDS"])
    due = sa.or_(
        Subscription.expires_at <= horizon,
        sa.and_(
            Subscription.expires_at.is_(None),
            Subscription.state == SubscriptionState.PENDING,
            Subscription.requested_at <= now - timedelta(seconds=config["WEBSUB_RETRY_UNVERIFIED_SECONDS"]),
        ),
    )
    channel_ids = list(
        db.session.execute(
            db.select(Subscription.channel_id)
            .where(Subscription.state.in_([SubscriptionState.ACTIVE, SubscriptionState.PENDING]), due)
            .order_by(Subscription.expires_at.asc().nulls_first(), Subscription.channel_id)
        ).scalars()
    )
    db.session.rollback()
    return channel_ids


def _send(mode: str, data: dict[str, Any], session: requests.Session | None) -> None:
    hub = current_app.config["WEBSUB_HUB_URL"]
    timeout = (current_app.config["WEBSUB_HUB_CONNECT_TIMEOUT"], current_app.config["WEBSUB_HUB_READ_TIMEOUT"])
    if not hub:
        raise ConfigError("WEBSUB_HUB_URL is not set: use https://pubsubhubbub.appspot.com/subscribe for YouTube")
    post = session.post if session is not None else requests.post
    try:
        response = post(hub, data=data, timeout=timeout)
    except requests.RequestException as exc:
        raise HubError(
            f"{mode} request to the hub {hub} failed: {exc}. Check WEBSUB_HUB_URL and the network, then retry "
            "(renew_subscriptions retries it daily)"
        ) from exc
    if not 200 <= response.status_code < 300:
        raise HubError(
            f"hub {hub} answered {response.status_code} to {mode} {data['hub.topic']}: {response.text[:300]!r}. "
            "Check that WEBSUB_CALLBACK_URL is reachable from the internet and the topic exists, then retry"
        )
    log.info("hub accepted %s for %s (%s)", mode, data["hub.topic"], response.status_code)


def _reload(channel_id: str) -> dict:
    # The hub may have verified (another connection) while we waited: read what is committed now.
    db.session.expire_all()
    result = subscription_for(channel_id).to_dict()
    db.session.rollback()
    return result


def _check_channel_id(channel_id: str) -> None:
    if not isinstance(channel_id, str) or not is_valid_channel_id(channel_id):
        raise ValueError(f"not a YouTube channel id: {channel_id!r} (expected something like UCxxxxxxxxxxxxxxxxxxxxxx)")

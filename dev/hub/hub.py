"""The hub's state and behaviour, with no HTTP server: subscriptions, intent verification, leases, signed delivery.

What a WebSub hub does (https://www.w3.org/TR/websub/ sections 5-8), as YouTube's hub (pubsubhubbub.appspot.com)
does it, and nothing about any particular subscriber:

- a subscription request (``hub.mode``, ``hub.callback``, ``hub.topic``, ``hub.secret``, ``hub.lease_seconds``)
  is checked, answered 202 Accepted, and verified afterwards: a GET to the callback with ``hub.mode``,
  ``hub.topic``, ``hub.challenge`` and (subscribe only) ``hub.lease_seconds``. Only a 2xx answer that echoes the
  challenge verifies it; then the subscription exists (subscribe, with its secret and lease) or is gone
  (unsubscribe). A 404 is the subscriber's definite "no"; anything else (no answer in time, a 5xx, a wrong echo) is
  a temporary failure, retried with a growing delay (``retry_delays``, 1, 2, 4 and 8 s by default), as PubSubHubbub
  0.3 (section 6.2.1) asks of a hub that verifies asynchronously: a callback behind a cold Lambda may need longer
  than one attempt's timeout the first time. When the retries are spent the verification is abandoned. A failed
  verification changes nothing: a renewal that fails leaves the current lease running;
- :meth:`Hub.deny` tells a subscriber its subscription is refused (``hub.mode=denied``, section 5.2);
- :meth:`Hub.publish` delivers a feed to every verified subscriber of its topic whose lease has not ended, signed
  with that subscriber's secret (``X-Hub-Signature: sha1=<HMAC of the raw body>``, as YouTube's hub signs);
- a lease that has ended ends the subscription: nothing more is delivered until the subscriber renews.

``verification`` picks when the GET happens: ``async`` (after answering 202, like YouTube's hub), ``sync`` (before
answering: 204 when verified, 409 when not, like hubs of PubSubHubbub 0.3), or ``manual`` (recorded only; a test
calls :meth:`Hub.verify_intent` itself). Only the standard library: the Docker sandbox runs this on a bare Python
image.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

log = logging.getLogger("dev.hub")

DEFAULT_LEASE_SECONDS = 432000  # what YouTube's hub grants: five days
MAX_SECRET_BYTES = 199  # the spec: "the secret MUST be less than 200 bytes"
SIGNATURE_ALGORITHM = "sha1"  # YouTube's hub signs with sha1 (the spec also allows sha256/384/512)
CALLBACK_TIMEOUT = 10.0  # seconds a subscriber's callback may take to answer
MAX_ANSWER_CHARS = 64 * 1024  # of a subscriber's answer to a delivery, passed back to the publisher
KEPT_REQUESTS = 200  # the most recent subscription requests kept for inspection
VERIFICATIONS = ("async", "sync", "manual")
#: Seconds before each retry of an asynchronous verification that failed for now (not a 404).
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)


class Answer(NamedTuple):
    """A subscriber's answer to one HTTP request; ``status`` None when there was none (refused, timed out)."""

    status: int | None
    body: str
    error: str = ""
    headers: Mapping[str, str] = {}  # the subscriber's response headers, lower-case names (e.g. its request id)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        return f"HTTP {self.status} {self.body[:200]!r}"


Get = Callable[[str, Mapping[str, str]], Answer]
Post = Callable[[str, bytes, Mapping[str, str]], Answer]


class BadRequest(ValueError):
    """A subscription request the hub refuses outright (400); the message says which parameter is wrong."""


@dataclass
class SubscriptionRequest:
    """One subscribe or unsubscribe request as received (``form``), and what became of it."""

    form: dict[str, str]
    received_at: float
    state: str = "pending"  # pending, verified, failed (the callback did not confirm), refused (not verified at all)
    detail: str = ""
    attempts: int = 0  # verification GETs sent
    challenge: str = ""
    answer: Answer | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def mode(self) -> str:
        return self.form.get("hub.mode", "")

    @property
    def topic(self) -> str:
        return self.form.get("hub.topic", "")

    @property
    def callback(self) -> str:
        return self.form.get("hub.callback", "")

    @property
    def verified(self) -> bool:
        return self.state == "verified"

    def to_dict(self) -> dict[str, Any]:
        """What ``GET /requests`` shows: never the secret."""
        return {
            "mode": self.mode,
            "topic": self.topic,
            "callback": self.callback,
            "lease_seconds": self.form.get("hub.lease_seconds"),
            "received_at": _iso(self.received_at),
            "state": self.state,
            "detail": self.detail,
            "attempts": self.attempts,
        }


@dataclass
class Subscription:
    """A verified subscription: where to deliver, the secret to sign with, and until when."""

    topic: str
    callback: str
    secret: str
    lease_seconds: int
    verified_at: float

    @property
    def expires_at(self) -> float:
        return self.verified_at + self.lease_seconds

    def to_dict(self) -> dict[str, Any]:
        """What ``GET /subscriptions`` shows: whether deliveries are signed, never the secret."""
        return {
            "topic": self.topic,
            "callback": self.callback,
            "lease_seconds": self.lease_seconds,
            "verified_at": _iso(self.verified_at),
            "expires_at": _iso(self.expires_at),
            "signed": bool(self.secret),
        }


@dataclass
class Delivery:
    """One notification delivered to one subscriber, and its answer."""

    callback: str
    answer: Answer

    def to_dict(self) -> dict[str, Any]:
        return {
            "callback": self.callback,
            "status": self.answer.status,
            "body": self.answer.body[:MAX_ANSWER_CHARS],
            "error": self.answer.error,
            "headers": dict(self.answer.headers),
        }


def _lower(response: Any) -> dict[str, str]:
    """A response's headers by lower-case name (the publisher reads e.g. the subscriber's request id from them)."""
    return {name.lower(): value for name, value in response.headers.items()}


def signature(body: bytes, secret: str, algorithm: str = SIGNATURE_ALGORITHM) -> str:
    """The ``X-Hub-Signature`` value for ``body``: ``sha1=<hex HMAC>`` (section 8)."""
    return f"{algorithm}={hmac.new(secret.encode('utf-8'), body, getattr(hashlib, algorithm)).hexdigest()}"


class Http:
    """The hub's outgoing HTTP: verification GETs and deliveries. Never through a proxy: callbacks are local."""

    def __init__(self, timeout: float = CALLBACK_TIMEOUT) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, url: str, params: Mapping[str, str]) -> Answer:
        separator = "&" if urllib.parse.urlsplit(url).query else "?"
        return self._send(urllib.request.Request(url + separator + urllib.parse.urlencode(params)))

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        return self._send(urllib.request.Request(url, data=body, headers=dict(headers), method="POST"))

    def _send(self, request: urllib.request.Request) -> Answer:
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Answer(response.status, response.read().decode("utf-8", errors="replace"), "", _lower(response))
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read().decode("utf-8", errors="replace"), "", _lower(exc))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return Answer(None, "", str(getattr(exc, "reason", exc)))


class Hub:
    """A WebSub hub's subscriptions and the three things it does with them: verify, deny, deliver.

    ``clock`` (seconds since the epoch) is what leases are measured with; ``http`` does the outgoing requests.
    ``refuse_with``, when set, answers every subscription request with that status and verifies nothing: a hub
    that is down (503) or refuses (400), for rehearsing the subscriber's error path.
    """

    def __init__(
        self,
        verification: str = "async",
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        http: Http | None = None,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        if verification not in VERIFICATIONS:
            raise ValueError(f"verification must be one of {', '.join(VERIFICATIONS)}, not {verification!r}")
        if lease_seconds < 1:
            raise ValueError(f"lease_seconds must be at least 1, not {lease_seconds}")
        self.verification = verification
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.http = http or Http()
        self.retry_delays = tuple(retry_delays)
        self.refuse_with: int | None = None
        self.requests: list[SubscriptionRequest] = []
        self._subscriptions: dict[tuple[str, str], Subscription] = {}
        self._lock = threading.Lock()

    # -- subscribers' requests -----------------------------------------------------------------------------------
    def receive(self, form: Mapping[str, str]) -> tuple[int, str]:
        """A subscriber's ``POST`` (the form fields); the HTTP status and body to answer with."""
        record = SubscriptionRequest(dict(form), self.clock())
        self._remember(record)
        if self.refuse_with is not None:
            self._finish(record, "refused", f"the hub is set to answer {self.refuse_with}")
            return self.refuse_with, "refused (rehearsal of a hub that says no)"
        try:
            check_request(record.form)
        except BadRequest as exc:
            self._finish(record, "refused", str(exc))
            return 400, str(exc)
        log.info("%s %s for %s: accepted", record.mode, record.topic, record.callback)
        if self.verification == "sync":
            self.verify_intent(record)
            return (204, "") if record.verified else (409, record.detail)
        if self.verification == "async":
            threading.Thread(target=self.verify_intent, args=(record,), name="hub-verify", daemon=True).start()
        return 202, ""

    def verify_intent(self, record: SubscriptionRequest, get: Get | None = None) -> SubscriptionRequest:
        """The verification GET to the callback (section 5.3); on success, the subscription starts or ends.

        Asynchronous verification retries a temporary failure after each of ``retry_delays``; a 404 ends it at once.
        ``get`` replaces the HTTP GET (a test can answer through a Flask test client instead).
        """
        delays = list(self.retry_delays) if self.verification == "async" else []
        while True:
            answer = self._attempt(record, get or self.http.get)
            if answer.ok and answer.body == record.challenge:
                self._confirm(record)
                return record
            if not answer.ok:
                why = f"the callback gave {answer.describe()}"
            else:
                why = f"the callback answered {answer.status} without echoing hub.challenge"
            if answer.status == 404 or not delays:
                tries = f" after {record.attempts} attempts" if record.attempts > 1 else ""
                self._finish(record, "failed", f"{why}{tries}; nothing changed")
                return record
            delay = delays.pop(0)
            record.detail = f"attempt {record.attempts}: {why}; retrying in {delay:g} s"
            log.info("%s %s for %s: %s", record.mode, record.topic, record.callback, record.detail)
            time.sleep(delay)

    def _attempt(self, record: SubscriptionRequest, get: Get) -> Answer:
        """One verification GET, with a fresh challenge."""
        record.challenge = secrets.token_urlsafe(24)
        record.attempts += 1
        params = {"hub.mode": record.mode, "hub.topic": record.topic, "hub.challenge": record.challenge}
        if record.mode == "subscribe":
            params["hub.lease_seconds"] = str(self.granted_lease(record.form.get("hub.lease_seconds")))
        record.answer = get(record.callback, params)
        return record.answer

    def _confirm(self, record: SubscriptionRequest) -> None:
        """The callback confirmed: the subscription starts (with its secret and lease) or ends."""
        lease = self.granted_lease(record.form.get("hub.lease_seconds"))
        with self._lock:
            key = (record.topic, record.callback)
            if record.mode == "subscribe":
                secret = record.form.get("hub.secret", "")
                self._subscriptions[key] = Subscription(record.topic, record.callback, secret, lease, self.clock())
            else:
                self._subscriptions.pop(key, None)
        self._finish(record, "verified", f"lease {lease} s" if record.mode == "subscribe" else "unsubscribed")

    def granted_lease(self, requested: str | None) -> int:
        """The lease the hub grants: what was asked, at most ``lease_seconds``; ``lease_seconds`` when not asked."""
        try:
            asked = int(requested) if requested else self.lease_seconds
        except ValueError:
            asked = self.lease_seconds
        return min(max(asked, 1), self.lease_seconds)

    def deny(self, topic: str, callback: str, reason: str = "") -> Answer:
        """Refuse a subscription (section 5.2): it ends here, and the callback gets ``hub.mode=denied``."""
        with self._lock:
            self._subscriptions.pop((topic, callback), None)
        params = {"hub.mode": "denied", "hub.topic": topic}
        if reason:
            params["hub.reason"] = reason
        answer = self.http.get(callback, params)
        log.info("denied %s for %s (%s): %s", topic, callback, reason or "no reason given", answer.describe())
        return answer

    # -- publishing ----------------------------------------------------------------------------------------------
    def subscriptions(self, topic: str | None = None) -> list[Subscription]:
        """The live subscriptions (of ``topic``); those whose lease has ended are dropped first."""
        now = self.clock()
        with self._lock:
            for key, subscription in list(self._subscriptions.items()):
                if subscription.expires_at <= now:
                    del self._subscriptions[key]
                    log.info("lease ended: %s for %s", subscription.topic, subscription.callback)
            return [s for s in self._subscriptions.values() if topic is None or s.topic == topic]

    def publish(self, topic: str, body: bytes, content_type: str = "application/atom+xml") -> list[Delivery]:
        """Deliver ``body`` to every live subscriber of ``topic`` (section 7), signed with each one's secret.

        A subscriber that answers 410 Gone is dropped, as the spec allows.
        """
        deliveries = []
        for subscription in self.subscriptions(topic):
            headers = {"Content-Type": content_type, "Link": f'<{topic}>; rel="self"'}
            if subscription.secret:
                headers["X-Hub-Signature"] = signature(body, subscription.secret)
            answer = self.http.post(subscription.callback, body, headers)
            deliveries.append(Delivery(subscription.callback, answer))
            log.info("delivered %d bytes of %s to %s: %s", len(body), topic, subscription.callback, answer.describe())
            if answer.status == 410:
                with self._lock:
                    self._subscriptions.pop((topic, subscription.callback), None)
        return deliveries

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def _remember(self, record: SubscriptionRequest) -> None:
        with self._lock:
            self.requests.append(record)
            del self.requests[:-KEPT_REQUESTS]

    def _finish(self, record: SubscriptionRequest, state: str, detail: str) -> None:
        record.state, record.detail = state, detail
        record.done.set()
        log.info("%s %s for %s: %s (%s)", record.mode, record.topic, record.callback, state, detail)


def check_request(form: Mapping[str, str]) -> None:
    """Raise :class:`BadRequest` unless ``form`` is a subscription request a hub can act on (section 5.1)."""
    mode = form.get("hub.mode", "")
    if mode not in ("subscribe", "unsubscribe"):
        raise BadRequest(f"hub.mode must be subscribe or unsubscribe, not {mode[:40]!r}")
    for name in ("hub.callback", "hub.topic"):
        parts = urllib.parse.urlsplit(form.get(name, ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequest(f"{name} must be an absolute http(s) URL, not {form.get(name, '')[:200]!r}")
    if len(form.get("hub.secret", "").encode("utf-8")) > MAX_SECRET_BYTES:
        raise BadRequest(f"hub.secret must be shorter than {MAX_SECRET_BYTES + 1} bytes")
    lease = form.get("hub.lease_seconds")
    if lease is not None and not lease.strip().isdigit():
        raise BadRequest(f"hub.lease_seconds must be a whole number of seconds, not {lease[:40]!r}")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")

"""The local WebSub hub (dev/hub) against a subscriber that is a real HTTP server on 127.0.0.1.

The subscriber records every request and answers as the test says: echo the challenge, refuse, echo something
else. The hub's clock is the test's, so leases end when the test says. The signatures are checked with ``hmac``
here, not with the hub's own helper.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dev.hub import Hub, HubClient, RunningHub, serve
from dev.hub.hub import Http
from dev.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCtopic000000000000000001"
FEED = b'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>'


@dataclass
class Seen:
    method: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Subscriber:
    """A WebSub subscriber's callback: ``answer(seen) -> (status, body)`` decides; default: echo the challenge."""

    server: ThreadingHTTPServer
    seen: list[Seen] = field(default_factory=list)
    answer: Callable[[Seen], tuple[int, str]] = lambda seen: (200, seen.query.get("hub.challenge", ""))

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/websub/UCtopic000000000000000001"

    def verifications(self) -> list[dict[str, str]]:
        return [seen.query for seen in self.seen if seen.method == "GET"]

    def deliveries(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == "POST"]


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    record: list[Subscriber] = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self, method: str) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query, keep_blank_values=True))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = Seen(method, query, {k.lower(): v for k, v in self.headers.items()}, body)
            record[0].seen.append(seen)
            status, text = record[0].answer(seen)
            data = text.encode()
            self.send_response(status)
            self.send_header("X-Request-Id", f"answer-{len(record[0].seen)}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    record.append(Subscriber(server))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield record[0]
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


RETRIES = (0.01, 0.01)  # two retries, at once: what is under test is whether and when the hub retries, not how long


@pytest.fixture
def running(clock: Clock) -> Iterator[RunningHub]:
    with serve(Hub(verification="async", lease_seconds=3600, clock=clock, retry_delays=RETRIES)) as hub:
        yield hub


def post_form(url: str, fields: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def subscribe(running: RunningHub, callback: str, secret: str = "s3cret", **extra: str) -> tuple[int, str]:
    fields = {"hub.mode": "subscribe", "hub.callback": callback, "hub.topic": TOPIC, "hub.secret": secret}
    fields.update({f"hub.{key}": value for key, value in extra.items()})
    return post_form(running.url, fields)


def settled(running: RunningHub) -> dict:
    """The latest request once the hub has verified it or given up (waits on the request itself)."""
    record = running.hub.requests[-1]
    assert record.done.wait(30), "the hub never finished verifying"
    return record.to_dict()


def test_subscribe_is_accepted_then_verified_through_the_callback(running, subscriber, clock) -> None:
    assert subscribe(running, subscriber.callback, lease_seconds="600") == (202, "")
    assert settled(running)["state"] == "verified"
    [query] = subscriber.verifications()
    assert query["hub.mode"] == "subscribe" and query["hub.topic"] == TOPIC
    assert query["hub.lease_seconds"] == "600" and len(query["hub.challenge"]) >= 16
    [listed] = HubClient(running.base_url).subscriptions(TOPIC)
    assert listed["callback"] == subscriber.callback and listed["lease_seconds"] == 600
    assert listed["signed"] is True and "s3cret" not in json.dumps(listed)


@pytest.mark.parametrize(
    ("answer", "detail", "attempts"),
    [
        (lambda seen: (404, ""), "HTTP 404", 1),  # the subscriber's definite no: never retried
        (lambda seen: (200, "not the challenge"), "without echoing hub.challenge", 3),
        (lambda seen: (500, seen.query.get("hub.challenge", "")), "HTTP 500", 3),
    ],
)
def test_a_callback_that_does_not_confirm_creates_nothing(running, subscriber, answer, detail, attempts) -> None:
    subscriber.answer = answer
    subscribe(running, subscriber.callback)
    outcome = settled(running)
    assert outcome["state"] == "failed" and detail in outcome["detail"], outcome
    assert outcome["attempts"] == attempts == len(subscriber.verifications()), outcome
    assert running.hub.subscriptions() == []
    assert running.hub.publish(TOPIC, FEED) == [] and subscriber.deliveries() == []


def test_an_unreachable_callback_fails_after_the_retries_and_says_so(running) -> None:
    subscribe(running, f"http://127.0.0.1:{free_port()}/websub/x")
    outcome = settled(running)
    assert outcome["state"] == "failed" and "no answer" in outcome["detail"], outcome
    assert outcome["attempts"] == 1 + len(RETRIES) and "after 3 attempts" in outcome["detail"], outcome


def test_a_temporary_failure_is_retried_until_the_callback_confirms(running, subscriber) -> None:
    """A cold Lambda behind the callback: the first verification gets a 503 (or times out), the retry gets the echo,
    with its own fresh challenge."""
    subscriber.answer = lambda seen: (
        (503, "warming up") if len(subscriber.verifications()) == 1 else (200, seen.query["hub.challenge"])
    )
    subscribe(running, subscriber.callback)
    outcome = settled(running)
    assert outcome["state"] == "verified" and outcome["attempts"] == 2, outcome
    first, second = subscriber.verifications()
    assert first["hub.challenge"] != second["hub.challenge"]
    [listed] = HubClient(running.base_url).subscriptions(TOPIC)
    assert listed["callback"] == subscriber.callback


def test_a_slow_first_answer_is_retried_once_the_callback_answers_in_time(clock, subscriber) -> None:
    """The first GET runs into the hub's callback timeout (the subscriber holds it until released); the retry is
    answered at once. Nothing here depends on how fast the machine is: the first answer waits for an Event."""
    release = threading.Event()

    def answer(seen: Seen) -> tuple[int, str]:
        if len(subscriber.verifications()) == 1:
            release.wait(30)
        return 200, seen.query["hub.challenge"]

    subscriber.answer = answer
    hub = Hub(verification="async", clock=clock, http=Http(timeout=0.5), retry_delays=RETRIES)
    try:
        with serve(hub) as running:
            subscribe(running, subscriber.callback)
            outcome = settled(running)
    finally:
        release.set()
    assert outcome["state"] == "verified" and outcome["attempts"] == 2, outcome


def test_a_failed_renewal_leaves_the_current_lease_running(running, subscriber, clock) -> None:
    subscribe(running, subscriber.callback)
    settled(running)
    subscriber.answer = lambda seen: (404, "")
    clock.now += 600
    subscribe(running, subscriber.callback, secret="another")
    assert settled(running)["state"] == "failed"
    [current] = running.hub.subscriptions()
    assert current.secret == "s3cret" and current.expires_at == clock.now - 600 + 3600


def test_the_hub_grants_at_most_its_own_lease_and_a_default_when_none_is_asked(running, subscriber) -> None:
    subscribe(running, subscriber.callback, lease_seconds="999999")
    settled(running)
    subscribe(running, subscriber.callback)
    settled(running)
    assert [query["hub.lease_seconds"] for query in subscriber.verifications()] == ["3600", "3600"]


def test_deliveries_are_signed_with_each_subscribers_secret(running, subscriber) -> None:
    subscribe(running, subscriber.callback, secret="per-topic-secret")
    settled(running)
    [delivery] = running.hub.publish(TOPIC, FEED)
    assert delivery.answer.status == 200
    [seen] = subscriber.deliveries()
    assert seen.body == FEED  # byte for byte: the signature covers the raw body
    expected = "sha1=" + hmac.new(b"per-topic-secret", FEED, hashlib.sha1).hexdigest()
    assert seen.headers["x-hub-signature"] == expected
    assert seen.headers["content-type"] == "application/atom+xml"
    assert f"<{TOPIC}>" in seen.headers["link"]


def test_a_subscription_without_a_secret_gets_unsigned_deliveries(running, subscriber) -> None:
    subscribe(running, subscriber.callback, secret="")
    settled(running)
    running.hub.publish(TOPIC, FEED)
    [seen] = subscriber.deliveries()
    assert "x-hub-signature" not in seen.headers


def test_publish_over_http_reports_each_delivery(running, subscriber) -> None:
    subscriber.answer = lambda seen: (200, seen.query.get("hub.challenge") or "stored")
    subscribe(running, subscriber.callback)
    settled(running)
    deliveries = HubClient(running.base_url).publish(TOPIC, FEED)
    headers = deliveries[0].pop("headers")
    assert deliveries == [{"callback": subscriber.callback, "status": 200, "body": "stored", "error": ""}]
    # The subscriber's own headers come back with its answer (the deploy rehearsal reads its request id there).
    assert headers["x-request-id"] == f"answer-{len(subscriber.seen)}"
    assert HubClient(running.base_url).publish("https://example.com/other-topic", FEED) == []


def test_unsubscribe_is_verified_then_nothing_more_is_delivered(running, subscriber) -> None:
    subscribe(running, subscriber.callback)
    settled(running)
    fields = {"hub.mode": "unsubscribe", "hub.callback": subscriber.callback, "hub.topic": TOPIC}
    assert post_form(running.url, fields)[0] == 202
    assert settled(running)["state"] == "verified"
    assert subscriber.verifications()[-1]["hub.mode"] == "unsubscribe"
    assert "hub.lease_seconds" not in subscriber.verifications()[-1]
    assert running.hub.subscriptions() == [] and running.hub.publish(TOPIC, FEED) == []


def test_an_unsubscribe_the_subscriber_disowns_keeps_the_subscription(running, subscriber) -> None:
    subscribe(running, subscriber.callback)
    settled(running)
    subscriber.answer = lambda seen: (404, "")
    post_form(running.url, {"hub.mode": "unsubscribe", "hub.callback": subscriber.callback, "hub.topic": TOPIC})
    assert settled(running)["state"] == "failed"
    assert len(running.hub.subscriptions()) == 1


def test_a_lease_that_has_ended_ends_the_subscription(running, subscriber, clock) -> None:
    subscribe(running, subscriber.callback, lease_seconds="60")
    settled(running)
    clock.now += 59
    assert len(running.hub.publish(TOPIC, FEED)) == 1
    clock.now += 1
    assert running.hub.publish(TOPIC, FEED) == [] and running.hub.subscriptions() == []
    assert len(subscriber.deliveries()) == 1
    subscribe(running, subscriber.callback)  # renewing starts it again
    settled(running)
    assert len(running.hub.publish(TOPIC, FEED)) == 1


def test_deny_tells_the_subscriber_and_ends_the_subscription(running, subscriber) -> None:
    subscribe(running, subscriber.callback)
    settled(running)
    answer = HubClient(running.base_url).deny(TOPIC, subscriber.callback, "channel is private")
    assert answer["status"] == 200
    denial = subscriber.verifications()[-1]
    assert denial == {"hub.mode": "denied", "hub.topic": TOPIC, "hub.reason": "channel is private"}
    assert running.hub.subscriptions() == []


def test_a_subscriber_that_answers_410_is_dropped(running, subscriber) -> None:
    subscribe(running, subscriber.callback)
    settled(running)
    subscriber.answer = lambda seen: (410, "gone")
    [delivery] = running.hub.publish(TOPIC, FEED)
    assert delivery.answer.status == 410
    assert running.hub.subscriptions() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hub.mode": "publish"}, "hub.mode must be subscribe or unsubscribe"),
        ({"hub.callback": "/relative"}, "hub.callback must be an absolute http(s) URL"),
        ({"hub.topic": ""}, "hub.topic must be an absolute http(s) URL"),
        ({"hub.secret": "x" * 200}, "hub.secret must be shorter than 200 bytes"),
        ({"hub.lease_seconds": "five days"}, "hub.lease_seconds must be a whole number"),
    ],
)
def test_bad_requests_are_refused_with_the_reason_and_never_verified(running, subscriber, fields, message) -> None:
    form = {"hub.mode": "subscribe", "hub.callback": subscriber.callback, "hub.topic": TOPIC, **fields}
    status, text = post_form(running.url, form)
    assert (status, message in text) == (400, True), text
    assert running.hub.requests[-1].state == "refused" and subscriber.seen == []


def test_sync_verification_answers_after_verifying(clock, subscriber) -> None:
    with serve(Hub(verification="sync", clock=clock)) as running:
        assert subscribe(running, subscriber.callback) == (204, "")
        assert running.hub.requests[-1].verified and len(running.hub.subscriptions()) == 1
        subscriber.answer = lambda seen: (404, "")
        status, text = subscribe(running, subscriber.callback)
        assert status == 409 and "HTTP 404" in text


def test_the_http_surface_says_what_is_wrong(running) -> None:
    client = HubClient(running.base_url)
    assert client.health()["status"] == "ok"
    request = urllib.request.Request(running.base_url + "/publish", data=FEED, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400 and b"hub.topic" in caught.value.read()
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(running.base_url + "/nowhere", timeout=30)
    assert caught.value.code == 404


def test_the_cli_serves_and_publishes(tmp_path, subscriber) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dev.hub", "serve", "--port", str(port), "--verification", "sync"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/hub" in banner, banner
        hub_url = f"http://127.0.0.1:{port}"
        fields = {"hub.mode": "subscribe", "hub.callback": subscriber.callback, "hub.topic": TOPIC, "hub.secret": "k"}
        assert post_form(hub_url + "/hub", fields)[0] == 204
        feed = tmp_path / "feed.xml"
        feed.write_bytes(FEED)

        def cli(*args: str) -> subprocess.CompletedProcess:
            argv = [sys.executable, "-m", "dev.hub", *args, "--hub", hub_url]
            return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)

        published = cli("publish", "--topic", TOPIC, str(feed))
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout)[0]["status"] == 200
        assert subscriber.deliveries()[0].body == FEED
        nobody = cli("publish", "--topic", "https://example.com/nobody", str(feed))
        assert nobody.returncode == 1 and "no verified subscriber" in nobody.stderr
        listed = cli("subscriptions")
        assert json.loads(listed.stdout)[0]["topic"] == TOPIC
        taken = subprocess.run(
            [sys.executable, "-m", "dev.hub", "serve", "--port", str(port)], cwd=ROOT, capture_output=True, text=True
        )
        assert taken.returncode == 2 and "is another hub running?" in taken.stderr
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0  # SIGTERM is a clean stop
        server.stdout.close()

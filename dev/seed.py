"""Fill a running app with sample channels and videos through its real HTTP front, the way YouTube would.

    DATABASE_URL=... WEBSUB_SECRET=... python -m dev.seed --base-url http://127.0.0.1:8000 [--channels 3 --videos 5]

Nothing is written behind the app's back except what ``subscriptions.subscribe()`` itself writes:

1. ``GET /health`` must answer 200;
2. for each channel, ``subscribe()`` runs in this process against a fake hub started here on 127.0.0.1 (the
   database is the one in ``DATABASE_URL``, the same one the server uses); the fake hub does what the real hub
   does and calls the server's verification ``GET /websub/<channel>`` with a challenge, so the subscription
   becomes ACTIVE through the app's own verification flow;
3. for each channel, one notification with ``--videos`` entries is POSTed to ``/websub/<channel>``, signed with
   the per-topic secret derived from ``WEBSUB_SECRET`` (the server must run with the same one);
4. ``GET /channels/<channel>/videos`` must list them.

Every step is printed; any failure exits 1 with what to check. Running it twice is harmless (same ids, upserts).
``FakeHub`` is also what the tests use as a hub.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

LEASE_SECONDS = 432000
SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class HubRequest:
    """One subscribe/unsubscribe request the fake hub received, and its verification outcome (if it verified)."""

    form: dict[str, str]
    verification_status: int | None = None
    verification_body: str | None = None
    challenge: str | None = None

    @property
    def verified(self) -> bool:
        return self.verification_status == 200 and self.verification_body == self.challenge


@dataclass
class FakeHub:
    """A WebSub hub on 127.0.0.1: records requests, answers ``status``, optionally verifies intent first.

    With ``verify=True`` it calls ``hub.callback`` (GET, with a challenge) *before* answering, as a hub in
    synchronous mode would: that proves the subscriber committed its row before asking.
    """

    status: int = 202
    verify: bool = False
    lease_seconds: int = LEASE_SECONDS
    requests: list[HubRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeHub.start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/subscribe"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                form = {key: values[-1] for key, values in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
                record = HubRequest(form=form)
                hub.requests.append(record)
                if hub.verify and form.get("hub.mode") in ("subscribe", "unsubscribe"):
                    hub.verify_intent(record)
                body = b"" if hub.status < 400 else b"hub says no"
                self.send_response(hub.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet in tests and in the seed's output
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def verify_intent(self, record: HubRequest, get: Any = None) -> HubRequest:
        """Send the verification GET for ``record``; ``get(url, params)`` defaults to a real HTTP request."""
        form = record.form
        record.challenge = secrets.token_urlsafe(16)
        params = {"hub.mode": form["hub.mode"], "hub.topic": form["hub.topic"], "hub.challenge": record.challenge}
        if form["hub.mode"] == "subscribe":
            params["hub.lease_seconds"] = str(self.lease_seconds)
        if get is None:
            response = requests.get(form["hub.callback"], params=params, timeout=10)
            record.verification_status, record.verification_body = response.status_code, response.text
        else:
            record.verification_status, record.verification_body = get(form["hub.callback"], params)
        return record


class SeedError(RuntimeError):
    pass


def channel_ids(count: int) -> list[str]:
    """Deterministic, YouTube-shaped (24 characters, UC...) ids, so re-running updates instead of adding."""
    return [f"UCseed{index:018d}" for index in range(1, count + 1)]


def seed(base_url: str, database_url: str, master_secret: str, channels: int, videos: int) -> dict:
    """Run the four steps; return a summary; raise SeedError with what to check on any failure."""
    from yt_pubsub_handler import create_app, subscriptions
    from yt_pubsub_handler.extensions import db
    from yt_pubsub_handler.feed_samples import SampleVideo, build_notification, signed_headers

    base_url = base_url.rstrip("/")
    http = requests.Session()
    try:
        health = http.get(f"{base_url}/health", timeout=10)
    except requests.RequestException as exc:
        raise SeedError(f"cannot reach {base_url}/health ({exc}): start the app first (e.g. `make up`)") from None
    if health.status_code != 200:
        raise SeedError(f"{base_url}/health answered {health.status_code}: {health.text[:200]}")
    print(f"health: {base_url} is up and its database answers")

    summary: dict[str, Any] = {"base_url": base_url, "channels": []}
    with FakeHub(verify=True) as hub:
        app = create_app(
            {
                "DATABASE_URL": database_url,
                "WEBSUB_HUB_URL": hub.url,
                "WEBSUB_CALLBACK_URL": f"{base_url}/websub",
                "WEBSUB_SECRET": master_secret,
            }
        )
        try:
            with app.app_context():
                for channel_id in channel_ids(channels):
                    state = subscriptions.subscribe(channel_id)["state"]
                    record = hub.requests[-1]
                    if not record.verified or state != "active":
                        raise SeedError(
                            f"subscribing {channel_id}: the server answered the verification GET with "
                            f"{record.verification_status} and the subscription is {state!r}. Check that the server "
                            "uses the same DATABASE_URL as this script"
                        )
                    print(f"subscribed: {channel_id} verified through {base_url}/websub/{channel_id} -> {state}")
        finally:
            with app.app_context():
                db.engine.dispose()

    published = SEED_EPOCH  # fixed, so a second run is a replay the app recognises (0 upserted)
    for number, channel_id in enumerate(channel_ids(channels), start=1):
        samples = [
            SampleVideo(
                video_id=f"sd{number:02d}v{index:07d}",
                channel_id=channel_id,
                title=f"Seed video {index} of channel {number}",
                author=f"Seed channel {number}",
                published=published + timedelta(minutes=index),
            )
            for index in range(1, videos + 1)
        ]
        body = build_notification(samples, feed_channel_id=channel_id)
        response = http.post(
            f"{base_url}/websub/{channel_id}", data=body, headers=signed_headers(body, master_secret, channel_id)
        )
        if response.status_code == 202:
            raise SeedError(
                f"notification for {channel_id} was ignored (bad signature): run the server with the same "
                "WEBSUB_SECRET as this script"
            )
        if response.status_code != 200:
            raise SeedError(f"notification for {channel_id}: {response.status_code} {response.text[:300]}")
        result = response.json()
        print(
            f"notified: {channel_id}: {len(result['upserted'])} upserted, {len(result['unchanged'])} unchanged "
            f"({len(body)} bytes, signed)"
        )
        listed = http.get(f"{base_url}/channels/{channel_id}/videos", params={"limit": 200}, timeout=10)
        listed_ids = {video["id"] for video in listed.json().get("videos", [])} if listed.ok else set()
        missing = sorted({sample.video_id for sample in samples} - listed_ids)
        if missing:
            raise SeedError(f"GET /channels/{channel_id}/videos ({listed.status_code}) lacks {missing[:5]}")
        print(f"listed: /channels/{channel_id}/videos shows all {videos} videos")
        summary["channels"].append({"id": channel_id, "videos": [s.video_id for s in samples]})
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the app serves HTTP")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--videos", type=int, default=5, help="videos per channel")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    parser.add_argument("--secret", default=os.environ.get("WEBSUB_SECRET"), help="default: $WEBSUB_SECRET")
    args = parser.parse_args(argv)
    if not args.database_url:
        print(
            "error: DATABASE_URL is not set: export the server's DATABASE_URL (`make status` prints it)",
            file=sys.stderr,
        )
        return 2
    if not args.secret:
        print("error: WEBSUB_SECRET is not set: export the same WEBSUB_SECRET the server runs with", file=sys.stderr)
        return 2
    if not (1 <= args.channels <= 100 and 1 <= args.videos <= 200):
        print("error: --channels must be 1..100 and --videos 1..200", file=sys.stderr)
        return 2
    try:
        summary = seed(args.base_url, args.database_url, args.secret, args.channels, args.videos)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a seed must say what broke, not dump a traceback at a newcomer
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    total = sum(len(channel["videos"]) for channel in summary["channels"])
    print(f"done: {len(summary['channels'])} channels, {total} videos seeded into {summary['base_url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

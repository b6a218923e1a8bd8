"""Fill a running sandbox with sample channels and videos the way production gets them: subscribe, then notify.

    python -m dev.seed [--channels 3 --videos 5] [--api-url URL --invoke-url URL --hub-url URL]

Nothing is written behind the app's back, and the seed holds no secret:

1. the API front (``GET /health``) and the local hub (``dev/hub``) must answer;
2. each channel is subscribed through the Lambda, as ``zappa invoke local 'run.subscribe_channel' --payload
   '{"channel_id": ...}'`` would do it (the Invoke API); the function asks the hub, the hub verifies through the
   API front's callback, and the seed waits for that verification;
3. each channel's feed (``--videos`` entries) is published to the hub, which delivers it to the callback signed
   with the secret the subscription gave it, as YouTube's hub does; the app's answer must say it stored them;
4. ``GET /channels/<channel>/videos`` must list them.

Every step is printed; any failure raises :class:`SeedError` (exit 1) with what to check. Running it twice is
harmless (same ids, upserts, renewed subscriptions). ``make seed`` runs it against the sandbox.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from dev.emulator.client import endpoint_for
from dev.emulator.settings import SettingsError, stage_config
from dev.function_call import FunctionCallError, call
from dev.hub import HubAnswerError, HubClient, HubUnreachable
from dev.hub.client import DEFAULT_URL

SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # fixed publication times, so a second run is a replay
SUBSCRIBE_FUNCTION = "run.subscribe_channel"
# The hub retries a verification the callback did not confirm in time (a cold API front under load): 5 attempts of
# up to 10 s each, 15 s apart in all (dev/hub/hub.py). Waiting longer than that only delays the error.
VERIFY_TIMEOUT = 120.0


class SeedError(RuntimeError):
    """Seeding stopped; the message says which step failed and what to check."""


@dataclass(frozen=True)
class Target:
    """The running app as the seed reaches it: its API front, its Invoke API and function, and its hub."""

    api_url: str
    invoke_url: str
    function_name: str
    hub_url: str


def channel_ids(count: int) -> list[str]:
    """Deterministic, YouTube-shaped (24 characters, UC...) ids, so re-running updates instead of adding."""
    return [f"UCseed{index:018d}" for index in range(1, count + 1)]


def check_services(target: Target, http: requests.Session) -> None:
    """The API front answers ``/health`` (so its database does) and the hub answers."""
    try:
        health = http.get(f"{target.api_url}/health", timeout=10)
    except requests.RequestException as exc:
        raise SeedError(f"cannot reach {target.api_url}/health ({exc}): start the app first (e.g. `make up`)") from None
    if health.status_code != 200:
        raise SeedError(f"{target.api_url}/health answered {health.status_code}: {health.text[:200]}")
    try:
        HubClient(target.hub_url, timeout=10).health()
    except (HubUnreachable, HubAnswerError) as exc:
        raise SeedError(f"{exc}: the seed subscribes through the local hub; start it with `make up`") from None
    print(f"health: {target.api_url} and the hub at {target.hub_url} are up")


def subscribe(target: Target, channel_id: str) -> dict[str, Any]:
    """``run.subscribe_channel`` through the Lambda, then the hub's verification of it; the subscription."""
    try:
        subscription = call(target.invoke_url, target.function_name, SUBSCRIBE_FUNCTION, {"channel_id": channel_id})
    except FunctionCallError as exc:
        hint = "\nThe schema is not there yet: `make invoke-upgrade` first." if "UndefinedTable" in str(exc) else ""
        raise SeedError(f"subscribing {channel_id}: {exc}{hint}") from None
    try:
        request = HubClient(target.hub_url).wait_verification(
            subscription["topic_url"], subscription["callback_url"], timeout=VERIFY_TIMEOUT
        )
    except (HubUnreachable, HubAnswerError) as exc:
        raise SeedError(f"subscribing {channel_id}: {exc}") from None
    if request["state"] != "verified":
        raise SeedError(
            f"subscribing {channel_id}: the hub could not verify it through {subscription['callback_url']}: "
            f"{request['detail']}. The function's callback URL must reach the API front (`make status`)"
        )
    retried = f" (on attempt {request['attempts']}: the hub retried)" if request.get("attempts", 1) > 1 else ""
    where = subscription["callback_url"]
    print(f"subscribed: {channel_id} through the Lambda, verified by the hub at {where}{retried}")
    return subscription


def sample_feed(number: int, channel_id: str, videos: int) -> tuple[bytes, list[str]]:
    """Channel ``number``'s feed of ``videos`` entries as YouTube's hub sends it, and the video ids in it."""
    from yt_pubsub_handler.feed_samples import SampleVideo, build_notification

    samples = [
        SampleVideo(
            video_id=f"sd{number:02d}v{index:07d}",
            channel_id=channel_id,
            title=f"Seed video {index} of channel {number}",
            author=f"Seed channel {number}",
            published=SEED_EPOCH + timedelta(minutes=index),
        )
        for index in range(1, videos + 1)
    ]
    return build_notification(samples, feed_channel_id=channel_id), [sample.video_id for sample in samples]


def notify(target: Target, subscription: dict[str, Any], feed: bytes) -> dict[str, Any]:
    """Publish ``feed`` to the subscription's topic through the hub; the app's answer to the delivery."""
    topic, callback = subscription["topic_url"], subscription["callback_url"]
    try:
        deliveries = HubClient(target.hub_url).publish(topic, feed)
    except (HubUnreachable, HubAnswerError) as exc:
        raise SeedError(f"publishing to {topic}: {exc}") from None
    mine = [delivery for delivery in deliveries if delivery["callback"] == callback]
    if not mine:
        raise SeedError(f"the hub delivered {topic} to {len(deliveries)} other subscriber(s) but not to {callback}")
    delivery = mine[0]
    if delivery["status"] == 202:
        raise SeedError(
            f"the app ignored the notification for {topic} (its signature did not verify): the hub signs with the "
            "secret the subscription gave it, so WEBSUB_SECRET must not change between subscribing and notifying"
        )
    if delivery["status"] != 200:
        raise SeedError(f"notification for {topic}: {delivery['status']} {delivery['error']} {delivery['body'][:300]}")
    try:
        return json.loads(delivery["body"])
    except ValueError:
        raise SeedError(
            f"notification for {topic}: the app answered 200 but not JSON: {delivery['body'][:300]!r}"
        ) from None


def check_listed(target: Target, http: requests.Session, channel_id: str, video_ids: list[str]) -> None:
    """``GET /channels/<channel>/videos`` lists every one of ``video_ids``."""
    listed = http.get(f"{target.api_url}/channels/{channel_id}/videos", params={"limit": 200}, timeout=10)
    found = {video["id"] for video in listed.json().get("videos", [])} if listed.ok else set()
    missing = sorted(set(video_ids) - found)
    if missing:
        raise SeedError(f"GET /channels/{channel_id}/videos ({listed.status_code}) lacks {missing[:5]}")


def seed(target: Target, channels: int, videos: int) -> dict[str, Any]:
    """The four steps for ``channels`` channels of ``videos`` videos; a summary of what was seeded."""
    summary: dict[str, Any] = {"api_url": target.api_url, "channels": []}
    with requests.Session() as http:
        check_services(target, http)
        subscriptions = [subscribe(target, channel_id) for channel_id in channel_ids(channels)]
        for number, subscription in enumerate(subscriptions, start=1):
            channel_id = subscription["channel_id"]
            feed, video_ids = sample_feed(number, channel_id, videos)
            stored = notify(target, subscription, feed)
            print(
                f"notified: {channel_id}: {len(stored['upserted'])} upserted, {len(stored['unchanged'])} unchanged "
                f"({len(feed)} bytes, delivered and signed by the hub)"
            )
            check_listed(target, http, channel_id, video_ids)
            print(f"listed: /channels/{channel_id}/videos shows all {videos} videos")
            summary["channels"].append({"id": channel_id, "videos": video_ids})
    return summary


def report(summary: dict[str, Any]) -> str:
    total = sum(len(channel["videos"]) for channel in summary["channels"])
    return f"done: {len(summary['channels'])} channels, {total} videos seeded into {summary['api_url']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--videos", type=int, default=5, help="videos per channel")
    parser.add_argument("--api-url", default="http://127.0.0.1:8000", help="the API front (HTTP to the app)")
    parser.add_argument("--invoke-url", help="the Invoke API (default: as `zappa invoke` finds it for the stage)")
    parser.add_argument("--hub-url", default=DEFAULT_URL, help=f"the local hub (default {DEFAULT_URL})")
    parser.add_argument("--stage", default="local")
    parser.add_argument("--settings", type=Path, default=Path("zappa_settings.json"))
    args = parser.parse_args(argv)
    if not (1 <= args.channels <= 100 and 1 <= args.videos <= 200):
        print("error: --channels must be 1..100 and --videos 1..200", file=sys.stderr)
        return 2
    try:
        config = stage_config(args.settings, args.stage)  # the function's name, and the stage's Invoke API
        target = Target(
            args.api_url.rstrip("/"), endpoint_for(config, args.invoke_url), config.function_name, args.hub_url
        )
        summary = seed(target, args.channels, args.videos)
    except (SeedError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a seed must say what broke, not dump a traceback at a newcomer
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(report(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

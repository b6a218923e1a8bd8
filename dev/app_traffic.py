"""This application's real traffic, for ``make rehearse-deploy``'s load generator (:mod:`dev.rehearse_deploy.traffic`).

What production gets, in about the proportions it gets it:

- reads: ``GET /channels``, and ``GET /channels/<id>/videos`` page by page, following ``next_cursor`` as a client
  scrolling a channel does;
- writes: YouTube's notifications, published through the local WebSub hub (``dev/hub``), which signs each one with
  the secret the subscription gave it and delivers it to the callback, as pubsubhubbub.appspot.com does;
- verification GETs: the hub's ``GET /websub/<id>?hub.mode=subscribe&hub.challenge=...`` when a lease is renewed.

``setup()`` subscribes a few channels the way production does it (``run.subscribe_channel`` through the Lambda,
verified by the hub through the API front) and publishes a first feed to each, so every later request has
something to read and a live subscription to write through. The calls cycle in a fixed, seeded order: two runs of
the same rehearsal send the same requests.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import httpx

from dev.hub import HubClient
from dev.rehearse_deploy.traffic import Call, Outcome, answered, received_at
from dev.seed import sample_feed

SUBSCRIBE_FUNCTION = "run.subscribe_channel"
CHANNELS = 3
PAGE_SIZE = 20
# Out of every 10 calls: 2 channel lists, 4 video pages, 3 notifications, 1 verification.
MIX = ("channels", "videos", "notify", "videos", "channels", "videos", "notify", "verify", "videos", "notify")

Invoke = Callable[[str, dict[str, Any]], Any]


class AppTraffic:
    """The profile: ``api_url`` is where production answers (the deploy's router), ``hub_url`` the local hub,
    ``invoke(function, payload)`` calls the live Lambda function (for subscribing)."""

    def __init__(self, api_url: str, hub_url: str, invoke: Invoke, channels: int = CHANNELS, seed: int = 0) -> None:
        self.api_url = api_url.rstrip("/")
        self.hub_url = hub_url.rstrip("/")
        self.invoke = invoke
        self.channel_ids = [f"UCdeploy{number:016d}" for number in range(1, channels + 1)]
        self.topics: dict[str, str] = {}
        self._mix = itertools.cycle(MIX)
        self._rng = random.Random(seed)
        self._cursors: dict[str, str | None] = {}
        self._published = itertools.count(1)

    # -- before the clock starts ---------------------------------------------------------------------------------
    def setup(self) -> None:
        hub = HubClient(self.hub_url, timeout=120)
        for channel_id in self.channel_ids:
            subscription = self.invoke(SUBSCRIBE_FUNCTION, {"channel_id": channel_id})
            request = hub.wait_verification(subscription["topic_url"], subscription["callback_url"], timeout=120)
            if request["state"] != "verified":
                raise RuntimeError(
                    f"the hub could not verify the subscription to {channel_id} through "
                    f"{subscription['callback_url']}: {request['detail']}"
                )
            self.topics[channel_id] = subscription["topic_url"]
            for delivery in hub.publish(subscription["topic_url"], self._feed(channel_id, videos=PAGE_SIZE * 2)):
                if delivery["status"] != 200:
                    raise RuntimeError(f"the first notification for {channel_id} was answered {delivery['status']}")

    # -- the calls -----------------------------------------------------------------------------------------------
    def next_call(self) -> Call:
        kind = next(self._mix)
        channel_id = self._rng.choice(self.channel_ids)
        if kind == "channels":
            return Call("GET /channels", self._get("/channels"))
        if kind == "videos":
            return Call("GET /channels/<id>/videos", self._videos(channel_id))
        if kind == "notify":
            return Call("POST /websub/<id> (via the hub)", self._notify(channel_id))
        return Call("GET /websub/<id> (verification)", self._verify(channel_id))

    def _get(self, path: str, params: dict[str, Any] | None = None):
        async def send(http: httpx.AsyncClient) -> Outcome:
            return answered(await http.get(self.api_url + path, params=params))

        return send

    def _videos(self, channel_id: str):
        async def send(http: httpx.AsyncClient) -> Outcome:
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            cursor = self._cursors.get(channel_id)
            if cursor:
                params["cursor"] = cursor
            response = await http.get(f"{self.api_url}/channels/{channel_id}/videos", params=params)
            if response.status_code == 200:
                self._cursors[channel_id] = response.json().get("next_cursor")  # None: back to the first page
            return answered(response)

        return send

    def _notify(self, channel_id: str):
        feed = self._feed(channel_id, videos=2)

        async def send(http: httpx.AsyncClient) -> Outcome:
            response = await http.post(
                f"{self.hub_url}/publish",
                params={"hub.topic": self.topics[channel_id]},
                content=feed,
                headers={"Content-Type": "application/atom+xml"},
            )
            if response.status_code != 200:
                return Outcome(None, None, f"the hub answered {response.status_code}: {response.text[:200]}")
            deliveries = response.json().get("deliveries", [])
            if not deliveries:
                return Outcome(None, None, "the hub delivered to no subscriber: the subscription is gone")
            delivery = deliveries[0]
            status, headers = delivery["status"], delivery.get("headers") or {}
            rid, received = headers.get("x-amzn-requestid"), received_at(headers)
            if status is None:
                return Outcome(None, rid, f"the hub got no answer from the callback: {delivery['error']}", received)
            error = f"HTTP {status}: {' '.join(delivery['body'].split())[:200]}" if status >= 500 else None
            return Outcome(status, rid, error, received)

        return send

    def _verify(self, channel_id: str):
        challenge = f"challenge-{self._rng.getrandbits(64):016x}"
        params = {
            "hub.mode": "subscribe",
            "hub.topic": self.topics[channel_id],
            "hub.challenge": challenge,
            "hub.lease_seconds": "432000",
        }

        async def send(http: httpx.AsyncClient) -> Outcome:
            response = await http.get(f"{self.api_url}/websub/{channel_id}", params=params)
            outcome = answered(response)
            if response.status_code == 200 and response.text != challenge:
                error = f"the challenge was not echoed: {response.text[:100]!r}"
                return Outcome(outcome.status, outcome.request_id, error, outcome.received_at)
            return outcome

        return send

    def _feed(self, channel_id: str, videos: int) -> bytes:
        """A notification of ``videos`` new videos (ids unique across the run), as ``make seed`` builds one."""
        return sample_feed(next(self._published), channel_id, videos)[0]


def profile(api_url: str, hub_url: str, invoke: Invoke) -> AppTraffic:
    """What ``--traffic dev.app_traffic`` loads: the rehearsal calls it with its router, hub and invoke."""
    return AppTraffic(api_url, hub_url, invoke)

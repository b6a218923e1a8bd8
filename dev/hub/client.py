"""The hub from a program's side: is it up, publish a feed, what is subscribed, wait for a verification.

``make seed`` and the tests use this; ``python -m dev.hub publish|subscriptions|deny`` is a thin CLI over it.
Only the standard library, never through a proxy (the hub is local).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:9999"


class HubUnreachable(ConnectionError):
    """Nothing answers at the hub's address: it is not running there."""


class HubAnswerError(RuntimeError):
    """The hub answered, but not with what was asked for; the message has its answer."""


class HubClient:
    """One local hub, by its base URL (``http://127.0.0.1:9999``; a URL ending in ``/hub`` is taken as well)."""

    def __init__(self, base_url: str = DEFAULT_URL, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/hub")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def subscriptions(self, topic: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/subscriptions", query={"hub.topic": topic} if topic else None)["subscriptions"]

    def requests(self, topic: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/requests", query={"hub.topic": topic} if topic else None)["requests"]

    def publish(self, topic: str, feed: bytes, content_type: str = "application/atom+xml") -> list[dict[str, Any]]:
        """Deliver ``feed`` to ``topic``'s subscribers; one ``{"callback", "status", "body", "error"}`` each."""
        answer = self._call("POST", "/publish", {"hub.topic": topic}, feed, {"Content-Type": content_type})
        return answer["deliveries"]

    def deny(self, topic: str, callback: str, reason: str = "") -> dict[str, Any]:
        form = urllib.parse.urlencode({"hub.topic": topic, "hub.callback": callback, "hub.reason": reason}).encode()
        return self._call("POST", "/deny", None, form, {"Content-Type": "application/x-www-form-urlencoded"})

    def wait_verification(self, topic: str, callback: str, timeout: float = 60.0) -> dict[str, Any]:
        """The latest request for ``topic`` and ``callback`` once the hub has verified it or given up; raises
        :class:`HubAnswerError` when there is none or it is still pending after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            mine = [r for r in self.requests(topic) if r["callback"] == callback]
            if mine and mine[-1]["state"] != "pending":
                return mine[-1]
            if time.monotonic() > deadline:
                state = f"still {mine[-1]['state']}" if mine else "never received"
                raise HubAnswerError(f"the request for {topic} from {callback} is {state} after {timeout:.0f} s")
            time.sleep(0.05)

    def _call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise HubAnswerError(f"the hub answered {exc.code} to {method} {path}: {exc.read()[:300]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise HubUnreachable(f"no hub answers at {self.base_url} ({getattr(exc, 'reason', exc)})") from None
        except ValueError as exc:
            raise HubAnswerError(f"{method} {path} at {self.base_url} did not answer JSON: {exc}") from None

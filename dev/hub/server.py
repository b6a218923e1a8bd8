"""The hub over HTTP: where subscribers and publishers reach a :class:`~.hub.Hub`.

    POST /hub              a subscription request (form-encoded hub.* fields): 202, or 400 saying what is wrong
                           (also at /subscribe, YouTube's path)
    POST /publish?hub.topic=URL
                           the body (an Atom feed) is delivered to the topic's verified subscribers; the answer
                           lists each delivery and the subscriber's answer (JSON)
    POST /deny             form hub.topic, hub.callback, hub.reason: the hub refuses that subscription
    GET  /subscriptions[?hub.topic=URL]   the live subscriptions (JSON; secrets never shown)
    GET  /requests[?hub.topic=URL]        recent subscription requests and what became of them (JSON)
    GET  /health           200 once the hub answers

Publishing takes the feed itself, not a topic URL to fetch (PubSubHubbub's ``hub.mode=publish``): a local hub
cannot fetch YouTube's feeds, and a rehearsal wants to choose the bytes.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dev.ports import LOOPBACK

from .hub import Hub

log = logging.getLogger("dev.hub")

HUB_PATH = "/hub"
SUBSCRIBE_PATHS = (HUB_PATH, "/subscribe", "/")
MAX_FORM_BYTES = 64 * 1024
MAX_FEED_BYTES = 8 * 1024 * 1024


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: Hub) -> None:
        super().__init__(address, HubHandler)
        self.hub = hub


class HubHandler(BaseHTTPRequestHandler):
    server: HubHTTPServer

    def do_GET(self) -> None:
        path, query = self._route()
        hub = self.server.hub
        topic = query.get("hub.topic")
        if path == "/health":
            self._json(200, {"status": "ok", "subscriptions": len(hub.subscriptions())})
        elif path == "/subscriptions":
            self._json(200, {"subscriptions": [s.to_dict() for s in hub.subscriptions(topic)]})
        elif path == "/requests":
            requests = [r.to_dict() for r in list(hub.requests) if topic is None or r.topic == topic]
            self._json(200, {"requests": requests})
        else:
            self._json(404, {"error": f"no such path {path}: see python -m dev.hub --help"})

    def do_POST(self) -> None:
        path, query = self._route()
        hub = self.server.hub
        if path in SUBSCRIBE_PATHS:
            form = self._form()
            if form is not None:
                status, message = hub.receive(form)
                self._text(status, message)
        elif path == "/publish":
            topic = query.get("hub.topic") or query.get("hub.url")
            body = self._body(MAX_FEED_BYTES)
            if not topic:
                self._json(400, {"error": "say which topic: POST /publish?hub.topic=URL with the feed as the body"})
            elif body is not None:
                kind = self.headers.get("Content-Type") or "application/atom+xml"
                deliveries = hub.publish(topic, body, kind)
                self._json(200, {"topic": topic, "deliveries": [d.to_dict() for d in deliveries]})
        elif path == "/deny":
            form = self._form()
            if form is not None:
                if not form.get("hub.topic") or not form.get("hub.callback"):
                    self._json(400, {"error": "hub.topic and hub.callback are needed"})
                else:
                    answer = hub.deny(form["hub.topic"], form["hub.callback"], form.get("hub.reason", ""))
                    self._json(200, {"callback": form["hub.callback"], "status": answer.status, "error": answer.error})
        else:
            self._json(404, {"error": f"no such path {path}: subscribe at {HUB_PATH}, publish at /publish"})

    # -- plumbing -----------------------------------------------------------------------------------------------
    def _route(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        return parts.path.rstrip("/") or "/", query

    def _body(self, limit: int) -> bytes | None:
        """The request body, or None after answering 411/413 (a body we cannot frame or will not hold)."""
        raw = (self.headers.get("Content-Length") or "").strip()
        if not raw.isdigit():
            self.close_connection = True
            self._json(411, {"error": "send the body with a Content-Length header"})
            return None
        length = int(raw)
        if length > limit:
            self.close_connection = True
            self._json(413, {"error": f"body larger than {limit} bytes"})
            return None
        return self.rfile.read(length)

    def _form(self) -> dict[str, str] | None:
        body = self._body(MAX_FORM_BYTES)
        if body is None:
            return None
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            self._text(400, "the form must be UTF-8 (application/x-www-form-urlencoded)")
            return None
        return {key: values[-1] for key, values in fields.items()}

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload, indent=1).encode(), "application/json")

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


@dataclass
class RunningHub:
    """A hub served from a thread of this process (``python -m dev.hub serve`` runs one in the foreground)."""

    hub: Hub
    server: HubHTTPServer
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """Where subscribers send their requests (what a subscriber's hub URL setting names)."""
        return self.base_url + HUB_PATH

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> RunningHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(hub: Hub | None = None, host: str = LOOPBACK, port: int = 0) -> RunningHub:
    """Serve ``hub`` (a new one when None) on ``host:port`` (0: a free port) from a daemon thread."""
    server = HubHTTPServer((host, port), hub or Hub())
    # A short poll interval: stop() (shutdown) waits for the loop to notice, and tests stop a hub each.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="hub-http", daemon=True)
    thread.start()
    return RunningHub(server.hub, server, thread)

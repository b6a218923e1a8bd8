"""The stable address production traffic reaches (API Gateway's stage), in front of whichever version is live.

``zappa update`` swaps the code behind an unchanged URL: requests already under way finish on the old version,
the next ones reach the new one. Here each version is an emulator of its own (its API front on its own port), and
this reverse proxy forwards every request to the live one; :meth:`Router.switch` is the update. The hub's
callbacks and the load generator both use the router's URL, as YouTube's hub and users use production's.

Each answer carries ``X-Router-Received-At``, the rehearsal's clock when the router took the request, so a request
counts in the phase production received it in, not the one it was sent in (a notification sent just before the
switch may reach production after it, through the hub).

Only the standard library: a threaded server, one upstream connection per request (the emulator's front handles
concurrency itself), hop-by-hop headers dropped as a proxy must.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from dev.ports import LOOPBACK

RECEIVED_AT = "X-Router-Received-At"
UPSTREAM_TIMEOUT = 960.0  # past any Lambda timeout (900 s): the function's own answer is what we want
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    router: Router


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _forward(self) -> None:
        received, (host, port) = self.server.router.route()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            status, pairs = response.status, response.getheaders()
        except (OSError, http.client.HTTPException) as exc:
            status, data = 502, f"router: the live version at {host}:{port} gave no answer ({exc})".encode()
            pairs = [("Content-Type", "text/plain")]
        finally:
            upstream.close()
        try:
            self.send_response(status)
            for name, value in pairs:
                if name.lower() not in _HOP_BY_HOP and name.lower() not in ("content-length", RECEIVED_AT.lower()):
                    self.send_header(name, value)
            self.send_header(RECEIVED_AT, f"{received:.4f}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the caller gave up waiting: its own record says so
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    def log_message(self, format: str, *args: Any) -> None:  # the functions' logs are what matter
        pass


@dataclass
class Router:
    """A reverse proxy on ``host:port`` (0: a free port) that forwards to the live version."""

    clock: Callable[[], float] = time.monotonic
    host: str = LOOPBACK
    port: int = 0
    live: str = ""  # a label for the live version ("base", "new")
    _upstream: tuple[str, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None

    def start(self) -> Router:
        server = _Server((self.host, self.port), _Handler)
        server.router = self
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), name="deploy-router", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def switch(self, upstream_url: str, label: str) -> float:
        """From now on, new requests go to ``upstream_url`` (the version's API front); those under way finish.
        Returns the clock's time of the switch: every request stamped before it went to the previous version."""
        parts = urlsplit(upstream_url)
        with self._lock:
            self._upstream = (parts.hostname or LOOPBACK, parts.port or 80)
            self.live = label
            return self.clock()

    def route(self) -> tuple[float, tuple[str, int]]:
        """The time a request is taken and where it goes, read together: a switch falls before or after both."""
        with self._lock:
            if self._upstream is None:
                raise RuntimeError("the router has no live version yet: switch() first")
            return self.clock(), self._upstream

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Router:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""``make bench``'s traffic rows: the rate the deploy rehearsal's load generator reaches on this machine.

``make rehearse-deploy`` sends 20 requests per second by default; its figures are the application's only if the
generator keeps its schedule. Here the generator (:mod:`dev.rehearse_deploy.traffic`, the same code) drives a
trivial HTTP server in another process at rising rates for a few seconds each: the highest rate whose requests were
all sent on schedule and answered is what it sustains; the CPU it spends per request says how far that is from one
core.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from dev.health import wait_healthy
from dev.ports import free_port
from dev.rehearse_deploy.traffic import Call, LoadGenerator, Outcome

RATES = (100, 250, 500, 1000)
SECONDS = 3.0
KEPT_UP = 0.95  # of the scheduled requests answered within the window: the rate is sustained

Row = tuple[str, str, str, str]

_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Quick(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Quick)
server.daemon_threads = True
server.serve_forever()
"""


class _Flood:
    def __init__(self, url: str) -> None:
        self.url = url

    def setup(self) -> None:
        pass

    def next_call(self) -> Call:
        async def send(http: httpx.AsyncClient) -> Outcome:
            return Outcome((await http.get(self.url)).status_code)

        return Call("GET /", send)


def measure(rate: float, url: str, seconds: float = SECONDS) -> tuple[float, float, float]:
    """(requests answered per second, p50 latency ms, generator CPU ms per request) at ``rate``."""
    cpu = time.process_time()
    started = time.monotonic()
    generator = LoadGenerator(_Flood(url), rate, clock=lambda: time.monotonic() - started).start()
    time.sleep(seconds)
    records = generator.stop()
    cpu = time.process_time() - cpu
    answered = sorted(r.ms for r in records if r.status == 200)
    p50 = answered[len(answered) // 2] if answered else float("nan")
    return len(answered) / seconds, p50, cpu * 1000 / max(1, len(records))


def rows() -> list[Row]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stdin=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/", timeout=30, exited=lambda: server.poll() is not None, what="server")
        out, sustained = [], 0.0
        for rate in RATES:
            achieved, p50, cpu_ms = measure(rate, f"http://127.0.0.1:{port}/")
            kept = achieved >= rate * KEPT_UP
            sustained = rate if kept else sustained
            out.append(
                (
                    "traffic",
                    f"load generator at {rate}/s for {SECONDS:g} s (a trivial server in another process)",
                    f"{achieved:,.0f}/s",
                    f"{'kept up' if kept else 'fell behind'}; p50 {p50:.1f} ms; {cpu_ms:.2f} ms of CPU per request",
                )
            )
        out.append(
            (
                "traffic",
                "load generator, highest rate sustained",
                f"{sustained:,.0f}/s",
                f"make rehearse-deploy's default RATE=20 is {20 / sustained:.0%} of it" if sustained else "none",
            )
        )
        return out
    finally:
        server.terminate()
        server.wait(10)

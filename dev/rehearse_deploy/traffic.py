"""The load generator: an application's own requests at a steady rate, each one recorded, whatever happens.

Open loop, as real users are: request *i* is sent at ``i / rate`` seconds whether or not the earlier ones have
been answered, so a stalled application shows as latency and a queue, not as a slower generator. Each request
records when it was sent, the phase the deploy was in, its route, status, latency and the application's request
id (to find the function's error line in its log afterwards).

What to send comes from a *profile* (``--traffic MODULE``, e.g. :mod:`dev.app_traffic`): an object with
``setup()`` (run once, before the clock starts) and ``next_call()`` returning a :class:`Call`. The generator knows
nothing of the application. It runs on its own thread with an asyncio loop and one ``httpx.AsyncClient``, so one
slow answer never delays the next request; ``make bench`` says what rate it reaches here.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from .router import RECEIVED_AT

MAX_IN_FLIGHT = 1000  # beyond this the generator itself would be the bottleneck: counted, never silently dropped
REQUEST_TIMEOUT = 120.0


@dataclass(frozen=True)
class Outcome:
    """What one call got: the HTTP status (None: no answer), the application's request id, and an error text when
    the call failed in a way the status does not say (no answer, a wrong body)."""

    status: int | None
    request_id: str | None = None
    error: str | None = None
    received_at: float | None = None  # when production received it (the router's stamp), on the run's clock


@dataclass(frozen=True)
class Call:
    """One request of a profile: its route (a label that groups it in the report) and how to send it."""

    route: str
    send: Callable[[httpx.AsyncClient], Awaitable[Outcome]]


class Profile(Protocol):
    def setup(self) -> None: ...

    def next_call(self) -> Call: ...


@dataclass
class Record:
    sent: float  # seconds since the run's clock started, when the request was sent
    route: str
    status: int | None
    ms: float
    request_id: str | None
    error: str | None
    received: float | None = None  # when production received it (the router's stamp), if it got that far
    phase: str = ""  # set by the rehearsal from :attr:`at`

    @property
    def at(self) -> float:
        """When production received the request, else when it was sent: what places it in a phase."""
        return self.received if self.received is not None else self.sent

    @property
    def failed(self) -> bool:
        """No answer, a 5xx, or an answer the profile found wrong."""
        return self.status is None or self.status >= 500 or self.error is not None


@dataclass
class LoadGenerator:
    """Sends ``profile``'s calls at ``rate`` per second from :meth:`start` to :meth:`stop`.

    ``clock()`` gives the run's seconds, read when a request is sent.
    """

    profile: Profile
    rate: float
    clock: Callable[[], float]
    records: list[Record] = field(default_factory=list)
    overflow: int = 0  # requests not sent because MAX_IN_FLIGHT were already waiting
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> LoadGenerator:
        if self.rate <= 0:
            raise ValueError(f"the rate must be above 0 requests per second, got {self.rate}")
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load-generator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Record]:
        """Stop sending; wait for the requests under way (their answers are part of the last phase)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            return sorted(self.records, key=lambda r: r.sent)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits, trust_env=False) as http:
            pending: set[asyncio.Task] = set()
            started = time.monotonic()
            sent = 0
            while not self._stop.is_set():
                due = started + sent / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(min(delay, 0.05))
                    continue
                sent += 1
                if len(pending) >= MAX_IN_FLIGHT:
                    self.overflow += 1
                    continue
                task = asyncio.create_task(self._one(http, self.profile.next_call()))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _one(self, http: httpx.AsyncClient, call: Call) -> None:
        sent = self.clock()
        began = time.perf_counter()
        try:
            outcome = await call.send(http)
        except httpx.HTTPError as exc:
            outcome = Outcome(None, None, f"no answer: {type(exc).__name__}: {exc}")
        except Exception as exc:  # a profile bug must show in the report, not kill the generator
            outcome = Outcome(None, None, f"the traffic profile failed: {type(exc).__name__}: {exc}")
        ms = (time.perf_counter() - began) * 1000
        record = Record(sent, call.route, outcome.status, ms, outcome.request_id, outcome.error, outcome.received_at)
        with self._lock:
            self.records.append(record)


def request_id(response: httpx.Response) -> str | None:
    """API Gateway's (and the emulator's) request id of an answer."""
    return response.headers.get("x-amzn-requestid")


def received_at(headers: Mapping[str, str]) -> float | None:
    """The router's stamp on an answer (its headers, or the headers a hub passed back from a delivery)."""
    for name, value in headers.items():
        if name.lower() == RECEIVED_AT.lower():
            try:
                return float(value)
            except ValueError:
                return None
    return None


def answered(response: httpx.Response) -> Outcome:
    """The usual outcome of a request through the router: status, request id, a 5xx's body, the router's stamp."""
    return Outcome(response.status_code, request_id(response), body_error(response), received_at(response.headers))


def body_error(response: httpx.Response) -> str | None:
    """For a 5xx: the start of the body (until the function's own error line replaces it)."""
    if response.status_code < 500:
        return None
    return f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"

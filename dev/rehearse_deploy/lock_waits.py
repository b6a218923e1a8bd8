"""How long the application's queries waited for locks, read from PostgreSQL while the deploy runs.

A sampler thread asks ``pg_locks`` every ``interval`` for the locks not granted on the rehearsal's database, with
``waitstart`` (PostgreSQL 14+: when the backend started waiting for that lock) and ``clock_timestamp()``: the wait so
far is the server's own difference, not a guess from latencies. A wait is seen several times; the longest sighting
counts, so a reported wait is short of the truth by less than one interval. Which waits were the migration's own is
decided afterwards, from the backend pids the migration reported (:mod:`dev.rehearse.probe`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from dev import postgres

INTERVAL = 0.025

_WAITING = """
SELECT l.pid, l.waitstart::text AS since,
       extract(epoch FROM clock_timestamp() - l.waitstart) * 1000 AS waited_ms,
       l.mode, coalesce(c.relname, l.locktype) AS what, left(a.query, 200) AS query
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
  LEFT JOIN pg_class c ON c.oid = l.relation
 WHERE NOT l.granted AND l.waitstart IS NOT NULL AND a.datname = current_database() AND a.pid <> pg_backend_pid()
"""


@dataclass
class LockWait:
    pid: int
    since: str  # the server's waitstart: with pid, what tells two waits of one backend apart
    waited_ms: float
    mode: str
    what: str  # the table (or the lock type when it is not a table's)
    query: str
    first_seen: float  # the run's clock
    last_seen: float

    def describe(self) -> str:
        return f"{self.waited_ms:,.0f} ms for {self.mode} on {self.what}: `{' '.join(self.query.split())[:100]}`"


@dataclass
class LockWaitSampler:
    url: str
    clock: Callable[[], float]
    interval: float = INTERVAL
    waits: dict[tuple[int, str], LockWait] = field(default_factory=dict)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> LockWaitSampler:
        self._thread = threading.Thread(target=self._run, name="lock-wait-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[LockWait]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return sorted(self.waits.values(), key=lambda w: w.first_seen)

    def _run(self) -> None:
        engine = postgres.engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            while not self._stop.is_set():
                try:
                    with engine.connect() as conn:
                        while not self._stop.is_set():
                            self._sample(conn)
                            self._stop.wait(self.interval)
                except sa.exc.DBAPIError:
                    self.errors += 1  # e.g. the server restarted: reconnect and go on
                    self._stop.wait(self.interval)
        finally:
            engine.dispose()

    def _sample(self, conn: sa.Connection) -> None:
        now = self.clock()
        for row in conn.execute(sa.text(_WAITING)).mappings():
            key = (row["pid"], row["since"])
            seen = self.waits.get(key)
            if seen is None:
                self.waits[key] = LockWait(
                    row["pid"], row["since"], float(row["waited_ms"]), row["mode"], row["what"], row["query"], now, now
                )
            else:
                seen.waited_ms = max(seen.waited_ms, float(row["waited_ms"]))
                seen.last_seen = now

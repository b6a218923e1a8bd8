"""Statement and lock timeouts for migration steps, from the time the invocation has left.

Why: Lambda kills a function at its timeout (``timeout_seconds``, 300 s in production) whatever it is doing. A step
that waits behind a lock, or a database that stops answering, would hold the invocation until that kill, and the
caller would learn only "Task timed out". Here every statement of the migration's connection gets a
``statement_timeout`` and a ``lock_timeout`` that end it a *margin* before the Lambda would, so the migration fails
with an error that names the revision and says what to do, while there is still time to say it.

With D the end of the invocation and M the margin (10 % of the time it had when the migration started, at most
30 s), before every statement:

- ``lock_timeout`` = D - 1.5 M - now: a lock wait ends first, and PostgreSQL reports it as a lock timeout;
- ``statement_timeout`` = D - M - now: any statement ends by D - M, so a timed-out invocation never leaves a
  statement running on the server (a killed worker's sessions are idle and go with its sockets);
- at D - M/2 a statement still running was not cancelled by its own server: the server is not answering at all
  (stopped, cut off). The connection is shut from this side so the caller gets an answer before D;
- a statement that would start after D - M is not sent (:class:`NoTimeLeft`): a batched step stops between two
  batches, each of which it has committed.

Per revision: a revision may ``SET`` (or ``SET LOCAL``) a *tighter* ``statement_timeout`` or ``lock_timeout`` for
its own steps (e.g. ``SET LOCAL lock_timeout = '1s'`` before DDL, or ``SET statement_timeout = '30s'`` so one batch
of a long backfill may not take longer than that); before each statement the tighter of the current value and the
deadline's is kept, in one round trip. A looser value cannot help: the Lambda ends at D whatever the server allows.
Inside a transaction the values are applied with ``set_config(..., true)``, so a revision's ``SET LOCAL`` ends with
its transaction instead of leaking into the next revisions of the same invocation.

Where D comes from: Lambda's ``context.get_remaining_time_in_millis()`` (``run.py`` passes it), else the
``MIGRATION_TIME_LIMIT`` setting; with neither (tests, ``make lock-report``) there is no deadline at all.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extensions import TRANSACTION_STATUS_INERROR
from sqlalchemy import event
from sqlalchemy.engine import Connection

MARGIN_FRACTION = 0.10
MAX_MARGIN_SECONDS = 30.0
STATEMENT_CHARS = 100

# The tighter of the current value (0: none) and ours, for both settings, in one statement. ``local``: inside a
# transaction the values are set for that transaction only (a revision's SET LOCAL must not outlive its revision);
# in autocommit every statement is its own transaction, so they are set for the session (and re-set before each).
_TIGHTEN = """
SELECT set_config('statement_timeout',
         CASE WHEN s > interval '0' AND s <= %(statement_ms)s * interval '1 millisecond'
              THEN current_setting('statement_timeout') ELSE %(statement_ms)s::text END, %(local)s),
       set_config('lock_timeout',
         CASE WHEN l > interval '0' AND l <= %(lock_ms)s * interval '1 millisecond'
              THEN current_setting('lock_timeout') ELSE %(lock_ms)s::text END, %(local)s)
  FROM (SELECT current_setting('statement_timeout')::interval AS s,
               current_setting('lock_timeout')::interval AS l) AS now
"""


class NoTimeLeft(RuntimeError):
    """A statement was not sent: it would have started less than the margin before the end of the invocation."""


@dataclass(frozen=True)
class Abandoned:
    """A statement the server did not end at its statement_timeout; its connection was shut from this side."""

    statement: str
    seconds: float


def _short(statement: str) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= STATEMENT_CHARS else text[: STATEMENT_CHARS - 3] + "..."


@dataclass
class MigrationDeadline:
    """The end of the invocation (``time.monotonic()``) and the margin kept before it; see the module docstring."""

    ends_at: float
    margin: float
    abandoned: Abandoned | None = None
    _running: tuple[Any, str, float] | None = field(default=None, repr=False)
    _watched: Connection | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def starting_now(cls, seconds: float | None) -> MigrationDeadline | None:
        """The deadline of an invocation that has ``seconds`` left; None (no deadline) when nobody knows."""
        if seconds is None:
            return None
        return cls(time.monotonic() + seconds, min(MAX_MARGIN_SECONDS, MARGIN_FRACTION * seconds))

    def left(self) -> float:
        """Seconds until the invocation ends."""
        return self.ends_at - time.monotonic()

    def for_statements(self) -> float:
        """Seconds a statement started now may run (negative: none may start)."""
        return self.left() - self.margin

    @contextmanager
    def applied(self, connection: Connection) -> Iterator[None]:
        """Timeouts on every statement of ``connection`` while the block runs, and the watchdog behind them."""
        # handle_error can only be heard engine-wide (SQLAlchemy 2); _failed ignores other connections.
        listeners = [
            (connection, "before_cursor_execute", self._before),
            (connection, "after_cursor_execute", self._after),
            (connection.engine, "handle_error", self._failed),
        ]
        self._watched = connection
        for target, name, fn in listeners:
            event.listen(target, name, fn)
        watchdog = threading.Timer(max(0.0, self.left() - self.margin / 2), self._abandon)
        watchdog.daemon = True
        watchdog.start()
        try:
            yield
        finally:
            watchdog.cancel()
            for target, name, fn in listeners:
                event.remove(target, name, fn)
            self._watched = None

    # -- events ------------------------------------------------------------------------------------------------
    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        statement_ms = int(self.for_statements() * 1000)
        if statement_ms < 1:
            raise NoTimeLeft(
                f"{self.left():.1f} s were left in this invocation, less than the {self.margin:.1f} s kept for "
                f"reporting: `{_short(statement)}` was not started"
            )
        dbapi = cursor.connection
        if dbapi.get_transaction_status() != TRANSACTION_STATUS_INERROR:  # else the statement fails on its own
            lock_ms = max(1, statement_ms - int(self.margin * 500))
            raw = dbapi.cursor()  # on the DBAPI connection: no events fire, the statement under way is untouched
            try:
                raw.execute(_TIGHTEN, {"statement_ms": statement_ms, "lock_ms": lock_ms, "local": not dbapi.autocommit})
            finally:
                raw.close()
        with self._lock:
            self._running = (dbapi, statement, time.monotonic())

    def _after(self, *args: Any) -> None:
        with self._lock:
            self._running = None

    def _failed(self, context: Any) -> None:
        if context.connection is self._watched:
            with self._lock:
                self._running = None

    def _abandon(self) -> None:
        """Watchdog (its own thread, at D - M/2): shut the socket of a statement its server did not end in time.

        ``shutdown`` acts on the socket itself, so the thread blocked reading it gets end-of-file at once and the
        driver raises "server closed the connection unexpectedly"; a cancel request would not help, since a
        server that does not answer does not act on one either.
        """
        with self._lock:
            if self._running is None:
                return
            dbapi, statement, since = self._running
            self.abandoned = Abandoned(_short(statement), time.monotonic() - since)
        try:
            sock = socket.socket(fileno=os.dup(dbapi.fileno()))
        except OSError:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.close()

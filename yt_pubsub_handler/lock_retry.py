"""Retrying a migration step that gave up waiting for a lock: exponential backoff with jitter, within a budget.

Why: a DDL statement that waits for its lock makes every later query on that table wait behind it, reads included.
A short ``lock_timeout`` (the revision template's) bounds that stall, but on its own it turns a busy table into a
failed migration that someone has to invoke again. Retrying the step after a pause keeps both: each attempt
stalls the application for at most the lock timeout, the application runs freely between attempts, and the
migration goes through once the long transaction in its way ends (pgroll and Reshape do the same).

The pause doubles from ``BASE_SECONDS`` up to ``CAP_SECONDS``, and each one is drawn between half and all of that
("equal jitter"), so two migrations, or a migration and a periodic job, do not fall into step. Retries go on
while the budget allows: the invocation's deadline when Lambda's context gives one (the attempt after the pause
must still have ``MIN_ATTEMPT_SECONDS`` before the deadline's margin), else ``MIGRATION_LOCK_RETRY_SECONDS``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from .migration_deadline import MigrationDeadline

LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE lock_not_available: what a lock_timeout raises
BASE_SECONDS = 0.5
CAP_SECONDS = 8.0
MIN_ATTEMPT_SECONDS = 2.0


def lock_timeout_in(exc: BaseException) -> DBAPIError | None:
    """The driver error in ``exc``'s chain when it is a lock timeout (SQLSTATE 55P03), else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError) and getattr(seen.orig, "pgcode", None) == LOCK_NOT_AVAILABLE:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass
class LockRetries:
    """The retry policy of one migration call, and the record of the retries it made (returned to the caller)."""

    deadline: MigrationDeadline | None
    budget_seconds: float  # used when there is no deadline
    rng: random.Random = field(default_factory=random.Random)
    made: list[dict] = field(default_factory=list)
    _started: float | None = None

    def pause_before_next(self) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget does not allow one."""
        now = time.monotonic()
        if self._started is None:
            self._started = now
        ceiling = min(CAP_SECONDS, BASE_SECONDS * 2 ** len(self.made))
        pause = self.rng.uniform(ceiling / 2, ceiling)
        if self.deadline is not None:
            left = self.deadline.for_statements()
            return pause if left - pause >= MIN_ATTEMPT_SECONDS else None
        return pause if (now - self._started) + pause <= self.budget_seconds else None

    def record(self, revision: str, direction: str, error: BaseException, waited_ms: float, pause: float) -> dict:
        """One retry about to happen: which revision, what it hit, how long that attempt ran, the pause."""
        reason = (str(getattr(error, "orig", error)).strip().splitlines() or [""])[0]
        entry = {
            "revision": revision,
            "direction": direction,
            "attempt": len(self.made) + 1,
            "error": reason,
            "attempt_ms": round(waited_ms, 1),
            "pause_ms": round(pause * 1000, 1),
        }
        self.made.append(entry)
        return entry

    def describe(self) -> str:
        """For an error message: what the retries already tried."""
        if not self.made:
            return ""
        spent = sum(r["attempt_ms"] + r["pause_ms"] for r in self.made) / 1000
        return f" It was retried {len(self.made)} time(s) with backoff over {spent:.1f} s, until no time was left."

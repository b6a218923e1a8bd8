"""From durations measured at a few row counts to "fits" or "will exceed the timeout at about M rows".

A straight line through the measured (rows, seconds) points, fitted by least squares: the work that grows with a
table (a backfill, a validation, an index build, a rewrite) grows about linearly with its rows, and a constant
(creating a table, a rename) fits as a flat line. The line is compared with the time a revision's statements get,
the function's timeout less the margin the migrator keeps to report (``yt_pubsub_handler.migration_deadline``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from yt_pubsub_handler.migration_deadline import MARGIN_FRACTION, MAX_MARGIN_SECONDS

# A rise across the measured row counts smaller than this (seconds, or this fraction of the shortest duration) is
# the noise of a busy machine on a revision that does not grow with rows (creating a table, a rename), not a slope.
NOISE_SECONDS = 0.05
NOISE_FRACTION = 0.25


def usable_seconds(timeout_seconds: float) -> float:
    """The part of a Lambda timeout that migration statements get (the migrator's margin comes off)."""
    return timeout_seconds - min(MAX_MARGIN_SECONDS, MARGIN_FRACTION * timeout_seconds)


def round_rows(rows: float) -> int:
    """Two significant figures: a projection is an estimate, and says so by its roundness."""
    if rows < 100:
        return max(1, round(rows))
    magnitude = 10 ** (int(math.log10(rows)) - 1)
    return int(round(rows / magnitude) * magnitude)


@dataclass(frozen=True)
class Projection:
    """One revision's durations against rows, and what they say about the stage's timeout."""

    points: tuple[tuple[int, float], ...]  # (rows, seconds) of invocations that finished
    timeout_seconds: float
    rows: int  # the row count rehearsed (the largest)
    exceeded_at: int | None = None  # the smallest row count at which one invocation did not finish it

    @property
    def budget(self) -> float:
        return usable_seconds(self.timeout_seconds)

    @property
    def line(self) -> tuple[float, float] | None:
        """(seconds per row, seconds at zero rows), or None with fewer than two row counts."""
        if len({rows for rows, _ in self.points}) < 2:
            return None
        xs, ys = zip(*self.points, strict=True)
        slope, intercept = statistics.linear_regression(xs, ys)
        return slope, intercept

    def seconds_at(self, rows: float) -> float | None:
        line = self.line
        return None if line is None else line[1] + line[0] * rows

    @property
    def grows(self) -> bool:
        """Whether the duration rises with rows by more than noise across the measured row counts."""
        line = self.line
        if line is None or line[0] <= 0:
            return False
        xs = [rows for rows, _ in self.points]
        shortest = min(seconds for _, seconds in self.points)
        return line[0] * (max(xs) - min(xs)) > max(NOISE_SECONDS, NOISE_FRACTION * shortest)

    @property
    def crossing(self) -> float | None:
        """Rows at which the line reaches the budget; None when the duration does not grow with rows."""
        line = self.line
        if line is None or not self.grows:
            return None
        return (self.budget - line[1]) / line[0]

    @property
    def fits(self) -> bool:
        return self.exceeded_at is None and all(seconds < self.budget for _, seconds in self.points)

    def describe(self) -> str:
        """The table's "projection" cell."""
        limit = f"the {self.timeout_seconds:g} s timeout"
        if self.exceeded_at is not None:
            return f"exceeds {limit}: one invocation did not finish it at {self.exceeded_at:,} rows"
        if not self.fits:
            return f"exceeds {limit}: past the {self.budget:g} s its statements get"
        crossing = self.crossing
        if self.line is None:
            return "fits (one row count measured: no projection)"
        if crossing is None:
            return "fits: does not grow with rows"
        if crossing <= self.rows:
            return f"fits, at the limit: the fit reaches {self.budget:g} s at about {round_rows(crossing):,} rows"
        return f"fits; will exceed {limit} at about {round_rows(crossing):,} rows"

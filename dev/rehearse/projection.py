"""From durations measured at a few row counts to "fits", "flat" or "will exceed the timeout at about M rows".

A straight line through the measured (rows, seconds) points, fitted by least squares: the work that grows with a
table (a backfill, a validation, an index build, a rewrite) grows about linearly with its rows. The line is
compared with the time a revision's statements get, the function's timeout less the margin the migrator keeps to
report (``yt_pubsub_handler.migration_deadline``).

When a revision is flat. A revision that creates a table or renames a column takes the same time at any row
count, but its measured durations still move: one invocation per row count, on a machine that is doing other
work. A line through that noise has a slope, and a slope always reaches the timeout somewhere (issue 17: "create
channels and videos" projected to exceed it at about 57,000,000 rows, a different answer on the next run). So a
revision counts as growing with rows only when its fitted rise across the measured row counts, ``slope x (largest
- smallest rows)``, passes both tests below; otherwise it is **flat**: "does not grow with rows", no projection.

1. **Larger than the noise floor**: more than ``FLOOR_SECONDS`` (0.5 s) and more than ``FLOOR_FRACTION`` (25 %)
   of its shortest duration. At CI's ``ROWS=100000``, issue 17's 57,000,000 rows are a rise of 0.43 s between
   10,000 and 100,000 rows, from noise alone on a busy 2-core machine (load 3-5); and a machine that slows
   everything down slows a long constant revision in proportion.
2. **Distinguishable from the scatter of the points around the line**: with more points than the line's two
   parameters, the slope must be at least ``t`` standard errors above zero, ``t`` being Student's one-sided 95 %
   quantile for ``n - 2`` degrees of freedom (6.31 for three points, 2.92 for four; ``T_95``). Repeated points
   at one row count count as points, so their spread is the scatter. With two points (no scatter to measure),
   only the floor applies.

Consequences, stated: at ``ROWS=100000`` (CI) a revision is projected only when it grows by more than 0.5 s
between 10,000 and 100,000 rows, i.e. when it would reach production's 270 s before about 49,000,000 rows;
rehearse at more rows to project slower growth (at ``ROWS=1000000``: before about 490,000,000). The verdict
depends only on the points, not on their order (they are sorted, and the sums are exact: ``math.fsum``): the same
measurements always give the same verdict.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from yt_pubsub_handler.migration_deadline import MARGIN_FRACTION, MAX_MARGIN_SECONDS

FLOOR_SECONDS = 0.5
FLOOR_FRACTION = 0.25
# Student's t, one-sided 95 %, by degrees of freedom (points - 2). Beyond 10, the value for 10: slightly stricter
# than the exact quantile (1.645 at infinity), and a rehearsal rarely measures more than a dozen points.
T_95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833, 10: 1.812}


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
class Fit:
    """The least-squares line through a revision's points, and what decides whether it grows (module docstring)."""

    slope: float  # seconds per row
    intercept: float  # seconds at zero rows
    rise: float  # slope x (largest - smallest rows measured)
    floor: float  # the noise floor the rise must pass
    t: float | None  # slope / its standard error; None with two points (no scatter to measure)
    t_needed: float | None

    @property
    def above_floor(self) -> bool:
        return self.rise > self.floor

    @property
    def significant(self) -> bool:
        return self.t is None or self.t_needed is None or self.t >= self.t_needed

    @property
    def grows(self) -> bool:
        return self.slope > 0 and self.above_floor and self.significant


def fit(points: tuple[tuple[int, float], ...]) -> Fit | None:
    """The fit through ``points`` (rows, seconds); None with fewer than two row counts."""
    ordered = sorted(points)
    xs = [float(rows) for rows, _ in ordered]
    ys = [seconds for _, seconds in ordered]
    if len(set(xs)) < 2:
        return None
    slope, intercept = statistics.linear_regression(xs, ys)
    floor = max(FLOOR_SECONDS, FLOOR_FRACTION * min(ys))
    freedom = len(ordered) - 2
    t = t_needed = None
    if freedom >= 1:
        mean = math.fsum(xs) / len(xs)
        sxx = math.fsum((x - mean) ** 2 for x in xs)
        residuals = math.fsum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
        error = math.sqrt(residuals / freedom / sxx)
        t = math.inf if error == 0 else slope / error
        t_needed = T_95.get(freedom, T_95[max(T_95)])
    return Fit(slope, intercept, slope * (xs[-1] - xs[0]), floor, t, t_needed)


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
    def fit(self) -> Fit | None:
        return fit(self.points)

    @property
    def line(self) -> tuple[float, float] | None:
        """(seconds per row, seconds at zero rows), or None with fewer than two row counts."""
        found = self.fit
        return None if found is None else (found.slope, found.intercept)

    @property
    def grows(self) -> bool:
        """Whether the duration grows with rows measurably (the rule in the module docstring); False: flat."""
        found = self.fit
        return found is not None and found.grows

    @property
    def crossing(self) -> float | None:
        """Rows at which the line reaches the budget; None when the revision is flat."""
        found = self.fit
        if found is None or not found.grows:
            return None
        return (self.budget - found.intercept) / found.slope

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
        if self.fit is None:
            return "fits (one row count measured: no projection)"
        crossing = self.crossing
        if crossing is None:
            return "fits; flat: does not grow with rows"
        if crossing <= self.rows:
            return f"fits, at the limit: the fit reaches {self.budget:g} s at about {round_rows(crossing):,} rows"
        return f"fits; will exceed {limit} at about {round_rows(crossing):,} rows"

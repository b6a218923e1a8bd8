"""Duration against rows per revision, with the stage's timeout as a line: the rehearsal at a glance.

matplotlib with the Agg backend (no display needed, same pixels on every machine), written as PNG. Both axes are
logarithmic: a revision that takes 20 ms and one that takes minutes stay readable on one chart, and the fitted
straight lines (:mod:`.projection`) show where each would cross the timeout.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from .projection import round_rows, usable_seconds
from .rehearsal import Rehearsal
from .report import projections

EXTEND = 100  # fitted lines are drawn up to this many times the rehearsed rows, or where they cross the timeout


def _rows_label(value: float, _position: float) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def draw(rehearsal: Rehearsal, path: Path) -> Path:
    """Write the chart to ``path`` (PNG) and return it."""
    limits = rehearsal.limits
    timeout = float(limits.timeout_seconds)
    budget = usable_seconds(timeout)
    largest = max(rehearsal.rows)
    found = projections(rehearsal)
    right = largest * EXTEND
    lowest = min((s for p in found.values() for _, s in p.points), default=0.01)

    figure, axes = plt.subplots(figsize=(13, 6.5), dpi=110)
    colours = plt.get_cmap("tab10")
    for index, (revision, message) in enumerate(rehearsal.revisions()):
        projection = found[revision]
        colour = colours(index % 10)
        label = f"{revision}  {message if len(message) <= 52 else message[:49] + '...'}"
        if projection.points:
            xs, ys = zip(*sorted(projection.points), strict=True)
            axes.plot(xs, ys, "o-", color=colour, markersize=6, linewidth=0.8, label=label)
        if projection.exceeded_at is not None:
            axes.plot(
                [projection.exceeded_at], [timeout], "X", color=colour, markersize=11, label=f"{revision} timed out"
            )
        line = projection.line
        if line is not None and projection.grows:
            start = min(x for x, _ in projection.points)
            end = min(right, projection.crossing * 1.3) if projection.crossing else right
            xs_fit = [start * (end / start) ** (i / 60) for i in range(61)]
            ys_fit = [line[1] + line[0] * x for x in xs_fit]
            axes.plot(xs_fit, ys_fit, "--", color=colour, linewidth=1.2, alpha=0.8)
            if projection.crossing:
                axes.annotate(
                    f"~{round_rows(projection.crossing):,} rows",
                    (projection.crossing, budget),
                    textcoords="offset points",
                    xytext=(4, -14),
                    color=colour,
                    fontsize=8,
                )
    axes.axhline(timeout, color="crimson", linewidth=2, label=f"{limits.stage} timeout: {timeout:g} s")
    if budget < timeout:
        axes.axhline(budget, color="crimson", linewidth=1, linestyle=":", label=f"statements stop at {budget:g} s")
    axes.axvline(largest, color="grey", linewidth=1, linestyle=":", label=f"rehearsed: {largest:,} rows")
    # Limits before the log scales: with one row count, autoscaling alone would give a zero-width axis.
    axes.set_xlim(min(rehearsal.rows) / 2, right)
    axes.set_ylim(max(1e-3, lowest / 3), timeout * 3)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(_rows_label))
    axes.set_xlabel("rows per large table (log)")
    axes.set_ylabel("invocation duration, seconds (log)")
    axes.set_title(
        f"Migration duration against rows, per revision: {limits.describe()}\n"
        "points: measured through the Lambda emulator; dashed: straight-line fit of those that grow, extended",
        fontsize=11,
    )
    axes.grid(True, which="both", alpha=0.25)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, framealpha=0.9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    plt.close(figure)
    return path

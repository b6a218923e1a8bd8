"""The deploy at a glance: every request's latency over time, the phases as bands, the errors marked.

matplotlib with the Agg backend (no display, the same pixels on every machine), written as PNG. The latency axis is
logarithmic so a 5 ms read and a 5 s stall stay readable together; failed requests are red crosses; the migration
invocations are hatched spans and the application's lock waits thin bars at the bottom, so a reviewer sees at once
which window failed and what the app waited for.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from .run import DeployRun

BAND_COLOURS = ("#f2f2f2", "#e3ecf7")


def draw(run: DeployRun, path: Path) -> Path:
    """Write the chart to ``path`` and return it."""
    figure, axes = plt.subplots(figsize=(13, 6), dpi=110)
    ok = [r for r in run.records if not r.failed]
    failed = [r for r in run.records if r.failed]
    routes = sorted({r.route for r in run.records})
    colours = plt.get_cmap("tab10")
    floor = min((r.ms for r in run.records), default=1.0) / 2
    for index, route in enumerate(routes):
        points = [(r.at, r.ms) for r in ok if r.route == route]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.scatter(xs, ys, s=9, color=colours(index % 10), label=route, alpha=0.8)
    if failed:
        axes.scatter(
            [r.at for r in failed],
            [max(r.ms, floor) for r in failed],
            s=45,
            marker="x",
            color="#d62728",
            label=f"failed ({len(failed)})",
            zorder=5,
        )
    axes.set_yscale("log")
    top = max((r.ms for r in run.records), default=10.0) * 30
    axes.set_ylim(floor, top)
    span = max((p.ended for p in run.phases), default=1.0) or 1.0
    for index, phase_run in enumerate(run.phases):
        axes.axvspan(phase_run.started, phase_run.ended, color=BAND_COLOURS[index % 2], zorder=0)
        middle = (phase_run.started + phase_run.ended) / 2
        phase = phase_run.phase
        narrow = (phase_run.ended - phase_run.started) / span < 0.08
        label = f"{phase.name}: {phase.code} code, {phase.schema}" if narrow else f"{phase.name}\n{phase.describe()}"
        axes.text(
            middle,
            top / 1.15,
            label,
            ha="center",
            va="top",
            fontsize=7 if narrow else 8,
            rotation=90 if narrow else 0,
            color="#333333",
        )
        migration = phase_run.migration
        if migration is not None:
            axes.axvspan(migration.started, migration.ended, facecolor="none", hatch="//", edgecolor="#cccccc", lw=0)
            axes.axvline(migration.started, color="#777777", linewidth=0.8, linestyle="--")
            axes.axvline(migration.ended, color="#777777", linewidth=0.8, linestyle="--")
    for wait in run.app_waits():
        start = wait.last_seen - wait.waited_ms / 1000
        axes.plot([start, wait.last_seen], [floor * 1.2, floor * 1.2], color="#9467bd", linewidth=4)
    if run.app_waits():
        axes.plot([], [], color="#9467bd", linewidth=4, label="an app query waiting for a lock")
    axes.set_xlabel("seconds since the rehearsal's traffic started")
    axes.set_ylabel("latency (ms, log scale)")
    title = f"Deploy rehearsal, {run.options.order}: BASE {run.base.commit[:12]} -> working tree"
    axes.set_title(title, fontsize=11)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    axes.grid(True, axis="y", which="major", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path

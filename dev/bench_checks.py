"""``make bench``'s rows for the checks a developer waits for: ``make check-migrations`` (target: 30 s on a quiet
2-core machine for the shipped history) and, with ``--parts suite``, ``make test-fast`` (60 s) and ``make test``
(6 min). Each is the real make target in a process of its own, timed from start to exit, with the load average it
ran under (the suite's own processes count in the load at the end)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from dev.bench_invoke import format_ms

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"check-migrations": 30.0, "test-fast": 60.0, "test": 360.0}  # seconds, on a quiet 2-core machine
Row = tuple[str, str, str, str]


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def time_target(target: str) -> tuple[float, float, float, str]:
    """(seconds, load average at start, at the end, pytest's summary line) of ``make -s TARGET``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "MAKEFLAGS")}
    load_before = _load()
    started = time.perf_counter()
    proc = subprocess.run(["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"make {target} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    summary = next((line.strip("= ") for line in reversed(proc.stdout.splitlines()) if " passed" in line), "")
    return seconds, load_before, _load(), summary


def rows(targets: tuple[str, ...] = ("check-migrations",)) -> list[Row]:
    out = []
    for target in targets:
        seconds, before, after, summary = time_target(target)
        limit = TARGETS[target]
        verdict = "ok" if seconds <= limit else "over"
        out.append(
            (
                "checks",
                f"make {target}",
                format_ms(seconds),
                f"target <= {limit:.0f} s quiet: {verdict}; load {before:.1f} at start, {after:.1f} at the end; "
                f"{summary}",
            )
        )
    return out

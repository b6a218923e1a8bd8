"""``make bench``: the project's figures in one table from one run, measured side by side on this machine.

Rows: the invoke paths (warm/cold invoke through the emulator vs ``flask db upgrade`` and the real ``zappa invoke``
CLI, see dev/bench_invoke.py), the emulator's own figures (warm p50 with a 10,000-file directory in the project,
edit -> next ``make invoke-upgrade``), the up/down/up round trip of every revision, ``make up`` cold and warm and
``make down``, setup from a fresh clone and the Docker mode beside the embedded one (dev/bench_setup.py), the rate
the deploy rehearsal's load generator sustains (dev/bench_traffic.py), the lock report at ROWS rows (default
1,000,000; see dev/lock_report.py) and ``make check-migrations`` timed whole (dev/bench_checks.py). ``--parts``
picks some of them; ``--parts suite`` (not run by default: minutes) times ``make test-fast`` and ``make test``.

Everything runs on a private embedded PostgreSQL and a private sandbox directory on free ports, so a developer's
running sandbox is untouched.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from dev import bench_checks, bench_invoke, bench_setup, bench_traffic, lock_report
from dev.bench_invoke import format_ms, verdict
from dev.cli import run
from dev.ports import free_port
from dev.postgres import EmbeddedPostgres, create_database, find_bindir, service_tempdir
from dev.table_seeder import ProgressLine

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str, str, str]  # (group, what, value, notes)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    pg = subprocess.run([str(find_bindir() / "postgres"), "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{pg}, load average {load:.1f} at start"
    )


def invoke_rows(server_url: str) -> list[Row]:
    os.environ["DATABASE_URL"] = create_database(server_url, "bench_invoke")
    rows = bench_invoke.measure()
    baseline, zappa = rows[bench_invoke.BASELINE][1], rows[-1][1]
    out = []
    for what, seconds, detail, target in rows:
        notes = "; ".join(
            x
            for x in (
                f"{seconds / baseline:.3f}x flask db upgrade",
                f"{seconds / zappa:.3f}x zappa invoke",
                verdict(seconds, target) and f"target {verdict(seconds, target)}",
                detail,
            )
            if x
        )
        out.append(("invoke", what, format_ms(seconds), notes))
    return out


def emulator_rows() -> list[Row]:
    """The emulator's own figures on copies of the project (DATABASE_URL from invoke_rows, already at head): warm
    p50 with and without a 10,000-file directory, edit -> next ``make invoke-upgrade`` (eager and lazy)."""
    out = []
    for what, seconds, detail, target in bench_invoke.measure_emulator():
        notes = "; ".join(x for x in (verdict(seconds, target) and f"target {verdict(seconds, target)}", detail) if x)
        out.append(("emulator", what, format_ms(seconds), notes))
    return out


def round_trip_rows(server_url: str) -> list[Row]:
    """Each revision on its own fresh database: upgrade to its parent, then up, down, up; wall time of the three."""
    from yt_pubsub_handler import create_app, migrator
    from yt_pubsub_handler.extensions import db

    app = create_app({"DATABASE_URL": create_database(server_url, "bench_round_trip")})
    rows = []
    with app.app_context():
        for entry in migrator.history()["revisions"]:
            revision, parent = entry["revision"], entry["down_revision"] or "base"
            started = time.perf_counter()
            up = migrator.upgrade(revision=revision)
            down = migrator.downgrade(revision=parent)
            again = migrator.upgrade(revision=revision)
            total = time.perf_counter() - started
            steps = [r["steps"][0]["ms"] for r in (up, down, again)]
            rows.append(
                (
                    "round trip",
                    f"{revision} {entry['message'].splitlines()[0][:40]}",
                    format_ms(total),
                    f"up {steps[0]:.1f} / down {steps[1]:.1f} / up {steps[2]:.1f} ms (steps as Alembic ran them)",
                )
            )
        db.engine.dispose()
    return rows


def sandbox_rows() -> list[Row]:
    """``make up`` on a fresh sandbox dir (cold: initdb), again after ``make down`` (warm), and ``make down``."""
    base = service_tempdir("bench-sandbox-")
    env = dict(
        os.environ,
        SANDBOX="embedded",
        SANDBOX_DIR=str(base / "sandbox"),
        PGPORT=str(free_port()),
        EMULATOR_PORT=str(free_port()),
        API_PORT=str(free_port()),
        HUB_PORT=str(free_port()),
        SANDBOX_IGNORE_STAGE_ENDPOINT="1",  # the checkout's local stage names 9000; only up/down are timed here
    )
    env.pop("DATABASE_URL", None)

    def timed(target: str) -> float:
        started = time.perf_counter()
        proc = subprocess.run(["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"make {target} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return time.perf_counter() - started

    try:
        cold = timed("up")
        down = timed("down")
        warm = timed("up")
        already = timed("up")
        down_again = timed("down")
    finally:
        subprocess.run(["make", "-s", "down"], cwd=ROOT, env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return [
        ("sandbox", "make up, cold (initdb, start, create database, emulator)", format_ms(cold), "embedded mode"),
        ("sandbox", "make up, warm (after make down)", format_ms(warm), f"{warm / cold:.2f}x cold"),
        ("sandbox", "make up, already running", format_ms(already), "no-op"),
        ("sandbox", "make down", format_ms((down + down_again) / 2), "mean of 2"),
    ]


def lock_rows(server_url: str, rows: int, budget_ms: float) -> list[Row]:
    from yt_pubsub_handler import create_app
    from yt_pubsub_handler.extensions import db

    app = create_app({"DATABASE_URL": create_database(server_url, "bench_locks")})
    reports = lock_report.measure_revisions(app, rows, progress=ProgressLine())
    with app.app_context():
        db.engine.dispose()
    out = []
    for r in reports:
        hold = r.longest
        lock = "no blocking lock taken"
        if hold:
            statement = hold.statement if len(hold.statement) <= 60 else hold.statement[:57] + "..."
            lock = f"{hold.mode_name} on {hold.table}, taken by `{statement}`"
        within = "ok" if r.max_hold_ms <= budget_ms else "OVER BUDGET"
        out.append(
            (
                f"locks @ {rows:,} rows",
                f"{r.direction} {r.revision} {r.message[:40]}",
                f"{r.max_hold_ms:.1f} ms held",
                f"{lock}; revision took {format_ms(r.duration_ms / 1000)}; budget {budget_ms:.0f} ms: {within}",
            )
        )
    return out


PARTS = ("invoke", "emulator", "round-trip", "sandbox", "setup", "traffic", "locks", "checks")
OPTIONAL_PARTS = ("suite",)  # only when named in --parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", 1_000_000)), help="lock-report rows")
    parser.add_argument("--budget-ms", type=float, default=100.0, help="lock budget per revision")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated subset of %(default)s",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
    )
    args = parser.parse_args(argv)
    unknown = set(args.parts) - set(PARTS) - set(OPTIONAL_PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}: choose from {', '.join(PARTS + OPTIONAL_PARTS)}")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one table, not every migration line

    header = machine()
    base = service_tempdir("bench-pg-")
    server = EmbeddedPostgres(base / "cluster").start()
    rows: list[Row] = []
    try:
        url = server.url("postgres")
        parts = {
            "invoke": lambda: invoke_rows(url),
            "emulator": emulator_rows,
            "round-trip": lambda: round_trip_rows(url),
            "sandbox": sandbox_rows,
            "setup": bench_setup.rows,
            "traffic": bench_traffic.rows,
            "locks": lambda: lock_rows(url, args.rows, args.budget_ms),
            "checks": bench_checks.rows,
            "suite": lambda: bench_checks.rows(("test-fast", "test")),
        }
        for name in PARTS + OPTIONAL_PARTS:
            if name in args.parts:
                print(f"measuring {name} ...", file=sys.stderr, flush=True)
                rows += parts[name]()
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)

    print(f"Machine: {header}\n")
    print("| group | measurement | value | notes |\n|---|---|---:|---|")
    for group, what, value, notes in rows:
        print(f"| {group} | {what} | {value} | {notes} |")
    return 0


if __name__ == "__main__":
    run(main)

"""``make bench-invoke``: what a migration call costs through each path, in one table from one run.

Rows: warm invoke over HTTP (p50/p95 of >= 50 no-op upgrades), cold invoke (first call after the emulator starts),
``make invoke-upgrade`` (the whole developer command), ``flask db upgrade`` as a CLI process (the usual baseline),
and the real ``zappa invoke local 'run.run_alembic_upgrade'`` CLI against the emulator. Ratios are against
``flask db upgrade``.

Emulator rows (:func:`measure_emulator`, on a copy of the project's deployable part so nothing here is edited):
warm p50 with and without a 10,000-file directory in the project (background change detection keeps it O(1); the
scan fallback, for contrast, is O(files)), and edit -> next ``make invoke-upgrade`` with eager and lazy warm-up.

Uses DATABASE_URL from the environment (the database is upgraded to head first, so every measured upgrade is a
no-op). Starts its own emulator on free ports, so a running ``make emulator`` is not disturbed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dev.cli import run
from dev.emulator import client
from dev.emulator.settings import stage_config
from dev.project_copy import copy_deployable

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(sys.executable).parent
STAGE = "local"
COMMAND = "run.run_alembic_upgrade"


def start_emulator(console: Path) -> client.EmulatorProcess:
    """``python -m dev.emulator`` for this project on a free port, without the API front; its console appended."""
    try:
        return client.start("--project-dir", str(ROOT), log=console, api=False, timeout=60)
    except client.EmulatorStartError as exc:
        raise SystemExit(str(exc)) from None


REPORTED: list[float] = []  # the REPORT line's Duration of each call, seconds: the function's own time


def _invoke_once(lambda_client: client.LambdaClient, name: str) -> float:
    """One RequestResponse invoke with the log tail, as ``zappa invoke`` asks; wall seconds. Fails loudly."""
    started = time.perf_counter()
    answer = lambda_client.invoke(name, client.zappa_command(COMMAND))
    elapsed = time.perf_counter() - started
    if not answer.ok:
        raise SystemExit(f"invoke failed: {answer.describe()[:800]}")
    duration_ms = answer.reported("Duration")
    if duration_ms is not None:
        REPORTED.append(duration_ms / 1000)
    return elapsed


def _first_call(console: Path, name: str) -> float:
    """A fresh emulator's first (cold) invocation, wall seconds."""
    with start_emulator(console) as emulator:
        return _invoke_once(emulator.client(), name)


def _timed(cmd: list[str], env: dict[str, str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return times


def verdict(seconds: float, target: float | None) -> str:
    """``<= 20.0 ms ok`` / ``MISSED`` against a target, or nothing for rows without one."""
    if target is None:
        return ""
    return f"<= {format_ms(target)} " + ("ok" if seconds <= target else "MISSED")


def format_ms(seconds: float) -> str:
    """Milliseconds below 10 s, seconds above: the unit every benchmark table uses."""
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


Row = tuple[str, float, str, "float | None"]  # (what, seconds, detail, target seconds)
BASELINE = 3  # index of the `flask db upgrade` row: the ratios' denominator


def measure(warm_count: int = 100, cold_count: int = 3, repeat: int = 3) -> list[Row]:
    """Measure every path once, side by side, against DATABASE_URL (brought to head first)."""
    warm_count = max(warm_count, 50)
    name = stage_config(ROOT / "zappa_settings.json", STAGE).function_name
    workdir = Path(tempfile.mkdtemp(prefix="bench-invoke-"))
    console = workdir / "emulator.log"
    try:
        _first_call(console, name)  # brings the database to head, so every measured upgrade is a no-op
        colds = [_first_call(console, name) for _ in range(cold_count)]

        emulator = start_emulator(console)
        try:
            lambda_client = emulator.client(keep_alive=True)
            _invoke_once(lambda_client, name)  # cold, not counted
            REPORTED.clear()
            warm = sorted(_invoke_once(lambda_client, name) for _ in range(warm_count))
            inside = statistics.median(REPORTED) if REPORTED else float("nan")
            p50 = statistics.median(warm)
            p95 = statistics.quantiles(warm, n=20)[-1]

            env = dict(os.environ, AWS_ENDPOINT_URL_LAMBDA=emulator.url)
            make = _timed(["make", "-s", "invoke-upgrade", f"STAGE={STAGE}"], env, repeat)

            settings = json.loads((ROOT / "zappa_settings.json").read_text())
            settings[STAGE]["aws_endpoint_urls"] = {"lambda": emulator.url}
            settings_file = workdir / "zappa_settings.json"
            settings_file.write_text(json.dumps(settings))
            zappa_env = dict(
                os.environ,
                AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
                AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
                AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                AWS_MAX_ATTEMPTS="1",
            )
            zappa = _timed([str(BIN / "zappa"), "invoke", STAGE, COMMAND, "-s", str(settings_file)], zappa_env, 2)
        finally:
            emulator.stop()

        flask_cmd = [str(BIN / "flask"), "--app", "run", "db", "upgrade"] if (BIN / "flask").exists() else None
        flask_cmd = flask_cmd or [PY, "-m", "flask", "--app", "run", "db", "upgrade"]
        flask = _timed(flask_cmd, dict(os.environ), repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return [
        (
            f"warm invoke over HTTP, p50 of {len(warm)}",
            p50,
            f"p95 {format_ms(p95)}; function's own Duration p50 {format_ms(inside)}",
            0.020,
        ),
        (f"cold invoke (first call after start), median of {len(colds)}", statistics.median(colds), "", 1.2),
        (f"make invoke-upgrade, median of {len(make)}", statistics.median(make), "", 0.3),
        (f"flask db upgrade (CLI process), median of {len(flask)}", statistics.median(flask), "baseline", None),
        (f"zappa invoke {STAGE} '{COMMAND}', median of {len(zappa)}", statistics.median(zappa), "", None),
    ]


BULK_FILES = 10_000


def project_copy(dest: Path, bulk_files: int = 0) -> Path:
    """The deployable part of this project in ``dest``, plus ``bulk/`` with ``bulk_files`` modules (files that count
    as code: the worst case for change detection)."""
    dest.mkdir(parents=True)
    copy_deployable(dest)
    if bulk_files:
        (dest / "bulk").mkdir()
        for i in range(bulk_files):
            (dest / "bulk" / f"module_{i:05d}.py").write_text(f"VALUE = {i}\n")
    return dest


def _warm_p50(project: Path, console: Path, name: str, count: int, *args: str) -> float:
    with client.start("--project-dir", str(project), *args, log=console, api=False, timeout=60) as emulator:
        lambda_client = emulator.client(keep_alive=True)
        _invoke_once(lambda_client, name)  # cold, not counted
        return statistics.median(_invoke_once(lambda_client, name) for _ in range(count))


def _edit_then_make(project: Path, console: Path, name: str, repeat: int, *args: str) -> tuple[float, float, bool]:
    """(median seconds from an edit of run.py until the emulator has a fresh environment ready (eager) or has
    noticed the edit (lazy), median ``make invoke-upgrade`` right after, whether every one of those was the new
    environment's first invocation (its REPORT has the Init Duration))."""
    ready, make, first = [], [], True
    with client.start("--project-dir", str(project), *args, log=console, api=False, timeout=60) as emulator:
        lambda_client = emulator.client()
        _invoke_once(lambda_client, name)
        env = dict(os.environ, AWS_ENDPOINT_URL_LAMBDA=emulator.url)
        eager = "lazy" not in args
        for i in range(repeat):
            generation = lambda_client.health()["generation"]
            started = time.perf_counter()
            with open(project / "run.py", "a") as handle:
                handle.write(f"# bench edit {i}\n")
            deadline = started + 60
            while time.perf_counter() < deadline:
                health = lambda_client.health()
                pool = health["environments"].get(name, {})
                if health["generation"] > generation and (not eager or (pool.get("warm") and not pool["starting"])):
                    break
                time.sleep(0.005)
            ready.append(time.perf_counter() - started)
            began = time.perf_counter()
            proc = subprocess.run(["make", "-s", "invoke-upgrade", f"STAGE={STAGE}"], cwd=ROOT, env=env,
                                  capture_output=True, text=True)  # fmt: skip
            make.append(time.perf_counter() - began)
            if proc.returncode != 0:
                raise SystemExit(f"make invoke-upgrade failed:\n{proc.stdout}\n{proc.stderr}")
            first = first and "Init Duration" in proc.stdout
    return statistics.median(ready), statistics.median(make), first


def measure_emulator(warm_count: int = 100, repeat: int = 5) -> list[Row]:
    """The emulator's own figures (see the module docstring), against DATABASE_URL (already at head)."""
    warm_count = max(warm_count, 50)
    name = stage_config(ROOT / "zappa_settings.json", STAGE).function_name
    workdir = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
    console = workdir / "emulator.log"
    try:
        plain = project_copy(workdir / "plain")
        bulky = project_copy(workdir / "bulky", BULK_FILES)
        without = _warm_p50(plain, console, name, warm_count)
        with_bulk = _warm_p50(bulky, console, name, warm_count)
        scan = _warm_p50(bulky, console, name, max(20, warm_count // 5), "--watch", "scan")
        eager_ready, eager_make, eager_first = _edit_then_make(plain, console, name, repeat)
        lazy_ready, lazy_make, _ = _edit_then_make(plain, console, name, repeat, "--warm-containers", "lazy")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    bulk = f"{BULK_FILES:,}-file directory"
    return [
        (f"warm invoke p50, project without the {bulk}", without, "watchfiles", None),
        (f"warm invoke p50, project with a {bulk}", with_bulk, f"{with_bulk / without:.2f}x without", 1.2 * without),
        (f"warm invoke p50, {bulk}, --watch scan (fallback)", scan, f"{scan / without:.2f}x without; O(files)", None),
        (
            f"edit -> next make invoke-upgrade, eager, median of {repeat}",
            eager_make,
            f"fresh environment ready {format_ms(eager_ready)} after the edit; "
            + ("REPORT has the Init Duration" if eager_first else "NOT the new environment's first call"),
            0.150,
        ),
        (
            f"edit -> next make invoke-upgrade, --warm-containers lazy, median of {repeat}",
            lazy_make,
            f"edit noticed {format_ms(lazy_ready)} after it; cold start inside the call",
            None,
        ),
    ]


def format_rows(rows: list[Row]) -> str:
    """A Markdown table with each path's ratio to `flask db upgrade` and its target."""
    baseline = rows[BASELINE][1]
    zappa = rows[-1][1]
    lines = [
        "| path | time | vs flask db upgrade | vs zappa invoke | target | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for what, seconds, detail, target in rows:
        ratios = f"{seconds / baseline:.3f}x | {seconds / zappa:.3f}x"
        lines.append(f"| {what} | {format_ms(seconds)} | {ratios} | {verdict(seconds, target)} | {detail} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm", type=int, default=100, help="warm invocations (>= 50)")
    parser.add_argument("--cold", type=int, default=3, help="cold starts (emulator restarts)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each CLI command")
    parser.add_argument("--emulator-only", action="store_true", help="only the emulator rows (10,000 files, edit)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        print("error: set DATABASE_URL (e.g. `make up`, then the URL `make status` prints)", file=sys.stderr)
        return 2
    if not args.emulator_only:
        print(format_rows(measure(args.warm, args.cold, args.repeat)))
    print(format_emulator_rows(measure_emulator(args.warm)))
    return 0


def format_emulator_rows(rows: list[Row]) -> str:
    lines = ["| emulator | time | target | notes |", "|---|---:|---:|---|"]
    lines += [f"| {what} | {format_ms(s)} | {verdict(s, t)} | {detail} |" for what, s, detail, t in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    run(main)

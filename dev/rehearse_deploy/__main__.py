"""``python -m dev.rehearse_deploy``: ``make rehearse-deploy [BASE=ref] [ORDER=...] [RATE=...] [LONG_TX=s] [ROWS=n]``.

Rehearses the deploy of the working tree over BASE (what production runs) under traffic, in the chosen order, and
the rollback; prints the per-phase table and the verdict, and writes ``report.md``, ``report.json``,
``timeline.png`` and both versions' emulator logs into ``--out-dir`` (``build/rehearse-deploy/``).
Exit status: 0 safe in this order; 1 a phase had errors, a migration failed, or an application query waited for a
lock longer than the project's ceiling (``migrations/policy.toml``); 2 the rehearsal could not be set up.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dev.cli import run
from dev.emulator.settings import SettingsError
from dev.guard import RemoteDatabaseError
from dev.migration_policy import PolicyError
from dev.postgres import PostgresError

from . import chart, report
from .git_base import GitError
from .plan import ORDERS
from .rehearsal import rehearse_deploy
from .run import Options
from .versions import DeployRehearsalError

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m dev.rehearse_deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="the git ref production runs (default: the merge base with main, else HEAD~1)")
    parser.add_argument("--order", choices=ORDERS, default="update-first", help="default: %(default)s (ours)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=2000, help="rows per large table (default: %(default)s)")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds of traffic per phase (default: %(default)s)")
    parser.add_argument(
        "--long-tx",
        type=float,
        default=0.0,
        help="hold a read transaction this long across the migration, on every table as a backup does (default: none)",
    )
    parser.add_argument("--long-tx-table", help="the one table the long transaction reads (a report query)")
    parser.add_argument("--stage", default="local", help="the stage whose function is served (default: local)")
    parser.add_argument("--limits-from", default="production", help="whose timeout and memory apply")
    parser.add_argument("--traffic", default="dev.app_traffic", help="the traffic profile module")
    parser.add_argument("--concurrency", type=int, default=4, help="Lambda environments per version (default: 4)")
    parser.add_argument("--project-dir", type=Path, default=ROOT, help="the Zappa project, a git checkout")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a local server for the scratch database (default: $DATABASE_URL, else an embedded cluster)",
    )
    parser.add_argument("--out-dir", type=Path, help="default: build/rehearse-deploy in the project")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.rows < 1 or args.hold < 0 or args.long_tx < 0 or args.concurrency < 1:
        parser.error("--rate must be above 0, --rows and --concurrency at least 1, --hold and --long-tx not negative")
    project = args.project_dir.resolve()
    return Options(
        project_dir=project,
        out_dir=args.out_dir or project / "build" / "rehearse-deploy",
        base=args.base,
        order=args.order,
        rate=args.rate,
        rows=args.rows,
        hold=args.hold,
        long_tx=args.long_tx,
        long_tx_table=args.long_tx_table,
        serve_stage=args.stage,
        limits_from=args.limits_from,
        traffic=args.traffic,
        database_url=args.database_url,
        concurrency=args.concurrency,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    try:
        run = rehearse_deploy(options)
    except (DeployRehearsalError, GitError, SettingsError, RemoteDatabaseError, PostgresError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    png = chart.draw(run, options.out_dir / "timeline.png")
    stats, result = report.write(run, options.out_dir, png.name)
    print(f"\nDeploy rehearsal, {options.order}: BASE {run.base.describe()} -> the working tree\n")
    print(report.table(stats))
    print()
    for line in report._migration_lines(run):
        print(line)
    print(f"\n{'Safe' if result.safe else 'NOT safe'}: {result.text}\n")
    print(f"Report: {options.out_dir / 'report.md'}\nJSON: {options.out_dir / 'report.json'}\nChart: {png}")
    return 0 if result.safe else 1


if __name__ == "__main__":
    run(main)

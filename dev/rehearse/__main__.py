"""``python -m dev.rehearse``: ``make rehearse STAGE=production ROWS=1000000``.

Prints the per-revision table (seconds at each row count, the longest blocking lock, peak memory, commits, the
projection against the stage's timeout) and the verdict for the PR, and writes ``rehearse.md`` (the same, in
Markdown), ``rehearse.png`` (the chart) and the emulator logs into ``--out-dir``. Progress goes to stderr.
Exit status: 0 when every revision finished in one invocation, 1 when one failed, did not finish, a stopped one
left the database inconsistent or one destroyed data ``migrations/policy.toml`` does not declare (data loss), 2 on
bad arguments or set-up.
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
from dev.table_seeder import ProgressLine

from . import chart, report
from .function import stage_limits
from .rehearsal import rehearse

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.rehearse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="production", help="whose timeout and memory apply (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per large table at the largest size")
    parser.add_argument("--points", type=int, default=3, help="row counts measured, N/10 .. N (default: 3)")
    parser.add_argument(
        "--timeout-seconds", type=int, help="a deliberately shorter timeout than the stage's: see a kill and a resume"
    )
    parser.add_argument("--serve-stage", default="local", help="the stage whose function runs (default: local)")
    parser.add_argument("--project-dir", type=Path, default=ROOT, help="the Zappa project (default: this one)")
    parser.add_argument("--settings", type=Path, default=Path("zappa_settings.json"), help="relative to the project")
    parser.add_argument("--migrations-dir", type=Path, help="another migrations directory (MIGRATIONS_DIR)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a local server to create scratch databases on (default: $DATABASE_URL, else an embedded cluster)",
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "build" / "rehearse", help="table, chart, logs")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.points < 1:
        parser.error("--rows and --points must be at least 1")
    if args.timeout_seconds is not None and args.timeout_seconds < 1:
        parser.error("--timeout-seconds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    project = args.project_dir.resolve()
    settings = args.settings if args.settings.is_absolute() else project / args.settings
    try:
        limits = stage_limits(settings, args.stage, args.timeout_seconds)
        result = rehearse(
            project,
            settings,
            limits,
            args.rows,
            points=args.points,
            serve_stage=args.serve_stage,
            database_url=args.database_url,
            migrations_dir=args.migrations_dir,
            work_dir=args.out_dir,
            progress=ProgressLine(sys.stderr),
        )
    except (SettingsError, RemoteDatabaseError, PostgresError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    png = chart.draw(result, args.out_dir / "rehearse.png")
    (args.out_dir / "rehearse.md").write_text(report.format_markdown(result, chart=png.name))
    print(f"\nRehearsal through Lambda, {limits.describe()}, serving the {args.serve_stage} stage's function\n")
    print(report.format_table(result))
    for line in report.stop_lines(result):
        print(f"\n{line}")
    print(f"\n{report.verdict(result)}\n\n{report.footnote(result)}")
    print(f"\nChart: {png}\nMarkdown: {args.out_dir / 'rehearse.md'}")
    bad = [s for s in result.steps if s.error or not s.finished_in_one]
    unsafe = [s for s in result.steps if s.after_stop is not None and not s.after_stop.consistent]
    return 1 if bad or unsafe or result.undeclared_losses() else 0


if __name__ == "__main__":
    run(main)

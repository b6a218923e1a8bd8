"""``python -m dev.package_check``: see the package docstring."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from contextlib import suppress
from pathlib import Path

from dev.cli import run

from . import DEFAULT_VENV, Check, PackageCheckError, package_check, set_writable
from . import __doc__ as PACKAGE_DOC


def format_report(checks: list[Check], stage: str) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"package-check, stage {stage}:"]
    for check in checks:
        lines.append(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name:<{width}}  {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    lines.append("package-check: " + (f"FAILED ({', '.join(failed)})" if failed else "the package runs as deployed"))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.package_check", description=PACKAGE_DOC.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="the zappa_settings.json stage to package (default: dev)")
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="where `zappa package` runs")
    parser.add_argument(
        "--venv", type=Path, help=f"venv with requirements.txt only (default: <project>/{DEFAULT_VENV})"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a scratch database is created on this server (default: $DATABASE_URL, else embedded)",
    )
    parser.add_argument("--zip", type=Path, help="check this package instead of building one")
    parser.add_argument("--work-dir", type=Path, help="where the package is unpacked (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (package, emulator log) afterwards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    project_dir = args.project_dir.resolve()
    venv = (args.venv or project_dir / DEFAULT_VENV).resolve()
    if args.work_dir:
        work_dir = args.work_dir.resolve()
        if work_dir.exists():
            set_writable(work_dir, True)
            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True)
    else:
        work_dir = Path(tempfile.mkdtemp(prefix="package-check-"))
    try:
        checks = package_check(
            project_dir, args.stage, venv, work_dir, args.database_url, args.zip.resolve() if args.zip else None
        )
    except PackageCheckError as exc:
        print(f"package-check: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"package-check: work dir kept: {work_dir} (package/, emulator.log)")
        else:
            with suppress(OSError):
                set_writable(work_dir, True)
            shutil.rmtree(work_dir, ignore_errors=True)
    print(format_report(checks, args.stage))
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    run(main)

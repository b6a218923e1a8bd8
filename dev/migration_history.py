"""The README's "Migration history" table, generated from Alembic's ScriptDirectory so it cannot drift.

    python -m dev.migration_history            # rewrite the table in README.md from migrations/versions
    python -m dev.migration_history --check    # exit 1 when the table is out of date (what the tests check)

One row per revision, oldest first: the id and the first line of its docstring, both from the revision files,
and a notes column that people write (what the revision exercises, why it is shaped that way). Regenerating
keeps each revision's notes, adds a row with empty notes for a new revision and drops rows of revisions that are
gone. ``make new-migration`` runs it after writing a revision, so the table follows the history by itself.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from dev.cli import run

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- migration-history: generated from migrations/versions by `make migration-history`; edit only Notes -->"
END = "<!-- /migration-history -->"
HEADER = ("| Revision | Message | Notes |", "|---|---|---|")


class HistoryTableError(RuntimeError):
    """The README has no generated table to update; the message says what to add."""


def revisions(migrations_dir: Path | str) -> list[tuple[str, str]]:
    """(revision id, first line of its docstring), oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrations_dir))
    return [
        (s.revision, ((s.doc or "").strip().splitlines() or [""])[0]) for s in reversed(list(script.walk_revisions()))
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _section(readme: str) -> tuple[int, int]:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise HistoryTableError(
            f"README.md has no generated migration table: put the two lines\n{BEGIN}\n{END}\nwhere it belongs, "
            "then run `make migration-history`"
        )
    return start + len(BEGIN), end


def notes(readme: str) -> dict[str, str]:
    """The notes column of the current table, by revision id."""
    start, end = _section(readme)
    found = {}
    for line in readme[start:end].splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`"):
            found[cells[0].strip("`")] = cells[2]
    return found


def render(readme: str, migrations_dir: Path | str) -> str:
    """``readme`` with its table regenerated from ``migrations_dir`` (notes kept by revision id)."""
    start, end = _section(readme)
    kept = notes(readme)
    rows = [f"| `{rev}` | {_cell(message)} | {kept.get(rev, '')} |" for rev, message in revisions(migrations_dir)]
    table = "\n".join(["", *HEADER, *rows, ""])
    return readme[:start] + table + readme[end:]


def update_readme(project_dir: Path = PROJECT_ROOT) -> bool:
    """Regenerate ``project_dir/README.md``'s table from ``project_dir/migrations``; True when it changed."""
    path = project_dir / "README.md"
    before = path.read_text()
    after = render(before, project_dir / "migrations")
    if after != before:
        path.write_text(after)
    return after != before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.migration_history", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project-dir", type=Path, default=PROJECT_ROOT, help="checkout holding README.md")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the table is out of date")
    args = parser.parse_args(argv)
    try:
        readme = (args.project_dir / "README.md").read_text()
        wanted = render(readme, args.project_dir / "migrations")
    except HistoryTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if wanted != readme:
            print(
                "error: README.md's migration history table does not match migrations/versions: run "
                "`make migration-history` and commit README.md",
                file=sys.stderr,
            )
            return 1
        return 0
    changed = update_readme(args.project_dir)
    print("README.md: migration history table updated" if changed else "README.md: migration history table is current")
    return 0


if __name__ == "__main__":
    run(main)

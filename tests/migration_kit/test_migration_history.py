"""dev/migration_history.py: the README's migration table follows Alembic's ScriptDirectory.

The generator is checked on the widgets fixture history; the drift check on the project itself (README.md against
migrations/versions) is a check of the team's history: tests/migrations/test_history_table.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dev import migration_history
from dev.migration_history import BEGIN, END, HEADER
from tests.support.fixture_history import chain_of
from tests.support.paths import HISTORIES

HISTORY = HISTORIES / "widgets"


def _readme(rows: list[str]) -> str:
    return "\n".join(["# x", "", BEGIN, *HEADER, *rows, END, "", "## after"]) + "\n"


def test_new_revisions_get_rows_notes_are_kept_and_gone_revisions_dropped() -> None:
    chain = chain_of(HISTORY)
    before = _readme([f"| `{chain[0]}` | old message | the first, kept |", "| `0ld0ld0ld0ld` | gone | dropped |"])
    after = migration_history.render(before, HISTORY)
    assert migration_history.notes(after) == {chain[0]: "the first, kept", **{r: "" for r in chain[1:]}}
    assert f"| `{chain[0]}` | create widgets | the first, kept |" in after
    assert "0ld0ld0ld0ld" not in after
    assert after.startswith("# x\n") and after.endswith(f"{END}\n\n## after\n")
    assert migration_history.render(after, HISTORY) == after  # stable


def test_check_fails_on_drift_and_update_fixes_it(tmp_path: Path, capsys) -> None:
    project = tmp_path / "project"
    (project / "migrations").mkdir(parents=True)
    (project / "migrations" / "versions").symlink_to(HISTORY / "versions")
    (project / "README.md").write_text(_readme([]))
    assert migration_history.main(["--project-dir", str(project), "--check"]) == 1
    assert "run `make migration-history`" in capsys.readouterr().err
    assert migration_history.main(["--project-dir", str(project)]) == 0
    assert migration_history.main(["--project-dir", str(project), "--check"]) == 0
    assert list(migration_history.notes((project / "README.md").read_text())) == chain_of(HISTORY)


def test_a_readme_without_the_table_says_what_to_add(tmp_path: Path) -> None:
    with pytest.raises(migration_history.HistoryTableError, match="make migration-history"):
        migration_history.render("# no table here\n", HISTORY)

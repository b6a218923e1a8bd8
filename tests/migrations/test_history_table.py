"""README.md's migration history table lists exactly the revisions of migrations/versions (the generator itself is
tested in tests/migration_kit/test_migration_history.py)."""

from __future__ import annotations

from dev import migration_history
from tests.support.fixture_history import REPO_ROOT, chain_of


def test_readme_table_matches_the_projects_revisions() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert migration_history.render(readme, REPO_ROOT / "migrations") == readme, (
        "README.md's migration history table does not match migrations/versions: run `make migration-history`"
    )
    assert list(migration_history.notes(readme)) == chain_of(REPO_ROOT / "migrations")

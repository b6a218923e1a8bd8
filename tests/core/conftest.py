"""The migration helpers and run.py are tested on a small history of their own (the widgets history), never on the
shipped one: the team adds revisions every week, and these tests must not notice.

``tests/examples/histories/widgets`` holds five revisions over two tables (a table, an enum type with a second
table, a column, an index built CONCURRENTLY, a rename) and an env.py with the models they build, so
``migrator.check()`` has something to compare. It is assembled with the project's alembic.ini, env.py and template
(tests/support/fixture_history.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fixture_history import assemble, chain_of
from tests.support.paths import HISTORIES

HISTORY = HISTORIES / "widgets"


@pytest.fixture
def history_dir(tmp_path: Path) -> Path:
    """A complete migrations directory holding the fixture history, private to this test."""
    return assemble(tmp_path / "migrations", HISTORY / "versions", env=HISTORY / "env.py")


@pytest.fixture(scope="session")
def revisions() -> list[str]:
    """The fixture history's revision ids, oldest first."""
    return chain_of(HISTORY)


@pytest.fixture
def fresh_app(make_app, history_dir: Path):
    """An app on this test's empty database whose migrations are the fixture history."""
    return make_app(MIGRATIONS_DIR=str(history_dir))

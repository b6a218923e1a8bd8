"""Data round-trip and exact schema restore, for every revision of the history under test (see migration_roundtrip)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from history_under_test import migrations_dir
from migration_roundtrip import roundtrip
from shipped_history import AFTER_UPGRADE


def _revisions() -> list[tuple[str, str | None]]:
    script = ScriptDirectory(migrations_dir())
    return [(s.revision, s.down_revision) for s in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize(("revision", "down_revision"), _revisions(), ids=[r for r, _ in _revisions()])
def test_revision_round_trips_with_data(migrations_app, revision: str, down_revision: str | None) -> None:
    report = roundtrip(revision, down_revision, after_upgrade=AFTER_UPGRADE.get(revision))
    if down_revision is not None:
        assert report.seeded, "nothing was seeded at the parent revision: the round-trip proved nothing"


def test_roundtrip_compares_values_not_counts(migrations_app) -> None:
    """The checker itself: a value changed behind the migration's back must be reported, naming the column."""
    from migration_roundtrip import _compare_rows, read_data

    from dev.table_seeder import seed_empty_tables
    from yt_pubsub_handler.extensions import db

    with db.engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, note text)"))
        seed_empty_tables(conn, 10)
        before = {t.name: t for t in read_data(conn).values()}
        conn.execute(sa.text("UPDATE items SET title = title || '!' WHERE id = (SELECT min(id) FROM items)"))
        conn.commit()
        after = {t.name: t for t in read_data(conn).values()}
    pairs = [(a, a) for a in before["items"].columns]
    problems = _compare_rows("check", before["items"], after["items"], pairs)
    assert len(problems) == 1 and "items.title" in problems[0]


def test_data_checks_name_revisions_of_the_history() -> None:
    """A per-revision data check (tests/shipped_history.py) for a revision the project does not have is stale."""
    from fixture_history import PROJECT_MIGRATIONS, chain_of

    stale = set(AFTER_UPGRADE) - set(chain_of(PROJECT_MIGRATIONS))
    assert not stale, f"tests/shipped_history.py checks revisions that are not in migrations/versions: {stale}"

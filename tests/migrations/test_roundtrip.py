"""Data round-trip and exact schema restore, for every revision of the history under test (see migration_roundtrip)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from conftest import migrations_dir
from migration_roundtrip import roundtrip
from sqlalchemy.engine import Connection


def _revisions() -> list[tuple[str, str | None]]:
    script = ScriptDirectory(migrations_dir())
    return [(s.revision, s.down_revision) for s in reversed(list(script.walk_revisions()))]


def _author_backfilled(conn: Connection) -> None:
    """102c44494659 fills videos.author from the channel title, or the channel id when the title is NULL or ''."""
    wrong = conn.execute(
        sa.text(
            "SELECT v.id, v.author, c.title FROM videos v JOIN channels c ON c.id = v.channel_id "
            "WHERE v.author IS DISTINCT FROM COALESCE(NULLIF(c.title, ''), v.channel_id)"
        )
    ).all()
    conn.commit()
    assert not wrong, f"102c44494659 backfilled videos.author wrongly: {wrong[:3]}"


# What a revision does to existing data, checked after both of its upgrades.
AFTER_UPGRADE = {"102c44494659": _author_backfilled}


@pytest.mark.parametrize(("revision", "down_revision"), _revisions(), ids=[r for r, _ in _revisions()])
def test_revision_round_trips_with_data(migrations_app, revision: str, down_revision: str | None) -> None:
    report = roundtrip(revision, down_revision, after_upgrade=AFTER_UPGRADE.get(revision))
    if down_revision is not None:
        assert report.seeded, "nothing was seeded at the parent revision: the round-trip proved nothing"


def test_roundtrip_compares_values_not_counts(migrations_app) -> None:
    """The checker itself: a value changed behind the migration's back must be reported, naming the column."""
    from migration_roundtrip import _compare_rows, read_data

    from dev.table_seeder import seed_empty_tables
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    migrator.upgrade()
    with db.engine.connect() as conn:
        seed_empty_tables(conn, 10)
        before = {t.name: t for t in read_data(conn).values()}
        conn.execute(sa.text("UPDATE videos SET title = title || '!' WHERE id = (SELECT min(id) FROM videos)"))
        conn.commit()
        after = {t.name: t for t in read_data(conn).values()}
    pairs = [(a, a) for a in before["videos"].columns]
    problems = _compare_rows("check", before["videos"], after["videos"], pairs)
    assert len(problems) == 1 and "videos.title" in problems[0]

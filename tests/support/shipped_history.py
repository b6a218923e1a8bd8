"""Facts about the shipped migration history, in one place: nothing else in the tests names a shipped revision.

The tooling is tested on fixture histories (tests/support/fixture_history.py); the generic checks (pytest-alembic, the
data round trip, squawk, the Lambda path, the lock report) derive the revisions from Alembic's ScriptDirectory.
What remains is what only a person can say about one revision: what it does to existing data. Each entry is
keyed by revision id and checked in that revision's own round trip (tests/migrations/test_roundtrip.py), so it
keeps holding as revisions are added after it; an entry naming a revision the history lacks fails
tests/migrations/test_roundtrip.py::test_data_checks_name_revisions_of_the_history.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection


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


# What a revision does to existing data, checked after both upgrades of its round trip.
AFTER_UPGRADE: dict[str, Callable[[Connection], None]] = {"102c44494659": _author_backfilled}

"""Every way of not reaching the database is the migrator's clear ``DatabaseUnreachableError``, not a driver error.

The Docker sandbox found the case: with the ``db`` container stopped, its name leaves the compose network's DNS and
libpq says ``could not translate host name "db"``, which named no connection. Whatever connecting raises means the
server is not reachable. ``.invalid`` is a name no resolver answers (RFC 6761).
"""

from __future__ import annotations

import pytest

from dev.ports import free_port
from yt_pubsub_handler import migrator


@pytest.mark.parametrize(
    ("host", "driver_words"),
    [
        ("no-such-host.invalid", 'could not translate host name "no-such-host.invalid"'),
        ("127.0.0.1:{closed}", "Connection refused"),
    ],
)
def test_a_database_that_cannot_be_reached_is_named_and_says_what_to_do(make_app, host, driver_words):
    address = host.format(closed=free_port())
    app = make_app(DATABASE_URL=f"postgresql://postgres@{address}/nope", DB_CONNECT_TIMEOUT=2)
    with app.app_context(), pytest.raises(migrator.DatabaseUnreachableError) as caught:
        migrator.current()
    message = str(caught.value)
    assert message.startswith(f"cannot reach the database at postgresql+psycopg2://postgres@{address}/nope: ")
    assert driver_words in message and "`make up`" in message

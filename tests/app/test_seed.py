"""dev/seed.py against the app served over real HTTP: subscriptions verified through the callback, signed posts."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from dev import seed


@pytest.fixture
def live_base_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_seed_goes_through_the_http_front(live_base_url, migrated_database_url, query, capsys) -> None:
    argv = ["--base-url", live_base_url, "--channels", "2", "--videos", "3", "--database-url", migrated_database_url]
    assert seed.main([*argv, "--secret", "test-secret"]) == 0
    out = capsys.readouterr().out
    assert out.count("subscribed: ") == 2 and out.count("notified: ") == 2 and "done: 2 channels, 6 videos" in out
    assert query("SELECT channel_id, state, verified_at IS NOT NULL FROM subscriptions ORDER BY 1") == [
        ("UCseed000000000000000001", "active", True),
        ("UCseed000000000000000002", "active", True),
    ]
    assert query("SELECT count(*), count(DISTINCT channel_id) FROM videos") == [(6, 2)]
    # Idempotent: a second run updates nothing and still succeeds.
    assert seed.main([*argv, "--secret", "test-secret"]) == 0
    assert "0 upserted, 3 unchanged" in capsys.readouterr().out
    assert query("SELECT count(*) FROM videos") == [(6,)]


def test_seed_with_the_wrong_secret_fails_and_says_why(live_base_url, migrated_database_url, query, capsys) -> None:
    argv = ["--base-url", live_base_url, "--channels", "1", "--videos", "1", "--database-url", migrated_database_url]
    assert seed.main([*argv, "--secret", "not-the-servers-secret"]) == 1
    assert "same WEBSUB_SECRET" in capsys.readouterr().err
    assert query("SELECT count(*) FROM videos") == [(0,)]


def test_seed_without_a_server_fails_fast(database_url, capsys) -> None:
    code = seed.main(["--base-url", "http://127.0.0.1:9", "--database-url", database_url, "--secret", "s"])
    assert code == 1
    assert "start the app first" in capsys.readouterr().err


def test_seed_needs_database_url(monkeypatch, capsys) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert seed.main(["--secret", "s"]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err

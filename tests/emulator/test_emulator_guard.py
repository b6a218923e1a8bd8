"""The emulator refuses to pass a shared database to the functions (dev/guard.py)."""

from __future__ import annotations

import pytest

from dev.emulator.__main__ import main


def test_remote_database_url_is_refused_before_anything_listens(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db.prod.example.com:5432/app")
    monkeypatch.delenv("SANDBOX_ALLOW_REMOTE_DB", raising=False)
    assert main(["--port", "1", "--api-port", "2"]) == 2
    err = capsys.readouterr().err
    assert "db.prod.example.com" in err and "reviewed PR" in err and "pw" not in err


@pytest.mark.parametrize("settings", ["missing.json"])
def test_missing_settings_is_a_clear_error(monkeypatch, capsys, settings):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5/x")
    assert main(["--settings", settings]) == 2
    assert "not found" in capsys.readouterr().err

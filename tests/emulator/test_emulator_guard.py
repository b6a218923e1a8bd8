"""The emulator refuses to pass a shared database to the functions (dev/guard.py), before anything listens.

Run as a real process through the client, so a broken guard fails fast (the emulator answering /health is the
failure) instead of hanging: the old in-process form bound port 1, which root may do, and then served forever.
"""

from __future__ import annotations

import os
from pathlib import Path

from emulator_harness import FIXTURE_PROJECT, copy_project, free_port, start_refused

from dev.emulator.__main__ import main


def test_remote_database_url_is_refused_before_anything_listens(tmp_path: Path) -> None:
    project = copy_project(FIXTURE_PROJECT, tmp_path / "project", free_port())
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_ALLOW_REMOTE_DB"}
    env["DATABASE_URL"] = "postgresql://app:pw@db.prod.example.com:5432/app"

    refusal = start_refused(log=tmp_path / "emulator.log", project_dir=project, env=env)

    assert refusal.returncode == 2
    assert "db.prod.example.com" in refusal.log and "reviewed PR" in refusal.log
    assert "pw" not in refusal.log
    assert "Lambda Invoke API on" not in refusal.log
    assert not (project / ".runtime").exists(), "the guard must act before the settings are even rendered"


def test_missing_settings_is_a_clear_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5/x")
    assert main(["--settings", "missing.json", "--port", str(free_port()), "--api-port", str(free_port())]) == 2
    assert "not found" in capsys.readouterr().err

"""The emulator refuses to pass a shared database to the functions (dev/guard.py), before anything listens.

Run as a real process through the client, so a broken guard fails fast (the emulator answering /health is the
failure) instead of hanging: the old in-process form bound port 1, which root may do, and then served forever.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dev.emulator.__main__ import main
from dev.guard import ALLOW_VARIABLE, RemoteDatabaseError, check_variables
from tests.support.emulator_harness import FIXTURE_PROJECT, copy_project, free_port, start_refused


@pytest.mark.emulator
def test_remote_database_url_is_refused_before_anything_listens(tmp_path: Path) -> None:
    project = copy_project(FIXTURE_PROJECT, tmp_path / "project", free_port())
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_ALLOW_REMOTE_DB"}
    env["DATABASE_URL"] = "postgresql://app:pw@db.prod.example.com:5432/app"

    refusal = start_refused(log=tmp_path / "emulator.log", project_dir=project, env=env)

    assert refusal.returncode == 2
    assert "db.prod.example.com" in refusal.log and "reviewed PR" in refusal.log
    assert "pw" not in refusal.log
    assert "Lambda Invoke API on" not in refusal.log
    assert sorted(p.name for p in project.iterdir()) == sorted(p.name for p in FIXTURE_PROJECT.iterdir())


def test_missing_settings_is_a_clear_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5/x")
    assert main(["--settings", "missing.json", "--port", str(free_port()), "--api-port", str(free_port())]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("mysql+pymysql://u:secret@db.prod.example.com/app", "db.prod.example.com"),
        ("postgres://u:secret@10.1.2.3:5432/app", "10.1.2.3"),
        ("mariadb://u@maria.internal/app", "maria.internal"),
        ("mongodb+srv://u:secret@cluster0.abcde.mongodb.net/app", "cluster0.abcde.mongodb.net"),
        ("rediss://:secret@cache.example.com:6380/0", "cache.example.com"),
        ("mssql+pyodbc://u:secret@sql.example.com/app?driver=ODBC", "sql.example.com"),
        ('{"default": "postgresql://u:secret@replica.example.com/app"}', "replica.example.com"),
    ],
)
def test_any_variable_holding_a_remote_database_url_is_refused(value: str, host: str) -> None:
    """By value, whatever the name and the scheme; the message names the variable and host, never the password."""
    with pytest.raises(RemoteDatabaseError) as caught:
        check_variables({"WHATEVER_NAME": value}, "stage 'dev'", environ={})
    message = str(caught.value)
    assert f"refusing WHATEVER_NAME with host {host} (from stage 'dev')" in message
    assert "secret" not in message
    assert "run.run_alembic" not in message and "make status" not in message, "neutral about the project"


@pytest.mark.parametrize(
    "value",
    [
        "mysql://root@127.0.0.1:3306/app",
        "mysql+pymysql://root@localhost/app?unix_socket=/var/run/mysqld/mysqld.sock",
        "postgresql://u@/app?host=/tmp",
        "sqlite:////tmp/app.db",
        "redis://localhost:6379/0",
        "https://api.example.com/v1",  # not a database
        "just text",
    ],
)
def test_local_databases_and_other_values_pass(value: str) -> None:
    check_variables({"X": value}, "stage 'dev'", environ={})


def test_the_override_lets_a_remote_value_through_on_purpose() -> None:
    check_variables({"DB": "mysql://u@db.example.com/x"}, "s", environ={ALLOW_VARIABLE: "1"})


@pytest.mark.emulator
def test_a_passed_variable_with_a_remote_database_under_any_name_stops_the_emulator(tmp_path: Path) -> None:
    project = copy_project(FIXTURE_PROJECT, tmp_path / "project", free_port())
    env = {k: v for k, v in os.environ.items() if k != ALLOW_VARIABLE}
    env["POSTGRES_URL"] = "postgresql://app:pw@db.staging.example.com/app"
    refusal = start_refused("--pass-env", "POSTGRES_URL", log=tmp_path / "emulator.log", project_dir=project, env=env)
    assert refusal.returncode == 2
    assert "refusing POSTGRES_URL with host db.staging.example.com (from --pass-env" in refusal.log


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_HOST", "myapp-prod.cluster-abc123.eu-west-1.rds.amazonaws.com"),  # Django's split settings
        ("PGHOST", "10.0.3.7"),
        ("DB_HOST", "db.staging.example.com:5432"),
        ("POSTGRES_HOST", "replica.internal,127.0.0.1"),
        ("DB_HOSTNAME", "mysql.example.com"),
    ],
)
def test_a_variable_named_like_a_host_that_names_another_machine_is_refused(name: str, value: str) -> None:
    """Split settings carry no URL: the name says host, so the value must be this machine or a sandbox service."""
    with pytest.raises(RemoteDatabaseError) as caught:
        check_variables({"DATABASE_NAME": "app", name: value, "DATABASE_PORT": "5432"}, "stage 'dev'", environ={})
    message = str(caught.value)
    assert message.startswith(f"refusing {name} with host "), message
    assert f"Set {name} to 127.0.0.1" in message and f"--pass-env {name}" in message, message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_HOST", "127.0.0.1"),
        ("DATABASE_HOST", "localhost"),
        ("PGHOST", "/var/run/postgresql"),
        ("DB_HOST", "db"),  # the compose service
        ("HUB_HOST", "hub:9999"),
        ("REDIS_HOST", "[::1]:6379"),
        ("DATABASE_HOST", ""),
        ("ALLOWED_HOSTS", "api.example.com"),  # Django's ALLOWED_HOSTS is not a host to connect to
        ("DATABASE_NAME", "prod.example.com"),
    ],
)
def test_host_variables_on_this_machine_and_other_names_pass(name: str, value: str) -> None:
    check_variables({name: value}, "stage 'dev'", environ={})

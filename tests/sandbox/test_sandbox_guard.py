"""dev/guard.py: the harness only ever migrates databases on this machine (or the compose `db`)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dev import services
from dev.guard import ALLOW_VARIABLE, RemoteDatabaseError, check_database_url

LOCAL = [
    "postgresql://postgres@127.0.0.1:5433/yt_pubsub",
    "postgresql+psycopg2://postgres:postgres@localhost/yt_pubsub",
    "postgres://u:p@127.0.0.2:5432/db",
    "postgresql://u@[::1]:5432/db",
    "postgresql://u@/db",  # libpq default: the local Unix socket
    "postgresql://u@/db?host=/var/run/postgresql",
    "postgresql://u@%2Fvar%2Frun%2Fpostgresql/db",
    "postgresql://postgres:postgres@db:5432/yt_pubsub",  # the compose service
    "postgresql://u@LOCALHOST.:5432/db",
    services.database_url(),
    services.compose_database_url(),
]

REMOTE = [
    ("postgresql://app:secret@prod-db.abc123.us-east-1.rds.amazonaws.com:5432/yt", "prod-db.abc123"),
    ("postgresql://u@10.0.0.5/db", "10.0.0.5"),
    ("postgresql://u@192.168.1.20:5432/db", "192.168.1.20"),
    ("postgresql://u@localhost.evil.example/db", "localhost.evil.example"),
    ("postgresql://u@127.0.0.1,replica.example.com/db", "replica.example.com"),
    ("postgresql://u@/db?host=staging.example.com", "staging.example.com"),
    ("postgresql://u@database:5432/db", "database"),  # not the compose service name
]


@pytest.mark.parametrize("url", LOCAL)
def test_local_urls_pass(url):
    check_database_url(url, environ={})


@pytest.mark.parametrize(("url", "host"), REMOTE)
def test_remote_urls_are_refused_with_the_reason(url, host):
    with pytest.raises(RemoteDatabaseError) as caught:
        check_database_url(url, environ={})
    message = str(caught.value)
    assert host in message
    assert "reviewed PR" in message and "zappa invoke" in message
    assert ALLOW_VARIABLE in message
    assert "secret" not in message  # the password never ends up in a terminal or CI log


def test_override_allows_a_remote_database_on_purpose():
    url = REMOTE[0][0]
    check_database_url(url, environ={ALLOW_VARIABLE: "1"})
    with pytest.raises(RemoteDatabaseError):
        check_database_url(url, environ={ALLOW_VARIABLE: "yes"})  # only the documented value counts


def test_not_a_postgres_url_is_an_error():
    with pytest.raises(ValueError, match="PostgreSQL URL"):
        check_database_url("mysql://u@127.0.0.1/db", environ={})


BYTECODE_VARIABLES = ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dev.guard", *args],
        capture_output=True,
        text=True,
        cwd=services.PROJECT_ROOT,
        # Where bytecode goes (the Makefile's prefix): a bare environment would write __pycache__ into the checkout.
        env={**{k: v for k, v in os.environ.items() if k in BYTECODE_VARIABLES}, **env},
        timeout=30,
    )


def test_cli_checks_database_url_from_the_environment():
    base = {"PATH": "/usr/bin:/bin"}
    refused = _cli(env={**base, "DATABASE_URL": REMOTE[0][0]})
    assert refused.returncode == 2
    assert "refusing DATABASE_URL" in refused.stderr
    assert _cli(env={**base, "DATABASE_URL": LOCAL[0]}).returncode == 0
    assert _cli(env=base).returncode == 0  # nothing set: nothing to check
    assert _cli(REMOTE[1][0], env={**base, ALLOW_VARIABLE: "1"}).returncode == 0
    assert _cli(REMOTE[1][0], env=base).returncode == 2

"""dev/postgres.py: the embedded cluster the tests and the sandbox run on."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import psycopg2
import pytest

from dev import postgres
from dev.postgres import EmbeddedPostgres, PostgresError

pytestmark = pytest.mark.db  # every test starts a PostgreSQL cluster of its own


@pytest.fixture
def base_dir():
    base = Path(tempfile.mkdtemp(prefix="yt-pg-launcher-"))
    base.chmod(0o755)
    yield base / "cluster"
    EmbeddedPostgres(base / "cluster").destroy()
    base.rmdir() if base.exists() and not any(base.iterdir()) else None


def test_start_is_idempotent_keeps_data_and_stops_cleanly(base_dir):
    pg = EmbeddedPostgres(base_dir, fast_unsafe=True).start()
    url = pg.url("postgres")
    assert pg.create_database("kept").endswith("/kept")
    again = EmbeddedPostgres(base_dir).start()  # second start: same port, no error
    assert again.port == pg.port
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT inet_server_addr()::text, current_setting('port')")
        host, port = cur.fetchone()
    assert host.startswith("127.0.0.1") and int(port) == pg.port
    assert pg.stop() is True
    assert pg.stop() is False  # stopping a stopped cluster is harmless
    pg.start()
    with psycopg2.connect(pg.url("kept")) as conn:  # data survived the restart
        assert conn.status == psycopg2.extensions.STATUS_READY


def test_port_in_use_is_named(base_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PostgresError, match=f"port {port} .* already in use"):
            EmbeddedPostgres(base_dir, port=port).start()


def test_missing_binaries_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(PostgresError, match="apt-get install postgresql"):
        postgres.find_bindir()


@pytest.mark.skipif(os.geteuid() != 0, reason="the service-user path only exists when running as root")
def test_as_root_an_untraversable_parent_is_explained(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    with pytest.raises(PostgresError, match="not traversable"):
        EmbeddedPostgres(private / "cluster").start()


def test_status_and_stop_on_an_absent_cluster(base_dir):
    absent = EmbeddedPostgres(base_dir)
    assert (absent.status(), absent.stop(), absent.recorded_port()) == (False, False, None)

"""A long read transaction across the migration, as a backup or a report query would hold one.

It takes ACCESS SHARE (``LOCK TABLE ... IN ACCESS SHARE MODE``, what a plain ``SELECT`` takes) on the tables and
keeps its transaction open for ``seconds``, so any DDL on those tables waits for it, and every application query on
them that comes after the DDL waits behind the DDL: the queue a migration without a short ``lock_timeout`` builds.
By default every table of the schema, as ``pg_dump`` locks them all: whichever table a revision changes, it meets
the transaction. ``--long-tx-table`` names one instead (a report query).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import sqlalchemy as sa

from dev import postgres

_TABLES = """
SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname <> 'alembic_version' ORDER BY relname
"""


def all_tables(url: str) -> list[str]:
    with postgres.connect(url) as conn:
        return [name for (name,) in conn.execute(sa.text(_TABLES))]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class LongTransaction:
    url: str
    tables: list[str]
    seconds: float
    pid: int | None = None
    error: str | None = None
    _held: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def describe(self) -> str:
        return self.tables[0] if len(self.tables) == 1 else f"every table ({', '.join(self.tables)})"

    def start(self) -> LongTransaction:
        """Returns once the locks are held (or taking them failed: then ``error`` says why)."""
        if not self.tables:
            self.error = "there is no table to hold"
            return self
        self._thread = threading.Thread(target=self._run, name="long-transaction", daemon=True)
        self._thread.start()
        self._held.wait(60)
        return self

    def _run(self) -> None:
        engine = postgres.engine(self.url)
        try:
            with engine.connect() as conn:
                self.pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
                conn.execute(sa.text(f"LOCK TABLE {', '.join(map(_quoted, self.tables))} IN ACCESS SHARE MODE"))
                self._held.set()
                self._release.wait(self.seconds)
                conn.rollback()
        except sa.exc.DBAPIError as exc:
            self.error = str(exc.orig).strip().splitlines()[0]
        finally:
            self._held.set()
            engine.dispose()

    def end_now(self) -> None:
        self._release.set()
        if self._thread is not None:
            self._thread.join()

"""Runs inside the emulator's Lambda worker, around the project's migration function: what only that process sees.

``make rehearse`` invokes ``dev.rehearse.probe.measured`` instead of ``run.run_alembic_upgrade`` itself, with the
real function's name in the payload. Zappa's handler imports this module from the task root, like any ``module.fn``
command; it calls the real function with the rest of the payload and the real Lambda context, under the stage's
limits, and adds to its result what the rehearsal cannot see from outside:

- every hold of a blocking lock, measured from inside the migrating connection by the lock report's own
  :class:`dev.lock_report.LockRecorder` (listening on every engine of the process: this module does not know the
  app's), on the tables that existed before the call;
- how many transactions the call committed: a revision that commits per batch loses at most one batch to a kill and
  can resume; one that commits once is rolled back whole;
- the server pids of the connections the call used, so lock waits sampled from outside can be told apart.

Why here and not in a second, direct run: the figures then come from the very invocation whose duration and peak
memory the emulator reports, on the same connection, under the same timeout, and the rows are seeded once.
Only :mod:`dev.lock_report` and SQLAlchemy are imported: the worker runs the project's interpreter.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from dev import postgres
from dev.lock_report import LockRecorder, existing_tables

COMMAND_KEYS = ("command", "function")


class CommitCounter:
    """Counts committed transactions on every engine: explicit COMMITs, and each statement run in autocommit; and
    notes the server pid of every connection that ran a statement (the worker runs one invocation at a time, so
    they are the call's: ``make rehearse-deploy`` tells the migration's lock waits from the application's by them).
    """

    def __init__(self) -> None:
        self.commits = 0
        self.pids: set[int] = set()
        self._listeners = [("commit", self._commit), ("after_cursor_execute", self._statement)]

    def __enter__(self) -> CommitCounter:
        for name, fn in self._listeners:
            sa_event.listen(Engine, name, fn)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, fn in self._listeners:
            sa_event.remove(Engine, name, fn)

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if getattr(cursor.connection, "autocommit", False):
            self.commits += 1
        pid = getattr(cursor.connection, "get_backend_pid", None)
        if callable(pid):
            self.pids.add(pid())


def _tables() -> dict[int, str]:
    """The tables that exist now, from ``DATABASE_URL`` (the emulator passes it, as for the function)."""
    with postgres.connect(os.environ["DATABASE_URL"]) as conn:
        return existing_tables(conn)


def measured(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"function": "run.run_alembic_upgrade", ...payload}``: that function's result, its holds and commits."""
    module_name, _, name = str(event.get("function", "")).rpartition(".")
    if not module_name:
        raise ValueError('the payload needs the function to measure: {"function": "run.run_alembic_upgrade"}')
    function = getattr(importlib.import_module(module_name), name)
    payload = {k: v for k, v in event.items() if k not in COMMAND_KEYS}
    with LockRecorder(Engine, _tables()) as recorder, CommitCounter() as counter:  # type: ignore[arg-type]
        result = function(payload, context)
    return {
        "result": result,
        "holds": [dataclasses.asdict(hold) for hold in recorder.holds],
        "commits": counter.commits,
        "pids": sorted(counter.pids),
    }

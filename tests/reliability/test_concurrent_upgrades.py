"""Sixteen developers run ``run.run_alembic_upgrade`` at the same moment, through the emulator, from base.

What must hold (the advisory lock in ``yt_pubsub_handler/migrator.py`` is what makes it hold): every revision is
applied exactly once across all sixteen results, the database ends at head, and every caller gets either the
applied steps or "nothing to do: already at <head>", never a lock timeout, a duplicate-object error or a traceback.

Half of the callers use ``python -m dev.invoke`` (the developer's command), half send the Invoke API request
directly (what boto3 and ``zappa invoke`` send). Several execution environments run at once
(``--max-concurrency``), so the race is between separate processes with their own connection pools, as on Lambda.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from dev.postgres import admin_execute, alembic_version
from tests.support.reliability_harness import (
    APP_FUNCTION,
    Emulator,
    copy_app_project,
    invoke_cli,
    invoke_http,
    revisions,
)

CALLERS = 16


def _call(emulator: Emulator, project: Path, index: int, barrier: threading.Barrier) -> dict[str, Any]:
    """One caller: (via, ok, result dict or None, log text, error text)."""
    barrier.wait(timeout=60)
    if index % 2:
        answer = invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_upgrade"})
        ok = answer.status == 200 and answer.function_error is None
        return {
            "via": "http",
            "ok": ok,
            "result": answer.json() if ok else None,
            "log": answer.log,
            "error": "" if ok else answer.describe(),
        }
    run = invoke_cli(project, emulator.url, "run.run_alembic_upgrade", "--json")
    ok = run.returncode == 0
    return {
        "via": "dev.invoke",
        "ok": ok,
        "result": json.loads(run.stdout) if ok else None,
        "log": run.stderr,  # with --json the log tail goes to stderr
        "error": "" if ok else f"exit {run.returncode}\n{run.stdout}\n{run.stderr}",
    }


def _reset_schema(database_url: str) -> None:
    """Back to base without touching the emulator: its warm environments keep their pooled connections."""
    admin_execute(database_url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")


@pytest.mark.parametrize(
    ("max_concurrency", "rounds"),
    [
        pytest.param(4, 2, id="4-environments-cold-then-warm"),
        pytest.param(16, 5, id="16-environments-5-rounds", marks=pytest.mark.slow),
    ],
)
def test_concurrent_upgrades_apply_every_revision_exactly_once(
    new_database, app_emulators, tmp_path: Path, max_concurrency: int, rounds: int
) -> None:
    database_url = new_database()
    project = copy_app_project(tmp_path / "project")
    emulator = app_emulators(project, database_url, "--max-concurrency", str(max_concurrency), api=False)
    expected = revisions()
    head = expected[-1]

    for round_number in range(rounds):
        if round_number:
            _reset_schema(database_url)
        assert alembic_version(database_url) is None

        barrier = threading.Barrier(CALLERS)
        with ThreadPoolExecutor(CALLERS) as pool:
            futures = [pool.submit(_call, emulator, project, i, barrier) for i in range(CALLERS)]
            outcomes = [future.result() for future in futures]

        failures = [o["error"] for o in outcomes if not o["ok"]]
        assert not failures, (
            f"round {round_number}: {len(failures)} caller(s) failed:\n"
            + "\n---\n".join(failures)
            + f"\n--- the emulator's console (end) ---\n{emulator.console()[-4000:]}"
        )

        applied = [step["revision"] for o in outcomes for step in o["result"]["steps"]]
        assert Counter(applied) == Counter(expected), f"round {round_number}: each revision once, got {applied}"
        appliers = [o for o in outcomes if o["result"]["steps"]]
        assert len(appliers) == 1, "one caller takes the lock and applies everything; the others find head"
        assert [s["revision"] for s in appliers[0]["result"]["steps"]] == expected
        assert appliers[0]["result"]["from_revision"] is None
        for outcome in outcomes:
            result = outcome["result"]
            assert result["action"] == "upgrade" and result["to_revision"] == head
            if not result["steps"]:
                assert result["message"] == f"nothing to do: already at {head}", result
            assert "Traceback" not in outcome["log"], outcome["log"]
            assert "[ERROR]" not in outcome["log"], outcome["log"]
        assert alembic_version(database_url) == head

        cold = sum("Init Duration" in o["log"] for o in outcomes)
        if round_number == 0:
            # Proof that the callers really overlapped: several environments had to be started for them.
            assert 2 <= cold <= max_concurrency, f"{cold} cold starts for {CALLERS} simultaneous callers"
        else:
            assert cold == 0, "later rounds run on the warm environments (and their pooled connections)"

    health = emulator.health()
    assert health["environments"][APP_FUNCTION]["busy"] == 0

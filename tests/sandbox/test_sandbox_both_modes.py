"""One rehearsal, both modes, same result: base -> head -> -1 -> head through the emulator, then ``make seed``.

The rehearsal runs in the embedded mode and in the Docker mode (the session's real-engine stack, see conftest.py);
the invoke results (timings left out), the catalog snapshots (tests/migrations/snapshot.py) and the seeded rows
(clock columns left out, the callback base each mode hands its functions made neutral) must be equal. Both are also
held to the history in migrations/ itself, so an equal-but-wrong pair fails too.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from dev import postgres, services
from dev.postgres import service_tempdir
from tests.support.sandbox_harness import MakeSandbox
from tests.support.snapshot import catalog_snapshot, diff_snapshots

ROOT = services.PROJECT_ROOT

STEPS = (("run.run_alembic_upgrade", None), ("run.run_alembic_downgrade", {"revision": "-1"}))
STEPS += (("run.run_alembic_upgrade", None),)


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key != "ms" and not key.endswith("_ms")}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def _rows(url: str, callback_base: str) -> dict[str, list[tuple]]:
    """Every public table's rows without its clock columns (timestamps), the mode's callback base written as
    <callback> (``http://127.0.0.1:<API_PORT>/websub`` embedded, ``http://lambda:8000/websub`` in Docker)."""
    engine = postgres.engine(url)
    out: dict[str, list[tuple]] = {}
    try:
        with engine.connect() as conn:
            columns = conn.execute(
                sa.text(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND data_type NOT LIKE 'timestamp%' AND table_name <> 'alembic_version' "
                    "ORDER BY table_name, ordinal_position"
                )
            ).all()
            tables: dict[str, list[str]] = {}
            for table, column in columns:
                tables.setdefault(table, []).append(column)
            for table, names in tables.items():
                quoted = ", ".join(f'"{name}"' for name in names)
                rows = conn.execute(sa.text(f'SELECT {quoted} FROM "{table}" ORDER BY {quoted}')).all()
                out[table] = [tuple(str(v).replace(callback_base, "<callback>") for v in row) for row in rows]
    finally:
        engine.dispose()
    return out


def rehearse(box: MakeSandbox) -> dict[str, Any]:
    """The rehearsal on a running sandbox whose database is empty."""
    assert box.sql("select to_regclass('public.alembic_version') is null") == "t", "the rehearsal starts at base"
    results = [_without_timings(box.invoke(function, payload)) for function, payload in STEPS]
    snapshot = catalog_snapshot(box.database_url)
    box.make("seed")
    callback_base = box.function_environment()["WEBSUB_CALLBACK_URL"]
    return {"invokes": results, "snapshot": snapshot, "rows": _rows(box.database_url, callback_base)}


def _check_against_the_history(result: dict[str, Any]) -> None:
    """The rehearsal did what the migrations in the checkout say it must (nothing shipped is pinned here)."""
    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    below = script.get_revision(head).down_revision
    up, down, again = result["invokes"]
    assert (up["from_revision"], up["to_revision"]) == (None, head), up
    assert len(up["steps"]) == len(list(script.walk_revisions())), up
    assert (down["from_revision"], down["to_revision"]) == (head, below), down
    assert (again["from_revision"], again["to_revision"]) == (below, head), again
    assert result["rows"] and any(result["rows"].values()), "make seed stored nothing"
    subscriptions = result["rows"]["subscriptions"]
    callbacks = [value for row in subscriptions for value in row if value.startswith("<callback>/UCseed")]
    assert subscriptions and len(callbacks) == len(subscriptions), subscriptions  # one verified callback each


@pytest.fixture(scope="module")
def embedded_rehearsal() -> Iterator[dict[str, Any]]:
    base = service_tempdir("yt-rehearsal-")
    box = MakeSandbox(ROOT, "embedded", sandbox_dir=base / "sandbox")
    try:
        box.make("up")
        yield rehearse(box)
    finally:
        box.sandbox_cli("down")
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    "mode", [pytest.param("embedded", marks=pytest.mark.emulator), pytest.param("docker", marks=pytest.mark.docker)]
)
def test_the_same_rehearsal_gives_the_same_result_in_both_modes(mode, embedded_rehearsal, request):
    if mode == "embedded":
        result = embedded_rehearsal
    else:
        stack = request.getfixturevalue("docker_stack")
        stack.ensure_up()
        stack.box.make("reset", "FORCE=1")  # an empty database, the sandbox left running
        result = rehearse(stack.box)
    _check_against_the_history(result)
    assert result["invokes"] == embedded_rehearsal["invokes"]
    assert diff_snapshots(embedded_rehearsal["snapshot"], result["snapshot"]) == []
    assert result["rows"] == embedded_rehearsal["rows"]

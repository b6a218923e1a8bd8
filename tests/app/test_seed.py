"""dev/seed.py against the app behind the real emulator and the local hub: the way production fills its tables.

The emulator (``python -m dev.emulator``, Zappa's handler) serves this repository's ``local`` stage on free ports,
with the database, the hub's URL and the callback base handed over as the sandbox does (``--pass-env``). The seed
subscribes through the Invoke API; the hub verifies through the API front and delivers the feeds signed with the
secret the function gave it. Nothing in the seed knows a secret or the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dev import seed
from dev.emulator import client
from dev.emulator.settings import stage_config
from dev.hub import Hub, RunningHub, serve
from dev.ports import free_port

pytestmark = pytest.mark.emulator  # `make seed` goes through the emulator

ROOT = Path(__file__).resolve().parents[2]
PASSED = ("DATABASE_URL", "WEBSUB_HUB_URL", "WEBSUB_CALLBACK_URL")


@pytest.fixture
def local_hub() -> Iterator[RunningHub]:
    with serve(Hub()) as running:  # asynchronous verification, as YouTube's hub
        yield running


@pytest.fixture
def target(app, migrated_database_url: str, local_hub: RunningHub, tmp_path: Path) -> Iterator[seed.Target]:
    """The app's ``local`` stage behind the emulator, pointed at the test database and the local hub."""
    api_port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "ZAPPA_"))}
    env.update(
        DATABASE_URL=migrated_database_url,
        WEBSUB_HUB_URL=local_hub.url,
        WEBSUB_CALLBACK_URL=f"http://127.0.0.1:{api_port}/websub",
    )
    passed = [argument for name in PASSED for argument in ("--pass-env", name)]
    emulator = client.start(
        "--stage", "local", *passed, project_dir=ROOT, api_port=api_port, env=env, log=tmp_path / "emulator.log"
    )
    try:
        name = stage_config(ROOT / "zappa_settings.json", "local").function_name
        yield seed.Target(emulator.api_url, emulator.url, name, local_hub.base_url)
    finally:
        emulator.stop()


def test_seed_subscribes_through_the_lambda_and_notifies_through_the_hub(target, local_hub, query, capsys) -> None:
    summary = seed.seed(target, channels=2, videos=3)
    out = capsys.readouterr().out
    assert out.count("subscribed: ") == 2 and out.count("notified: ") == 2, out
    assert seed.report(summary) == f"done: 2 channels, 6 videos seeded into {target.api_url}"
    assert query("SELECT channel_id, state, lease_seconds, verified_at IS NOT NULL FROM subscriptions ORDER BY 1") == [
        ("UCseed000000000000000001", "active", 432000, True),
        ("UCseed000000000000000002", "active", 432000, True),
    ]
    assert query("SELECT count(*), count(DISTINCT channel_id) FROM videos") == [(6, 2)]
    # The hub holds the subscriptions the function asked for, with the secret it gave: deliveries were signed.
    held = local_hub.hub.subscriptions()
    channels = ["UCseed000000000000000001", "UCseed000000000000000002"]
    assert sorted(s.callback.rsplit("/", 1)[1] for s in held) == channels
    assert all(s.secret and s.callback.startswith(f"{target.api_url}/websub/") for s in held)
    # Idempotent: a second run renews the subscriptions, updates nothing and still succeeds.
    seed.seed(target, channels=2, videos=3)
    assert capsys.readouterr().out.count("0 upserted, 3 unchanged") == 2
    assert query("SELECT count(*) FROM videos") == [(6,)]


def test_a_hub_that_refuses_stops_the_seed_with_the_functions_error(target, local_hub, query) -> None:
    local_hub.hub.refuse_with = 503
    refused = r"subscribing UCseed0+1: run.subscribe_channel failed: HubError: .*answered 503"
    with pytest.raises(seed.SeedError, match=refused):
        seed.seed(target, channels=1, videos=1)
    assert query("SELECT state FROM subscriptions") == [("pending",)]  # committed first, as the app promises
    assert query("SELECT count(*) FROM videos") == [(0,)]


def test_seed_without_a_hub_fails_fast_and_says_to_start_it(target) -> None:
    with pytest.raises(seed.SeedError, match="make up"):
        seed.seed(replace(target, hub_url=f"http://127.0.0.1:{free_port()}"), channels=1, videos=1)


def test_seed_without_a_server_fails_fast(capsys) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    assert seed.main(["--api-url", closed, "--invoke-url", closed, "--hub-url", closed]) == 1
    assert "start the app first" in capsys.readouterr().err

"""The real app behind the emulator, on real PostgreSQL: the production call rehearsed locally and unchanged.

Needs the ``database_url`` fixture (a fresh empty database per test, from tests/conftest.py). The emulator serves
this repository with DATABASE_URL passed through (``--pass-env``, its stand-in for ``remote_env``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dev import postgres
from tests.support.emulator_harness import REPO_ROOT, Emulator, cli_env, free_port, start_emulator

pytestmark = pytest.mark.emulator

FUNCTION = "yt-pubsub-handler-local"
ZAPPA = str(Path(sys.executable).with_name("zappa"))


def _revisions() -> tuple[str, str]:
    """(head, the revision below head) from the migration scripts."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(REPO_ROOT / "migrations"))
    head = script.get_current_head()
    return head, script.get_revision(head).down_revision


@pytest.fixture
def app_emulator(database_url: str, tmp_path: Path) -> Iterator[tuple[Emulator, Path]]:
    """The emulator on this repository (free ports) and a copy of zappa_settings.json pointing the CLI at it."""
    port = free_port()
    env = os.environ.copy()
    env["DATABASE_URL"] = database_url
    emulator = start_emulator(REPO_ROOT, port, "--pass-env", "DATABASE_URL", env=env, console_dir=tmp_path)
    settings = json.loads((REPO_ROOT / "zappa_settings.json").read_text())
    settings["local"]["aws_endpoint_urls"] = {"lambda": emulator.url}
    settings_file = tmp_path / "zappa_settings.json"
    settings_file.write_text(json.dumps(settings))
    yield emulator, settings_file
    emulator.stop()


def zappa_invoke(settings_file: Path, command: str) -> subprocess.CompletedProcess:
    """``zappa invoke local COMMAND``: the production command, unchanged, with only the settings file swapped."""
    return subprocess.run(
        [ZAPPA, "invoke", "local", command, "-s", str(settings_file)],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def boto3_invoke(emulator: Emulator, command: str, **payload) -> dict:
    return emulator.invoke(command, function_name=FUNCTION, **payload)


def test_boto3_upgrade_returns_the_helpers_dict_and_alembic_lines(app_emulator, database_url: str) -> None:
    emulator, _ = app_emulator
    head, _ = _revisions()
    response = boto3_invoke(emulator, "run.run_alembic_upgrade")

    assert "FunctionError" not in response, response["Log"]
    assert response["Body"]["action"] == "upgrade"
    assert response["Body"]["to_revision"] == head
    assert "Running upgrade" in response["Log"]
    assert "Init Duration" in response["Log"]
    assert postgres.alembic_version(database_url) == head

    again = boto3_invoke(emulator, "run.run_alembic_current")
    assert again["Body"]["is_head"] is True
    assert "Init Duration" not in again["Log"]  # warm


def test_zappa_cli_upgrade_then_downgrade_one_step(app_emulator, database_url: str) -> None:
    _, settings_file = app_emulator
    head, below = _revisions()

    up = zappa_invoke(settings_file, "run.run_alembic_upgrade")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Running upgrade" in up.stdout
    assert postgres.alembic_version(database_url) == head

    down = zappa_invoke(settings_file, "run.run_alembic_downgrade")
    assert down.returncode == 0, down.stdout + down.stderr
    assert postgres.alembic_version(database_url) == below


def test_zappa_cli_missing_function_exits_1_with_the_traceback(app_emulator) -> None:
    _, settings_file = app_emulator
    run = zappa_invoke(settings_file, "run.no_such_function")

    assert run.returncode == 1
    assert "AttributeError" in run.stdout
    assert "no_such_function" in run.stdout
    assert "Traceback (most recent call last):" in run.stdout
    assert "Unhandled error occurred while invoking command" in run.stdout + run.stderr


def test_signed_websub_notification_through_the_api_front_is_stored(app_emulator, database_url: str) -> None:
    from yt_pubsub_handler.feed import topic_for
    from yt_pubsub_handler.feed_samples import SampleVideo, build_notification, signed_headers

    emulator, _ = app_emulator
    assert "FunctionError" not in boto3_invoke(emulator, "run.run_alembic_upgrade")

    channel_id = "UC" + "a" * 22
    video_id = "dQw4w9WgXcQ"
    engine = postgres.engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("insert into channels (id, title) values (:id, 'fixture')"), {"id": channel_id})
            conn.execute(
                sa.text(
                    "insert into subscriptions (channel_id, topic_url, callback_url, state) "
                    "values (:id, :topic, :callback, 'active')"
                ),
                {"id": channel_id, "topic": topic_for(channel_id), "callback": f"{emulator.api_url}/websub"},
            )
        local_env = json.loads((REPO_ROOT / "zappa_settings.json").read_text())["local"]["environment_variables"]
        body = build_notification([SampleVideo(video_id=video_id, channel_id=channel_id, title="Stored?")])
        request = urllib.request.Request(
            f"{emulator.api_url}/websub/{channel_id}",
            data=body,
            method="POST",
            headers=signed_headers(body, local_env["WEBSUB_SECRET"], channel_id),
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            assert json.loads(response.read())["status"] == "processed"

        with engine.connect() as conn:
            title = conn.execute(sa.text("select title from videos where id = :id"), {"id": video_id}).scalar()
        assert title == "Stored?"
    finally:
        engine.dispose()


def test_make_targets_drive_the_emulator(app_emulator, database_url: str) -> None:
    emulator, _ = app_emulator
    _, below = _revisions()
    env = cli_env(AWS_ENDPOINT_URL_LAMBDA=emulator.url)

    def make(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "-s", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    up = make("invoke-upgrade")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Running upgrade" in up.stdout
    current = make("invoke-current")
    assert current.returncode == 0, current.stderr
    assert json.loads(current.stdout[current.stdout.rindex("\n{") :])["is_head"] is True
    down = make("invoke-downgrade", f"REV={below}")
    assert down.returncode == 0, down.stdout + down.stderr
    assert postgres.alembic_version(database_url) == below
    bad = make("invoke", "FN=run.run_alembic_upgrade", 'PAYLOAD={"revision": "no-such-revision"}')
    assert bad.returncode != 0  # make reports a failed recipe as 2
    assert "Error: Unhandled error in run.run_alembic_upgrade" in bad.stderr

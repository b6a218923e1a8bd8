"""The embedded sandbox end to end, through the make targets a developer types (no Docker anywhere).

Each test gets its own SANDBOX_DIR and free ports, so it never touches a developer's running sandbox (default
.sandbox/ on 5433/9000/8000) or another test. The emulator is the real ``python -m dev.emulator``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev import services
from dev.ports import free_port, port_in_use
from dev.postgres import SERVICE_USER, service_tempdir
from tests.support.sandbox_harness import MakeSandbox, copy_checkout, rehearse_subscribing
from tests.support.sandbox_harness import output as _output

pytestmark = pytest.mark.emulator  # `make up` starts PostgreSQL and the emulator

ROOT = services.PROJECT_ROOT


class Sandbox(MakeSandbox):
    """``make`` in the project with a private embedded sandbox (its own SANDBOX_DIR and ports)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(ROOT, "embedded", sandbox_dir=directory)
        self.dir = directory


@pytest.fixture
def box() -> Iterator[Sandbox]:
    base = service_tempdir("yt-sandbox-")  # as root, PostgreSQL runs as an unprivileged user that must reach it
    sandbox = Sandbox(base / "sandbox")
    try:
        yield sandbox
    finally:
        sandbox.sandbox_cli("down")
        shutil.rmtree(base, ignore_errors=True)
        if sandbox.timings:
            print("\n".join(f"  {seconds:6.2f} s  make {name}" for name, seconds in sandbox.timings.items()))


def _revisions() -> set[Path]:
    return set((ROOT / "migrations" / "versions").glob("*.py"))


def test_lifecycle_up_migrate_seed_downgrade_down_up_keeps_data_reset(box: Sandbox):
    up = box.make("up")
    for expected in (
        f"127.0.0.1:{box.ports.pg}/{services.DB_NAME}",
        f"http://127.0.0.1:{box.ports.emulator}",
        f"http://127.0.0.1:{box.ports.api}",
        "make invoke-upgrade",
    ):
        assert expected in up.stdout, up.stdout
    assert box.sql("select current_database()") == services.DB_NAME

    again = box.make("up")  # twice is harmless
    assert "already running" in again.stdout
    moved = box.make("up", check=False, EMULATOR_PORT=str(free_port()))  # a running sandbox is not moved silently
    assert moved.returncode != 0 and "make down" in _output(moved), _output(moved)

    box.make("invoke-upgrade")
    assert box.sql("select count(*) from alembic_version") == "1"
    head = box.sql("select version_num from alembic_version")

    box.make("seed")
    videos = int(box.sql("select count(*) from videos"))
    assert videos > 0, "make seed stored no videos"

    box.make("invoke-downgrade")
    below_head = box.sql("select version_num from alembic_version")
    assert below_head and below_head != head

    status = box.make("status")
    assert "healthy" in status.stdout

    down = box.make("down")
    assert "stopped emulator, hub, PostgreSQL" in down.stdout
    assert "not running" in box.make("down").stdout  # down on a stopped sandbox is harmless
    assert not (box.dir / "emulator.pid").exists() and not (box.dir / "hub.pid").exists()
    assert not any(port_in_use(getattr(box.ports, name)) for name in services.Ports.ENV), "down left a listener"

    box.make("up")
    assert box.sql("select version_num from alembic_version") == below_head, "down/up lost the schema state"
    assert int(box.sql("select count(*) from videos")) == videos, "down/up lost data"

    refused = box.make("reset", check=False)  # no terminal, no FORCE=1: refuses, deletes nothing
    assert refused.returncode != 0 and "FORCE=1" in _output(refused)
    assert int(box.sql("select count(*) from videos")) == videos

    box.make("reset", "FORCE=1")
    assert box.sql("select to_regclass('public.videos') is null") == "t", "reset kept the data"

    # The fresh sandbox is usable at once: new-migration brings it to head itself, then autogenerates nothing
    # because the models match the revisions.
    usage = box.make("new-migration", check=False)
    assert usage.returncode != 0 and "MSG=" in _output(usage)
    before = _revisions()
    try:
        result = box.make("new-migration", "MSG=nothing to do")
        created = _revisions() - before
    finally:
        for path in _revisions() - before:  # never leave a stray revision in the real migrations/
            path.unlink()
    assert not created, f"models and migrations differ: autogenerate wrote {sorted(created)}"
    assert "No changes in schema detected" in result.stdout, result.stdout
    assert box.sql("select version_num from alembic_version") == head


def test_port_in_use_is_a_clear_error_naming_it(box: Sandbox):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", box.ports.emulator))
        squatter.listen()
        result = box.make("up", check=False)
    assert result.returncode != 0
    message = _output(result)
    assert f"port {box.ports.emulator}" in message and "EMULATOR_PORT" in message, message
    # Nothing half-started: the check runs before anything starts.
    assert "not running" in box.make("down").stdout


def test_onboard_on_a_fresh_sandbox_within_the_target(box: Sandbox):
    from dev.onboard import TARGET_SECONDS

    result = box.make("onboard", timeout=TARGET_SECONDS * 3)
    out = result.stdout
    for step in ("start the sandbox", "migrate to head", "seed sample data", "rehearse a rollback", "forward again"):
        assert step in out, out
    assert "all of this works" in out
    assert "(head)" in out.split("== where the schema is", 1)[1]
    assert int(box.sql("select count(*) from videos")) > 0
    again = box.make("onboard")  # a second run is harmless: everything is idempotent
    assert "the sandbox is already running" in again.stdout


def test_zappa_invoke_subscribe_channel_goes_through_the_local_hub_end_to_end():
    """The production command, unchanged, against `make up` in a copy of the checkout (its stage's Invoke API
    endpoint moved to this sandbox's port, nothing else): the hub verifies through the API front."""
    base = service_tempdir("yt-subscribe-")
    checkout = base / "app"
    box = MakeSandbox(checkout, "embedded", sandbox_dir=base / "sandbox")
    copy_checkout(checkout, emulator_port=box.ports.emulator)
    try:
        up = box.make("up")
        assert f"WebSub hub   http://127.0.0.1:{box.ports.hub}/hub" in up.stdout, up.stdout
        status = box.make("status").stdout
        assert re.search(r"^hub:\s+running \(pid \d+\), healthy$", status, re.M), status
        box.make("invoke-upgrade")
        rehearse_subscribing(box, "UCsubscribe0000000000001")
        logs = box.make("logs").stdout
        assert f"==> {base / 'sandbox' / 'hub.log'} <==" in logs and "verified (lease 432000 s)" in logs, logs[-3000:]
        # make seed takes the same way: no secret, no database writes of its own.
        seeded = box.make("seed", "SEED_ARGS=--channels 1 --videos 2")
        assert "verified by the hub" in seeded.stdout and "delivered and signed by the hub" in seeded.stdout
        box.make("down")
        assert not port_in_use(box.ports.hub), "make down left the hub running"
    finally:
        box.sandbox_cli("down")
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: then PostgreSQL runs as an unprivileged user")
def test_embedded_mode_as_root_from_a_checkout_under_a_0700_directory():
    """/root/src/app is the usual case: the server's user cannot traverse /root, so the cluster lives elsewhere."""
    private = Path(tempfile.mkdtemp(prefix="yt-private-home-"))  # 0700, as /root is
    assert private.stat().st_mode & 0o077 == 0
    checkout = private / "src" / "app"
    box = MakeSandbox(checkout, "embedded")  # the default SANDBOX_DIR: .sandbox inside the checkout
    copy_checkout(checkout, emulator_port=box.ports.emulator)
    try:
        box.make("up")
        status = box.make("status").stdout
        data = next(line for line in status.splitlines() if line.startswith("data:"))
        cluster = Path(data.split()[1])
        assert not cluster.is_relative_to(private), f"the cluster must live outside the 0700 directory: {data}"
        assert f"the '{SERVICE_USER}' user that runs PostgreSQL cannot reach" in data, data
        assert (cluster / "data" / "PG_VERSION").is_file(), f"no cluster in {cluster}"
        box.make("invoke-upgrade")
        head = box.sql("select version_num from alembic_version")
        assert head and not head.startswith("ERROR"), head
        box.make("down")
        box.make("up")  # the same cluster again, found by the checkout's path
        assert box.sql("select version_num from alembic_version") == head
        assert f"data:      {cluster} " in box.make("status").stdout
        box.make("down")
        box.make("reset", "FORCE=1")
        assert not cluster.exists(), "reset must wipe the cluster wherever it lives"
    finally:
        box.sandbox_cli("down")
        box.sandbox_cli("reset", "--force")
        shutil.rmtree(private, ignore_errors=True)

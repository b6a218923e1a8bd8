"""Docker mode on a real engine, through the make targets a developer types (see conftest.py's ``docker_stack``).

The engine is asked through the Docker SDK (state, health, user, ports, events); compose does what compose does.
Tests can run alone: each one brings the stack up if an earlier one left it down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from dev import services
from dev.health import http_healthy
from dev.sandbox import engine
from dev.sandbox.docker import SERVICES
from tests.support.sandbox_harness import output, rehearse_subscribing

STOP_GRACE_SECONDS = 10  # compose's default stop_grace_period: SIGKILL after it


@pytest.fixture
def stack(docker_stack):
    docker_stack.ensure_up()
    return docker_stack


def test_first_up_builds_the_image_and_waits_for_every_healthcheck(docker_stack):
    assert docker_stack.before == {"containers": [], "volumes": [], "images": []}, "the session must start empty"
    up = docker_stack.first_up
    assert up.returncode == 0, output(up)
    assert "sandbox is up (docker mode)" in up.stdout
    text = output(up)
    # Compose built the image, then waited for every healthcheck (`up --wait`) before `make up` returned.
    assert f"{docker_stack.project}-lambda" in text and "Built" in text, text
    assert all(f"{name}-1  Healthy" in text for name in SERVICES), text
    states = docker_stack.states()
    assert {name: (states[name].status, states[name].health) for name in states} == {
        name: ("running", "healthy") for name in SERVICES
    }
    client = engine.client()
    try:
        assert client.images.list(name=f"{docker_stack.project}-lambda"), "no image was built for the project"
        assert [v.name for v in engine.project_volumes(client, docker_stack.project)] == [
            f"{docker_stack.project}_pgdata"
        ]
    finally:
        client.close()


def test_ports_are_published_on_loopback_only(stack):
    states = stack.states()
    ports = stack.box.ports
    assert set(states["db"].ports) == {("127.0.0.1", str(ports.pg), f"{services.CONTAINER_PG_PORT}/tcp")}
    assert set(states["lambda"].ports) == {
        ("127.0.0.1", str(ports.emulator), f"{services.CONTAINER_PORTS.emulator}/tcp"),
        ("127.0.0.1", str(ports.api), f"{services.CONTAINER_PORTS.api}/tcp"),
    }
    assert set(states["hub"].ports) == {("127.0.0.1", str(ports.hub), f"{services.CONTAINER_PORTS.hub}/tcp")}


@pytest.mark.parametrize("service", ["lambda", "hub"])
def test_containers_run_as_non_root(stack, service):
    container = stack.container(service)
    assert container.attrs["Config"]["User"] not in ("", "0", "root", "0:0")
    code, out = container.exec_run(["id", "-u"])
    assert code == 0 and out.decode().strip() != "0"
    # The service's processes themselves (PID 1, and any worker forked), not just exec'd commands.
    # A process may end between the glob and the read (a worker, the exec itself): skip it, do not fail on it.
    listing = "for f in /proc/[0-9]*/status; do grep -H '^Uid:' \"$f\" 2>/dev/null; done; true"
    code, out = container.exec_run(["sh", "-c", listing])
    uids = {line.split()[1] for line in out.decode().splitlines() if line.strip()}
    assert code == 0 and uids and "0" not in uids, out.decode()


def test_invoke_status_logs_psql_through_make(stack):
    box = stack.box
    box.make("invoke-upgrade")
    head = box.sql("select version_num from alembic_version")
    assert head and not head.startswith("ERROR"), head
    box.make("invoke-downgrade")
    below = box.sql("select version_num from alembic_version")
    assert below != head, "invoke-downgrade did not move the schema"
    box.make("invoke-upgrade")
    assert box.sql("select version_num from alembic_version") == head

    status = box.make("status").stdout
    assert f"compose project {stack.project}" in status
    assert f"127.0.0.1:{box.ports.pg}->5432/tcp" in status and "healthy" in status, status

    logs = box.make("logs").stdout
    assert all(f"{name}-1" in logs for name in SERVICES), logs[-2000:]
    assert "database system is ready to accept connections" in logs
    assert box.sql("select current_user") == services.DB_USER


def test_the_real_zappa_invoke_local_reaches_the_container(stack):
    result = stack.box.zappa_invoke("run.run_alembic_current")
    assert result.returncode == 0, output(result)
    assert "START RequestId:" in result.stdout and "Result of run.run_alembic_current:" in result.stdout
    assert "REPORT RequestId:" in result.stdout


def test_zappa_invoke_subscribe_channel_goes_through_the_hub_container(stack):
    """The function in `lambda` asks `hub` by its service name; the hub verifies through `lambda`'s API front."""
    stack.box.make("invoke-upgrade")
    functions = stack.box.function_environment()
    assert functions["WEBSUB_HUB_URL"].startswith("http://hub:") and "//lambda:" in functions["WEBSUB_CALLBACK_URL"]
    rehearse_subscribing(stack.box, "UCdockersubscribe0000001")


def test_seed_then_down_up_keeps_the_rows(stack):
    box = stack.box
    box.make("invoke-upgrade")
    box.make("seed")
    videos = int(box.sql("select count(*) from videos"))
    assert videos > 0, "make seed stored no videos"
    down = box.make("down")
    assert "data kept" in down.stdout
    assert stack.states() == {}, "make down left containers behind"
    box.make("up")
    assert int(box.sql("select count(*) from videos")) == videos, "down/up lost rows"


def test_a_revision_edited_on_the_host_reaches_the_container_and_the_next_invoke_is_cold(stack):
    box = stack.box
    box.invoke("run.run_alembic_current")  # warm the environment first
    warm = _invoke_log(box)
    assert "Init Duration" not in warm, "a second call without an edit should be warm"

    revision = sorted((stack.checkout / "migrations" / "versions").glob("*.py"))[0]
    original = revision.read_bytes()
    stat = revision.stat()
    token = f"# edited on the host {time.time_ns()}"
    try:
        with revision.open("ab") as handle:  # in place: owner and mode stay the developer's
            handle.write(f"\n{token}\n".encode())
        inside = f"/app/migrations/versions/{revision.name}"
        code, out = stack.container("lambda").exec_run(["grep", "-c", token, inside])
        assert code == 0 and out.decode().strip() == "1", f"the edit did not reach {inside}: {out.decode()}"
        cold = _invoke_log(box)
        assert "Init Duration" in cold, f"the first call after an edit must be cold:\n{cold}"
    finally:
        revision.write_bytes(original)
        os.chown(revision, stat.st_uid, stat.st_gid)


def _invoke_log(box) -> str:
    endpoint = f"http://{services.HOST}:{box.ports.emulator}"
    result = subprocess.run(
        [sys.executable, "-m", "dev.invoke", "--endpoint", endpoint, "run.run_alembic_current"],
        cwd=box.project_dir,
        env=box.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, output(result)
    return result.stdout + result.stderr


def test_a_stopped_db_is_a_clear_error_and_make_up_recovers(stack):
    box = stack.box
    box.make("invoke-upgrade")
    stack.container("db").stop(timeout=STOP_GRACE_SECONDS)
    failed = box.make("invoke-current", check=False)
    assert failed.returncode != 0
    # The migrator's own error, with the driver's words (the container is gone from the compose network's DNS):
    # the emulator answers, with the error, instead of hanging or dying.
    text = output(failed)
    assert "DatabaseUnreachableError: cannot reach the database at postgresql+psycopg2://postgres:***@db:5432" in text
    assert 'could not translate host name "db"' in text and "`make up`" in text, text
    assert http_healthy(services.emulator_health_url(services.HOST, box.ports.emulator))
    status = box.make("status", check=False)
    assert re.search(r"^db:\s+exited", status.stdout, re.M), status.stdout
    box.make("up")
    assert stack.states()["db"].up
    box.make("invoke-current")


def test_make_down_stops_every_container_without_waiting_for_the_kill(stack):
    client = engine.client()
    since = int(time.time()) - 1
    began = time.monotonic()
    stack.box.make("down")
    elapsed = time.monotonic() - began
    events = list(
        client.events(
            since=since,
            until=int(time.time()) + 1,
            decode=True,
            filters={"type": "container", "label": f"{engine.PROJECT_LABEL}={stack.project}"},
        )
    )
    client.close()
    kills = [e["Actor"]["Attributes"].get("signal") for e in events if e.get("Action") == "kill"]
    deaths = {
        e["Actor"]["Attributes"].get(engine.SERVICE_LABEL): e["Actor"]["Attributes"].get("exitCode")
        for e in events
        if e.get("Action") == "die"
    }
    assert "9" not in kills, f"a container needed SIGKILL after the grace period: {events}"
    assert set(deaths) == set(SERVICES) and "137" not in deaths.values(), deaths
    # Generous: a stop that waited for the grace period would take over STOP_GRACE_SECONDS (make bench has the figure).
    assert elapsed < STOP_GRACE_SECONDS, f"make down took {elapsed:.1f} s"
    assert stack.states() == {}


def test_reset_wipes_the_data_and_restarts(stack):
    box = stack.box
    box.make("invoke-upgrade")
    refused = box.make("reset", check=False)
    assert refused.returncode != 0 and "FORCE=1" in output(refused)
    box.make("reset", "FORCE=1")
    assert box.sql("select to_regclass('public.alembic_version') is null") == "t", "reset kept the data"
    assert stack.states()["lambda"].up, "reset of a running sandbox must leave it running"


def test_no_root_owned_file_is_left_in_the_checkout(stack):
    if os.geteuid() != 0:
        pytest.skip("runs as root only: the checkout copy is given to uid 1000 to tell the container's writes apart")
    owned_by_root = [
        str(path.relative_to(stack.checkout))
        for path in [stack.checkout, *stack.checkout.rglob("*")]
        if path.lstat().st_uid == 0
    ]
    assert owned_by_root == [], f"root-owned files appeared in the checkout: {owned_by_root[:20]}"


@pytest.mark.docker
def test_seed_holds_under_load_from_a_cold_api_front(stack):
    """Two CPU burners (processes of this test, stopped at its end) and a freshly restarted `lambda` container: the
    hub's first verification through the API front may find no warm environment and time out; the hub retries, as a
    real hub does, so `make seed` still verifies every channel. Nothing waits for a fixed time: the seed waits for the
    hub's own verdict on each request."""
    box = stack.box
    box.make("invoke-upgrade")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL) for _ in range(2)]
    try:
        stack.container("lambda").restart(timeout=STOP_GRACE_SECONDS)  # no warm environment left
        box.make("up")  # waits for the healthchecks again
        seeded = box.make("seed", "SEED_ARGS=--channels 3 --videos 2", timeout=600)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait(timeout=30)
    assert seeded.stdout.count("verified by the hub") == 3, output(seeded)
    assert "done: 3 channels, 6 videos" in seeded.stdout, output(seeded)
    requests = [r for r in box.hub().requests() if "UCseed" in r["topic"]]
    assert requests and all(r["state"] == "verified" for r in requests[-3:]), requests

"""One port setting, end to end: the local stage's ``aws_endpoint_urls.lambda`` is where the emulator listens, and
the ports ``make up`` was given are what every later command uses.

- ``EMULATOR_PORT`` that the local stage does not name: ``make up`` refuses in one line saying what to change, before
  anything starts (both modes), because the real ``zappa invoke local`` would end in ConnectionRefusedError;
- the stage moved to another port: ``make up`` follows it with no ``EMULATOR_PORT``; ``API_PORT``/``HUB_PORT``/
  ``PGPORT`` given once to ``make up`` reach the functions' callback and hub URLs; then, with no port variable at all,
  ``make status``, ``make invoke-*``, the real ``zappa invoke local``, ``make subscribe`` and ``make psql`` all find
  the sandbox.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from dev import services
from dev.ports import port_in_use
from dev.postgres import service_tempdir
from tests.support.sandbox_harness import ROOT, ZAPPA_CLI_ENV, MakeSandbox, copy_checkout, output

PORT_VARIABLES = tuple(services.Ports.ENV.values())


@pytest.mark.parametrize(
    "mode", [pytest.param("embedded", marks=pytest.mark.emulator), pytest.param("docker", marks=pytest.mark.docker)]
)
def test_make_up_refuses_an_emulator_port_the_local_stage_does_not_name(mode: str) -> None:
    base = service_tempdir("yt-ports-")
    box = MakeSandbox(ROOT, mode, sandbox_dir=base / "sandbox", project="ytsbx-ports-refused")
    env = {k: v for k, v in box.env.items() if k != "SANDBOX_IGNORE_STAGE_ENDPOINT"}
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "dev.sandbox", "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert refused.returncode != 0, output(refused)
        errors = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(errors) == 1, refused.stderr
        wanted = box.ports.emulator
        assert errors[0] == (
            f"error: EMULATOR_PORT={wanted}, but the local stage sends `zappa invoke local` to http://127.0.0.1:9000: "
            f'set "aws_endpoint_urls": {{"lambda": "http://127.0.0.1:{wanted}"}} in its stage in zappa_settings.json '
            "(make up then follows it, EMULATOR_PORT is not needed), or use EMULATOR_PORT=9000"
        ), errors[0]
        assert not any(port_in_use(getattr(box.ports, name)) for name in services.Ports.ENV), "something started"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.emulator
def test_the_stage_names_the_emulator_port_and_every_command_finds_the_moved_sandbox() -> None:
    base = service_tempdir("yt-ports-")
    checkout = base / "app"
    box = MakeSandbox(checkout, "embedded", sandbox_dir=base / "sandbox")
    copy_checkout(checkout, emulator_port=box.ports.emulator)  # the developer moved the stage: the one setting
    once = {k: v for k, v in box.env.items() if k != "EMULATOR_PORT"}  # `make up` is told the other ports once
    plain = {k: v for k, v in box.env.items() if k not in PORT_VARIABLES}  # later commands are told nothing

    def make(*args: str, env: dict[str, str] = plain) -> subprocess.CompletedProcess:
        stamp = sys.prefix + "/.installed"
        argv = ["make", "--no-print-directory", "-C", str(checkout), f"VENV={sys.prefix}", "-o", stamp, *args]
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, f"make {' '.join(args)}:\n{output(result)}"
        return result

    try:
        up = make("up", env=once)
        assert f"Invoke API   http://127.0.0.1:{box.ports.emulator}" in up.stdout, up.stdout
        assert f"WebSub hub   http://127.0.0.1:{box.ports.hub}/hub" in up.stdout, up.stdout

        status = make("status").stdout
        assert re.search(r"^emulator:\s+running \(pid \d+\), healthy$", status, re.M), status
        assert f"API front    http://127.0.0.1:{box.ports.api}" in status, status

        make("invoke-upgrade")
        current = make("invoke-current").stdout
        assert '"is_head": true' in current, current
        zappa = subprocess.run(
            [str(sys.prefix + "/bin/zappa"), "invoke", services.STAGE, "run.run_alembic_current"],
            cwd=checkout,
            env={**{k: v for k, v in plain.items() if not k.startswith("AWS_")}, **ZAPPA_CLI_ENV},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert zappa.returncode == 0 and "Result of run.run_alembic_current:" in zappa.stdout, output(zappa)

        # The callback and hub URLs the function gets follow API_PORT and HUB_PORT: the hub verifies through them.
        channel = "UCports000000000000000001"
        make("subscribe", f"CHANNEL={channel}")
        query = f"select state from subscriptions where channel_id = '{channel}'"
        state = box.wait_for_sql(query, "active")
        assert state == "active", state
        psql = make("psql", f'PSQL_ARGS=-At -c "{query}"').stdout.strip()
        assert psql == "active", psql
    finally:
        subprocess.run(
            [sys.executable, "-m", "dev.sandbox", "down"], cwd=checkout, env=plain, capture_output=True, timeout=120
        )
        shutil.rmtree(base, ignore_errors=True)
    assert not any(port_in_use(getattr(box.ports, name)) for name in services.Ports.ENV), "down left a listener"

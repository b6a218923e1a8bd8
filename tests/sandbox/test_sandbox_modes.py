"""Mode choice and the docker-mode shell-out, with a stand-in ``docker`` on PATH (no engine can run here).

The stand-in only records its arguments and answers like the real client; what is under test is that the same
``make`` commands turn into the right ``docker compose`` calls, and that no engine means the embedded mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dev import services
from dev.postgres import free_port

ROOT = services.PROJECT_ROOT

FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  info) exit "${FAKE_DOCKER_INFO_RC:-0}" ;;
  compose) [ "$2" = version ] && echo "Docker Compose version v2.fake"; exit 0 ;;
esac
exit 0
"""


@pytest.fixture
def fake_docker(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    sandbox_dir = Path(tempfile.mkdtemp(prefix="yt-sandbox-mode-"))
    env = {key: value for key, value in os.environ.items() if key not in ("SANDBOX", "DATABASE_URL")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        FAKE_DOCKER_LOG=str(tmp_path / "docker.log"),
        SANDBOX_DIR=str(sandbox_dir),
        PGPORT=str(free_port()),
        EMULATOR_PORT=str(free_port()),
        API_PORT=str(free_port()),
    )
    yield env
    sandbox_dir.rmdir()


def _sandbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dev.sandbox", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )


def _calls(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_DOCKER_LOG"])
    return log.read_text().splitlines() if log.exists() else []


def test_auto_mode_is_docker_when_the_engine_answers(fake_docker):
    assert _sandbox(fake_docker, "mode").stdout.strip() == "docker"
    assert "info" in _calls(fake_docker)


def test_auto_mode_is_embedded_without_an_engine(fake_docker):
    fake_docker["FAKE_DOCKER_INFO_RC"] = "1"  # a client without a daemon, like this machine
    assert _sandbox(fake_docker, "mode").stdout.strip() == "embedded"


def test_sandbox_variable_forces_the_mode(fake_docker):
    assert _sandbox({**fake_docker, "SANDBOX": "embedded"}, "mode").stdout.strip() == "embedded"
    assert "info" not in _calls(fake_docker)  # forced: the engine is not even asked
    wrong = _sandbox({**fake_docker, "SANDBOX": "podman"}, "mode")
    assert wrong.returncode == 1 and "SANDBOX=embedded" in wrong.stderr


def test_docker_mode_commands_are_compose_calls(fake_docker):
    env = {**fake_docker, "SANDBOX": "docker"}
    project = f"compose --project-directory {ROOT}"
    assert _sandbox(env, "down").returncode == 0
    assert _sandbox(env, "logs").returncode == 0
    assert _sandbox(env, "psql", "-c", "select 1").returncode == 0
    assert _sandbox(env, "reset", "--force").returncode == 0
    calls = [call for call in _calls(fake_docker) if call.startswith("compose --project")]
    assert calls == [
        f"{project} down",
        f"{project} logs --tail 100",
        f"{project} exec db psql -U {services.DB_USER} -d {services.DB_NAME} -c select 1",
        f"{project} ps -q",  # reset: was it running? (no: so it is not started again)
        f"{project} down --volumes",
    ]


def test_docker_mode_port_in_use_is_named_before_compose_runs(fake_docker):
    import socket

    env = {**fake_docker, "SANDBOX": "docker"}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["PGPORT"])))
        squatter.listen()
        result = _sandbox(env, "up")
    assert result.returncode == 1
    assert f"port {env['PGPORT']} (PGPORT" in result.stderr
    assert not any(" up " in f" {call} " for call in _calls(fake_docker))


def test_onboard_stops_at_a_busy_port_with_the_fix(fake_docker):
    import socket

    env = {**fake_docker, "SANDBOX": "embedded"}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["API_PORT"])))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "dev.onboard"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
        )
    assert result.returncode == 1
    assert "ok  python: Python 3.11" in result.stdout
    assert f"FAIL port {env['API_PORT']}" in result.stdout
    assert "API_PORT=<free port> make up" in result.stderr  # the fix comes with the failure
    assert "start the sandbox" not in result.stdout  # nothing started

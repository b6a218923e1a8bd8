"""How the mode is chosen, and what the Docker mode asks compose to do, against a stand-in engine and CLI.

The stand-in engine is a small HTTP server speaking the few Engine API calls the Docker SDK makes here (version,
ping, containers, volumes); the stand-in ``docker`` CLI records its arguments and answers ``compose version`` as
Compose v2 does, or as a client without the plugin does. test_sandbox_docker.py has the real engine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dev import services
from dev.ports import free_port
from dev.postgres import service_tempdir
from tests.support.sandbox_harness import REQUIRE_DOCKER, output

ROOT = services.PROJECT_ROOT
HERE = Path(__file__).parent

FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$FAKE_DOCKER_LOG"
if [ "$1 $2" = "compose version" ]; then
  if [ -n "$FAKE_COMPOSE_MISSING" ]; then echo "docker: 'compose' is not a docker command." >&2; exit 1; fi
  echo "2.40.3"; exit 0
fi
exit 0
"""


class FakeEngine(ThreadingHTTPServer):
    """Answers like an engine with no containers and no volumes; records the paths asked for."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                engine.requests.append(self.path)
                path = self.path.split("?")[0]
                if path.endswith("/_ping"):
                    body, kind = b"OK", "text/plain"
                elif path.endswith("/version"):
                    body, kind = json.dumps({"ApiVersion": "1.41", "Version": "fake"}).encode(), "application/json"
                elif path.endswith("/containers/json"):
                    body, kind = b"[]", "application/json"
                elif path.endswith("/volumes"):
                    body, kind = b'{"Volumes": [], "Warnings": null}', "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Api-Version", "1.41")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def fake_engine() -> Iterator[FakeEngine]:
    server = FakeEngine()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(tmp_path: Path, fake_engine: FakeEngine) -> Iterator[dict[str, str]]:
    """A stand-in engine (DOCKER_HOST) and CLI (PATH), private ports and sandbox dir, no SANDBOX forced."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    sandbox_dir = service_tempdir("yt-sandbox-mode-")
    environ = {key: value for key, value in os.environ.items() if key not in ("SANDBOX", "DATABASE_URL", "DOCKER_HOST")}
    environ.update(
        PATH=f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}",
        DOCKER_HOST=fake_engine.url,
        FAKE_DOCKER_LOG=str(tmp_path / "docker.log"),
        SANDBOX_DIR=str(sandbox_dir / "sandbox"),
        **{variable: str(free_port()) for variable in services.Ports.ENV.values()},
        COMPOSE_PROJECT_NAME="ytsbx-modes-test",
        SANDBOX_IGNORE_STAGE_ENDPOINT="1",  # the checkout's local stage names 9000; these tests are about modes
    )
    yield environ
    _sandbox(environ, "down")
    subprocess.run(["rm", "-rf", str(sandbox_dir)], check=False)


def _sandbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dev.sandbox", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def _calls(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_DOCKER_LOG"])
    return log.read_text().splitlines() if log.exists() else []


def test_auto_mode_is_docker_when_an_engine_and_compose_v2_answer(env, fake_engine):
    result = _sandbox(env, "mode")
    assert result.stdout.strip() == "docker", output(result)
    assert any(path.endswith("/_ping") for path in fake_engine.requests), "the engine is asked through the SDK"
    assert "compose version --short" in _calls(env)


def test_auto_mode_is_embedded_without_an_engine_and_says_why(env):
    env["DOCKER_HOST"] = f"tcp://127.0.0.1:{free_port()}"  # nothing listens: a client without an engine
    result = _sandbox(env, "mode")
    assert result.returncode == 0 and result.stdout.strip() == "embedded", output(result)
    assert "no Docker engine answers" in result.stderr


def test_an_engine_without_compose_v2_gives_the_embedded_mode_with_one_line(env):
    env["FAKE_COMPOSE_MISSING"] = "1"
    assert _sandbox(env, "mode").stdout.strip() == "embedded"
    up = _sandbox(env, "up")
    assert up.returncode == 0, output(up)
    reason = [line for line in up.stdout.splitlines() if "Compose v2" in line]
    assert len(reason) == 1 and reason[0].startswith("embedded mode:"), up.stdout
    assert "sandbox is up (embedded mode)" in up.stdout
    assert not any(call.startswith("compose --project") for call in _calls(env)), "compose must not be run"


def test_sandbox_variable_forces_the_mode(env, fake_engine):
    assert _sandbox({**env, "SANDBOX": "embedded"}, "mode").stdout.strip() == "embedded"
    assert fake_engine.requests == [] and _calls(env) == []  # forced: the engine is not even asked
    wrong = _sandbox({**env, "SANDBOX": "podman"}, "mode")
    assert wrong.returncode == 1 and "SANDBOX=embedded" in wrong.stderr


def test_forced_docker_mode_without_compose_v2_says_what_to_do(env):
    result = _sandbox({**env, "SANDBOX": "docker", "FAKE_COMPOSE_MISSING": "1"}, "up")
    assert result.returncode == 1
    assert "Docker Compose v2" in result.stderr and "SANDBOX=embedded" in result.stderr


def test_docker_mode_commands_are_compose_v2_calls_for_the_project(env):
    env = {**env, "SANDBOX": "docker"}
    project = f"compose --project-directory {ROOT} --project-name ytsbx-modes-test"
    assert "not running" in _sandbox(env, "down").stdout
    assert _sandbox(env, "logs").returncode == 0
    assert _sandbox(env, "psql", "-c", "select 1").returncode == 0
    assert _sandbox(env, "reset", "--force").returncode == 0
    calls = [call for call in _calls(env) if call.startswith("compose --project")]
    assert calls == [
        f"{project} down",
        f"{project} logs --tail 100",
        f"{project} exec -T db psql -U {services.DB_USER} -d {services.DB_NAME} -c select 1",
        f"{project} down --volumes",  # reset: not running, so not started again
    ]


def test_docker_mode_port_in_use_is_named_before_compose_runs(env):
    env = {**env, "SANDBOX": "docker"}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["PGPORT"])))
        squatter.listen()
        result = _sandbox(env, "up")
    assert result.returncode == 1
    assert f"port {env['PGPORT']} (PGPORT" in result.stderr
    assert not any(" up " in f" {call} " for call in _calls(env))


def test_onboard_stops_at_a_busy_port_with_the_fix(env):
    env = {**env, "SANDBOX": "embedded"}
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


@pytest.mark.parametrize("required", ["", "1"])
def test_without_docker_the_docker_tests_skip_with_the_reason_or_fail_when_required(required):
    """What `make test` does on a machine without Docker: skipped with the reason; CI's setting makes it a failure."""
    env = {key: value for key, value in os.environ.items() if key != REQUIRE_DOCKER}
    env["DOCKER_HOST"] = f"tcp://127.0.0.1:{free_port()}"
    if required:
        env[REQUIRE_DOCKER] = required
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsE", str(HERE / "test_sandbox_docker.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    text = output(result)
    if required:
        assert result.returncode == 1, text
        assert f"{REQUIRE_DOCKER}=1 but no Docker engine answers" in text, text
        assert " passed" not in text
    else:
        assert result.returncode == 0, text
        assert "no Docker engine answers" in text and " skipped" in text and " passed" not in text, text

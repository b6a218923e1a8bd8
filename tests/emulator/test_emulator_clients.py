"""Clients: the real Zappa CLI (as a subprocess, unchanged) and ``python -m dev.invoke``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.emulator_harness import REPO_ROOT, Emulator, cli_env, free_port

ZAPPA = str(Path(sys.executable).with_name("zappa"))


def zappa(emulator: Emulator, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ZAPPA, *args], cwd=emulator.project_dir, env=cli_env(), capture_output=True, text=True, timeout=60
    )


def dev_invoke(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dev.invoke", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def zappa_runs(emulator: Emulator) -> dict[str, subprocess.CompletedProcess]:
    """The three Zappa CLI calls, run in parallel once (each costs 1-2 s of CLI start-up)."""
    calls = {
        "ok": ("invoke", "local", "fns.version"),
        "missing": ("invoke", "local", "fns.no_such_function"),
        "raw": ("invoke", "--raw", "local", "print(6 * 7)"),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(zappa, emulator, *args) for key, args in calls.items()}
        return {key: future.result() for key, future in futures.items()}


def test_zappa_invoke_prints_the_log_tail_and_exits_0(zappa_runs) -> None:
    run = zappa_runs["ok"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "START RequestId:" in run.stdout
    assert "Result of fns.version:\n1\n" in run.stdout
    assert "REPORT RequestId:" in run.stdout


def test_zappa_invoke_of_a_missing_function_shows_the_traceback_and_exits_1(zappa_runs) -> None:
    run = zappa_runs["missing"]
    assert run.returncode == 1
    assert "[ERROR] AttributeError: module 'fns' has no attribute 'no_such_function'" in run.stdout
    assert "Traceback (most recent call last):" in run.stdout
    assert "Unhandled error occurred while invoking command" in run.stdout + run.stderr


def test_zappa_raw_invoke_is_refused_with_a_clear_message(zappa_runs) -> None:
    run = zappa_runs["raw"]
    assert run.returncode != 0
    assert "AccessDeniedException" in run.stdout + run.stderr
    assert "--allow-raw-command" in run.stdout + run.stderr


def test_dev_invoke_prints_log_tail_then_result(emulator: Emulator) -> None:
    run = dev_invoke(emulator.project_dir, "fns.version")
    assert run.returncode == 0, run.stderr
    assert "Result of fns.version:" in run.stdout
    assert "REPORT RequestId:" in run.stdout
    assert run.stdout.rstrip().splitlines()[-1] == "1"


def test_dev_invoke_json_mode_prints_only_the_result(emulator: Emulator) -> None:
    run = dev_invoke(emulator.project_dir, "fns.echo", "--payload", '{"answer": 42}', "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["event"] == {"command": "fns.echo", "answer": 42}
    assert "START RequestId:" in run.stderr


def test_dev_invoke_function_error_exits_1_with_the_message(emulator: Emulator) -> None:
    run = dev_invoke(emulator.project_dir, "fns.fail")
    assert run.returncode == 1
    assert "Traceback (most recent call last):" in run.stdout
    assert "ValueError: boom from the fixture" in run.stderr


def test_dev_invoke_service_error_exits_1(emulator: Emulator) -> None:
    run = dev_invoke(emulator.project_dir, "print(1)", "--raw")
    assert run.returncode == 1
    assert "AccessDeniedException" in run.stderr


def test_dev_invoke_async_returns_at_once_and_the_function_runs(emulator: Emulator, tmp_path: Path) -> None:
    marker = emulator.shared_path("event-ran")
    run = dev_invoke(emulator.project_dir, "fns.touch", "--async", "--payload", json.dumps({"path": str(marker)}))
    assert run.returncode == 0, run.stderr
    assert "Accepted emu-fixture-local" in run.stdout
    request_id = re.search(r"\(request ([0-9a-f-]{36})\)", run.stdout)
    assert request_id, run.stdout
    # The proof that it ran: the function writes its own request id, which must be the one the client was given.
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"the Event invocation never ran:\n{emulator.console()[-3000:]}"
    assert marker.read_text() == request_id.group(1)


def test_dev_invoke_unreachable_emulator_exits_2_and_says_what_to_do(emulator: Emulator) -> None:
    run = dev_invoke(emulator.project_dir, "fns.version", "--endpoint", f"http://127.0.0.1:{free_port()}")
    assert run.returncode == 2
    assert "not reachable" in run.stderr
    assert "make emulator" in run.stderr


def test_dev_invoke_endpoint_from_the_environment(emulator: Emulator, tmp_path: Path) -> None:
    # A project whose stage points nowhere useful: AWS_ENDPOINT_URL_LAMBDA wins, as it does for boto3.
    settings = json.loads((emulator.project_dir / "zappa_settings.json").read_text())
    settings["local"]["aws_endpoint_urls"]["lambda"] = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "zappa_settings.json").write_text(json.dumps(settings))
    run = dev_invoke(tmp_path, "fns.version", AWS_ENDPOINT_URL_LAMBDA=emulator.url)
    assert run.returncode == 0, run.stderr


def test_dev_invoke_unknown_stage(emulator: Emulator) -> None:
    run = dev_invoke(emulator.project_dir, "fns.version", "--stage", "nope")
    assert run.returncode == 1
    assert "stage 'nope' is not in the settings file" in run.stderr


@pytest.mark.parametrize(
    ("line", "expected"),
    [("EMULATOR_PORT=9123", "9123"), ('export EMULATOR_PORT="9124"  # moved off 9000', "9124"), ("# none", "")],
)
def test_make_finds_a_moved_emulator_through_the_one_env_reader(tmp_path: Path, line: str, expected: str) -> None:
    """make/sandbox.mk reads .env with dev/env_file.py (compose's rules: quotes, export, comments), not with sed."""
    for name in ("Makefile", "make", ".venv", "dev"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    (tmp_path / ".env").write_text(f"PGPORT=5433\n{line}\n")
    env = {k: v for k, v in cli_env().items() if k not in ("EMULATOR_PORT", "AWS_ENDPOINT_URL_LAMBDA")}
    show = "show-port: ; @echo port=$(SANDBOX_EMULATOR_PORT)"
    run = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", show, "show-port"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"port={expected}"

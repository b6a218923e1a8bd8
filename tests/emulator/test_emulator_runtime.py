"""Execution environments: cold and warm starts, code changes, and the faults Lambda turns into errors."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.support.emulator_harness import Emulator

INIT = re.compile(r"Init Duration: \d+\.\d\d ms")
INIT_MS = re.compile(r"REPORT RequestId.*Init Duration: (\d+\.\d\d) ms")
IDLE_ONE = {"busy": 0, "warm": 1, "starting": 0}


def test_first_invocation_is_cold_and_later_ones_are_warm(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    first = emulator.invoke("fns.echo", stage="base")
    second = emulator.invoke("fns.echo", stage="base")

    assert INIT.search(first["Log"].splitlines()[-1])
    assert "Init Duration" not in second["Log"]
    assert first["Body"]["pid"] == second["Body"]["pid"]
    assert second["Body"]["remaining_ms"] > 4000


def _edit_version(emulator: Emulator, version: int) -> None:
    module = emulator.project_dir / "fns.py"
    module.write_text(re.sub(r"VERSION = \d+", f"VERSION = {version}", module.read_text()))
    os.utime(module, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))  # coarse-mtime filesystems


@pytest.mark.parametrize("watch", ["watch", "scan"])
def test_code_change_makes_the_next_invocation_a_new_environment(emulator_factory, watch: str) -> None:
    """The next invocation after an edit runs the new code in a new environment, and its REPORT has the Init
    Duration (a new version's first call), whether the watcher or the scan (the fallback) noticed the edit."""
    emulator: Emulator = emulator_factory("--watch", watch)
    before = emulator.invoke("fns.echo", stage="base")
    assert before["Body"]["version"] == 1
    generation = emulator.generation()

    _edit_version(emulator, 2)
    emulator.wait_for_change(generation)
    after = emulator.invoke("fns.echo", stage="base")

    assert after["Body"]["version"] == 2
    assert after["Body"]["pid"] != before["Body"]["pid"]
    assert INIT.search(after["Log"]), after["Log"]
    assert emulator.health()["change_detection"] == ("watchfiles" if watch == "watch" else "scan")


def test_eager_environment_is_warm_before_the_next_invocation(emulator_factory) -> None:
    """The fresh environment is ready (idle, app loaded) without any invocation; the next call uses it."""
    emulator: Emulator = emulator_factory()
    first = emulator.invoke("fns.echo", stage="base")["Body"]["pid"]
    generation = emulator.generation()
    _edit_version(emulator, 3)
    emulator.wait_until(
        lambda h: h["generation"] > generation and h["environments"]["emu-fixture-base"] == {**IDLE_ONE},
        what="no fresh warm environment after the edit",
    )
    workers = _worker_pids(emulator.project_dir)
    assert first not in workers and len(workers) == 1, workers  # the old one retired, the new one started
    after = emulator.invoke("fns.echo", stage="base")
    assert after["Body"]["pid"] in workers and after["Body"]["version"] == 3
    assert after["Body"]["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
    assert INIT.search(after["Log"]), after["Log"]
    assert "Instancing.." in after["Log"].split("START RequestId")[0], "the app loaded during init, before START"


def test_lazy_flag_keeps_the_cold_start_on_first_call(emulator_factory) -> None:
    emulator: Emulator = emulator_factory("--warm-containers", "lazy")
    emulator.invoke("fns.echo", stage="base")
    generation = emulator.generation()
    _edit_version(emulator, 4)
    health = emulator.wait_for_change(generation)
    assert health > generation
    assert emulator.health()["environments"]["emu-fixture-base"] == {"busy": 0, "warm": 0, "starting": 0}
    after = emulator.invoke("fns.echo", stage="base")
    assert after["Body"]["version"] == 4 and INIT.search(after["Log"])
    assert after["Body"]["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert "Instancing.." in after["Log"].split("START RequestId")[1], "lazy: the app loads inside the invocation"


def test_new_migration_file_makes_the_next_invocation_cold(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    before = emulator.invoke("fns.echo", stage="base")["Body"]["pid"]
    generation = emulator.generation()
    (emulator.project_dir / "migrations" / "versions").mkdir(parents=True)  # new directories: watched from now on
    (emulator.project_dir / "migrations" / "versions" / "0001_new.py").write_text("revision = '0001'\n")
    emulator.wait_for_change(generation)
    generation = emulator.generation()
    (emulator.project_dir / "migrations" / "versions" / "0002_next.py").write_text("revision = '0002'\n")
    emulator.wait_for_change(generation)  # a file in a directory created after start-up is seen too
    assert emulator.invoke("fns.echo", stage="base")["Body"]["pid"] != before


def test_excluded_ignored_and_virtualenv_files_do_not_make_it_cold(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    project = emulator.project_dir
    before = emulator.invoke("fns.echo", stage="base")["Body"]["pid"]
    generation = emulator.generation()
    (project / "notes").mkdir()
    (project / "notes" / "scratch.py").write_text("x = 1\n")  # "notes" is in the stage's exclude
    (project / "README.md").write_text("edited\n")
    (project / ".gitignore").write_text("build/\n")
    (project / "some-venv").mkdir()
    (project / "some-venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (project / "some-venv" / "lib.py").write_text("z = 1\n")
    marker = generation  # then a change that counts, to know the ones before it were seen (and ignored)
    (project / "counted.py").write_text("y = 1\n")
    after = emulator.wait_for_change(marker)
    assert after == generation + 1 or emulator.health()["change_detection"] == "scan", "ignored files counted"
    assert emulator.invoke("fns.echo", stage="base")["Body"]["pid"] != before


def _first_answer(emulator: Emulator, stage: str) -> dict:
    """``fns.echo`` on ``stage`` until a call is not cut by the stage's timeout (generous deadline).

    On a busy machine a cold worker's first call can outlast a 1 s timeout by itself; each timeout kills the
    environment, so the call that answers is always the first of a fresh one.
    """
    deadline = time.monotonic() + 120
    while True:
        response = emulator.invoke("fns.echo", stage=stage)
        if response.get("FunctionError") is None or time.monotonic() > deadline:
            return response
        assert response["Body"]["errorType"] == "Sandbox.Timedout", response


def test_timeout_kills_the_environment_and_the_next_call_is_cold(emulator: Emulator) -> None:
    _first_answer(emulator, "tight")  # warm: the 1 s is for the sleep, not for a cold worker's first call
    # The sleep outlasts the client's read timeout by far: only the 1 s timeout can answer in time, however busy
    # the machine is (no speed assertion needed).
    response = emulator.invoke("fns.sleep", stage="tight", seconds=600)
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in response["Body"]["errorMessage"]
    assert "going to sleep" in response["Log"]
    assert re.search(r"Z \S+ Task timed out after 1\.00 seconds\nEND RequestId", response["Log"])

    following = _first_answer(emulator, "tight")
    assert "FunctionError" not in following
    assert "Init Duration" in following["Log"]


def test_memory_limit_kills_the_environment(emulator: Emulator) -> None:
    # The `small` stage: 128 MB like `tight`, but a timeout that a slow allocation on a busy machine cannot hit.
    emulator.invoke("fns.version", stage="small")  # warm, so the allocation is the only growth
    response = emulator.invoke("fns.allocate", stage="small", mb=300)

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in response["Body"]["errorMessage"]
    assert "Max Memory Used: 128 MB" in response["Log"]

    following = emulator.invoke("fns.allocate", stage="small", mb=10)
    assert following["Body"] == 10 * 1024 * 1024
    assert "Init Duration" in following["Log"]


def test_memory_limit_without_proc_is_checked_when_the_function_returns(emulator_factory) -> None:
    """What macOS gets (no /proc to watch): the worker's own getrusage peak, reported with its reply. The ``base``
    stage (256 MB, 5 s): the allocation must run to its end, which a 1 s timeout on a busy machine might not allow."""
    emulator: Emulator = emulator_factory("--memory-probe", "rusage")
    assert "memory_size is checked when a function returns" in emulator.console()

    response = emulator.invoke("fns.allocate", stage="base", mb=300)
    assert response["FunctionError"] == "Unhandled", response["Log"]
    assert response["Body"]["errorType"] == "Runtime.OutOfMemory"
    assert "Max Memory Used: 256 MB" in response["Log"]

    following = emulator.invoke("fns.allocate", stage="base", mb=10)
    assert following["Body"] == 10 * 1024 * 1024
    assert "Init Duration" in following["Log"]
    assert int(re.search(r"Max Memory Used: (\d+) MB", following["Log"]).group(1)) < 256, following["Log"]


def _slow_starting_python(directory: Path, seconds: float) -> str:
    """An interpreter whose worker processes spend ``seconds`` before Python starts (a cold pycache on a busy
    machine, in effect): the emulator's probe of it is not slowed, only the execution environments' init."""
    wrapper = directory / "slow-python"
    wrapper.write_text(f'#!/bin/sh\ncase "$1" in */worker.py) sleep {seconds} ;; esac\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_init_longer_than_ten_seconds_finishes_within_the_first_invocation(emulator_factory, tmp_path: Path) -> None:
    """Lambda's init limit is 10 s; an init that takes longer is re-run within the first invocation, under the
    function's timeout (60 s in ``small``), and its log says so. It is never an emulator failure."""
    emulator: Emulator = emulator_factory("--python", _slow_starting_python(tmp_path, 10.5))
    response = emulator.invoke("fns.echo", stage="small")

    assert "FunctionError" not in response, response["Log"]
    assert "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout\nSTART RequestId" in response["Log"]
    assert float(INIT_MS.search(response["Log"]).group(1)) > 10000, response["Log"]


def test_init_longer_than_the_function_timeout_is_a_runtime_error(emulator_factory, tmp_path: Path) -> None:
    """``base`` allows 5 s, so the init gets Lambda's 10 s and no more: the caller gets a function error naming the
    limit (never the emulator's HTTP 500), and the next invocation starts a new environment."""
    emulator: Emulator = emulator_factory("--python", _slow_starting_python(tmp_path, 10.5))
    response = emulator.invoke("fns.echo", stage="base")

    assert response["FunctionError"] == "Unhandled", response
    assert response["Body"]["errorType"] == "Runtime.ExitError"
    assert "init did not finish within 10 seconds" in response["Body"]["errorMessage"]
    assert emulator.health()["environments"]["emu-fixture-base"] == {"busy": 0, "warm": 0, "starting": 0}


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("fns.crash", "exit status 3"),
        ("fns.segfault", "signal: segmentation fault"),
        ("fns.exit_via_sys", "exit status 1"),
    ],
)
def test_crash_is_a_runtime_exit_error(emulator: Emulator, command: str, reason: str) -> None:
    response = emulator.invoke(command, stage="small")

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.ExitError"
    assert response["Body"]["errorMessage"].endswith(f"Runtime exited with error: {reason}")
    assert f"Runtime exited with error: {reason}\nRuntime.ExitError\nEND RequestId" in response["Log"]

    following = emulator.invoke("fns.echo", stage="small")
    assert "FunctionError" not in following
    assert "Init Duration" in following["Log"]


def test_faults_leave_no_worker_processes(emulator: Emulator) -> None:
    health = emulator.health()["environments"]
    for counts in health.values():
        assert counts["busy"] == 0
        assert counts["warm"] <= 2


def test_stopping_the_emulator_ends_busy_and_idle_environments(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    idle_pid = emulator.invoke("fns.echo", stage="local")["Body"]["pid"]
    client = emulator.lambda_client()
    client.invoke(
        FunctionName="emu-fixture-base",
        InvocationType="Event",
        Payload=b'{"command": "fns.sleep", "seconds": 30}',
    )
    # "busy" is counted as soon as the environment is claimed, a moment before its process has exec'd the worker.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        busy = emulator.health()["environments"]["emu-fixture-base"]["busy"]
        workers = _worker_pids(emulator.project_dir)
        if busy >= 1 and len(workers) >= 2:
            break
        time.sleep(0.05)
    assert busy == 1
    assert idle_pid in workers and len(workers) == 2

    emulator.stop()
    assert emulator.proc.returncode == 0
    deadline = time.monotonic() + 5
    while _worker_pids(emulator.project_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _worker_pids(emulator.project_dir) == set()


def _worker_pids(project_dir) -> set[int]:
    """Worker processes serving ``project_dir`` (their command line names it)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"worker.py") for arg in args) and str(project_dir).encode() in args:
            pids.add(int(entry))
    return pids


def test_settings_change_reloads_the_stage_and_makes_it_cold(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    before = emulator.invoke("fns.echo", stage="base")["Body"]
    settings_path = emulator.project_dir / "zappa_settings.json"
    settings = json.loads(settings_path.read_text())
    settings["base"]["memory_size"] = 192
    generation = emulator.generation()
    settings_path.write_text(json.dumps(settings))
    os.utime(settings_path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))

    emulator.wait_for_change(generation)
    after = emulator.invoke("fns.echo", stage="base")
    assert after["Body"]["memory_limit_in_mb"] == 192
    assert after["Body"]["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert after["Body"]["pid"] != before["pid"]
    assert "Memory Size: 192 MB" in after["Log"]

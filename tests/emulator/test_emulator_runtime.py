"""Execution environments: cold and warm starts, code changes, and the faults Lambda turns into errors."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from emulator_harness import Emulator

INIT = re.compile(r"Init Duration: \d+\.\d\d ms")


def test_first_invocation_is_cold_and_later_ones_are_warm(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    first = emulator.invoke("fns.echo", stage="base")
    second = emulator.invoke("fns.echo", stage="base")

    assert INIT.search(first["Log"].splitlines()[-1])
    assert "Init Duration" not in second["Log"]
    assert first["Body"]["pid"] == second["Body"]["pid"]
    assert second["Body"]["remaining_ms"] > 4000


def test_code_change_makes_the_next_invocation_cold(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    before = emulator.invoke("fns.echo", stage="base")
    assert before["Body"]["version"] == 1

    module = emulator.project_dir / "fns.py"
    module.write_text(module.read_text().replace("VERSION = 1", "VERSION = 2"))
    os.utime(module, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))  # coarse-mtime filesystems
    after = emulator.invoke("fns.echo", stage="base")

    assert after["Body"]["version"] == 2
    assert after["Body"]["pid"] != before["Body"]["pid"]
    assert "Init Duration" in after["Log"]


def test_new_migration_file_makes_the_next_invocation_cold(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    before = emulator.invoke("fns.echo", stage="base")["Body"]["pid"]
    (emulator.project_dir / "migrations" / "versions").mkdir(parents=True)
    (emulator.project_dir / "migrations" / "versions" / "0001_new.py").write_text("revision = '0001'\n")
    assert emulator.invoke("fns.echo", stage="base")["Body"]["pid"] != before


def test_excluded_files_do_not_make_it_cold(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    before = emulator.invoke("fns.echo", stage="base")["Body"]["pid"]
    (emulator.project_dir / "notes").mkdir()
    (emulator.project_dir / "notes" / "scratch.py").write_text("x = 1\n")  # "notes" is in the stage's exclude
    (emulator.project_dir / "README.md").write_text("edited\n")
    assert emulator.invoke("fns.echo", stage="base")["Body"]["pid"] == before


def test_timeout_kills_the_environment_and_the_next_call_is_cold(emulator: Emulator) -> None:
    response = emulator.invoke("fns.sleep", stage="tight", seconds=5)

    # Killed at the 1 s timeout, well before the 5 s sleep ends (REPORT's Duration leaves the cold start out).
    assert float(re.search(r"\tDuration: ([0-9.]+) ms", response["Log"]).group(1)) < 4500, response["Log"]
    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in response["Body"]["errorMessage"]
    assert "going to sleep" in response["Log"]
    assert re.search(r"Z \S+ Task timed out after 1\.00 seconds\nEND RequestId", response["Log"])

    following = emulator.invoke("fns.echo", stage="tight")
    assert "FunctionError" not in following
    assert "Init Duration" in following["Log"]


def test_memory_limit_kills_the_environment(emulator: Emulator) -> None:
    emulator.invoke("fns.version", stage="tight")  # warm, so the allocation is the only growth
    response = emulator.invoke("fns.allocate", stage="tight", mb=300)

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in response["Body"]["errorMessage"]
    assert "Max Memory Used: 128 MB" in response["Log"]

    following = emulator.invoke("fns.allocate", stage="tight", mb=10)
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


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("fns.crash", "exit status 3"),
        ("fns.segfault", "signal: segmentation fault"),
        ("fns.exit_via_sys", "exit status 1"),
    ],
)
def test_crash_is_a_runtime_exit_error(emulator: Emulator, command: str, reason: str) -> None:
    response = emulator.invoke(command, stage="tight")

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.ExitError"
    assert response["Body"]["errorMessage"].endswith(f"Runtime exited with error: {reason}")
    assert f"Runtime exited with error: {reason}\nRuntime.ExitError\nEND RequestId" in response["Log"]

    following = emulator.invoke("fns.echo", stage="tight")
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
    settings_path.write_text(json.dumps(settings))
    os.utime(settings_path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))

    after = emulator.invoke("fns.echo", stage="base")
    assert after["Body"]["memory_limit_in_mb"] == 192
    assert after["Body"]["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert after["Body"]["pid"] != before["pid"]
    assert "Memory Size: 192 MB" in after["Log"]

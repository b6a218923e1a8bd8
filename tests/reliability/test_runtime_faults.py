"""Faults inside the function: the emulator answers every request, and the errors it reports are exactly the faults
that were injected, no more (a healthy call after a fault must not fail) and no fewer (a fault must not pass as a
success).

Served: the fixture project (``tests/examples/projects/lambda_project``: functions that raise, sleep, allocate, crash),
with its ``tight`` stage (1 s timeout, 128 MB) for the timeout and ``small`` (128 MB, 60 s) for the memory limit. One
emulator for the module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.emulator_harness import FIXTURE_PROJECT, copy_project, start_emulator
from tests.support.reliability_harness import Emulator, HttpResult, app_env, free_port, invoke_http

pytestmark = pytest.mark.emulator

LOCAL = "emu-fixture-local"  # 5 s, 256 MB
TIGHT = "emu-fixture-tight"  # 1 s, 128 MB
SMALL = "emu-fixture-small"  # 60 s, 128 MB: a slow allocation on a busy machine hits the memory limit, not the clock
FIXTURE_VERSION = 1  # fns.VERSION


@dataclass(frozen=True)
class Fault:
    function: str
    event: dict[str, Any]
    error_type: str
    message: str  # a part of errorMessage


FAULTS = {
    "handler-exception": Fault(LOCAL, {"command": "fns.fail"}, "ValueError", "boom from the fixture"),
    # Sleeps far longer than the HTTP client waits (60 s): only the 1 s timeout can end it in time, however busy
    # the machine is.
    "timeout": Fault(
        TIGHT, {"command": "fns.sleep", "seconds": 600}, "Sandbox.Timedout", "Task timed out after 1.00 seconds"
    ),
    "memory-limit": Fault(SMALL, {"command": "fns.allocate", "mb": 300}, "Runtime.OutOfMemory", "signal: killed"),
    "hard-crash-exit": Fault(
        LOCAL, {"command": "fns.crash", "code": 3}, "Runtime.ExitError", "Runtime exited with error: exit status 3"
    ),
    "hard-crash-segfault": Fault(
        LOCAL, {"command": "fns.segfault"}, "Runtime.ExitError", "Runtime exited with error: signal: segmentation fault"
    ),
    "sys-exit": Fault(
        LOCAL, {"command": "fns.exit_via_sys"}, "Runtime.ExitError", "Runtime exited with error: exit status 1"
    ),
    "unserialisable-result": Fault(
        LOCAL, {"command": "fns.unserialisable"}, "Runtime.MarshalError", "Unable to marshal response"
    ),
}


@pytest.fixture(scope="module")
def fixture_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    port = free_port()
    project = copy_project(FIXTURE_PROJECT, tmp_path_factory.mktemp("faults") / "project", port)
    emulator = start_emulator(
        project, port, "--max-concurrency", "4", "--pass-env", "NONE", api=False, env=app_env(None)
    )
    try:
        yield emulator
    finally:
        emulator.stop()


def _call(emulator: Emulator, function: str, event: dict[str, Any]) -> HttpResult:
    return invoke_http(emulator.url, function, event, timeout=60)


def _first_answer(emulator: Emulator, function: str) -> HttpResult:
    """``fns.version`` until a call is not cut by the function's timeout (generous deadline): on a busy machine a
    cold worker's first call can outlast the 1 s of ``tight`` by itself; any other error is returned at once."""
    deadline = time.monotonic() + 120
    while True:
        answer = _call(emulator, function, {"command": "fns.version"})
        if answer.error_code or not answer.function_error or time.monotonic() > deadline:
            return answer
        if answer.json().get("errorType") != "Sandbox.Timedout":
            return answer


def _assert_ok(answer: HttpResult) -> None:
    assert answer.status == 200 and answer.function_error is None, answer.describe()
    assert answer.json() == FIXTURE_VERSION


def _assert_fault(answer: HttpResult, fault: Fault) -> None:
    assert answer.status == 200, answer.describe()
    assert answer.function_error == "Unhandled", answer.describe()
    error = answer.json()
    assert error["errorType"] == fault.error_type, answer.describe()
    assert fault.message in error["errorMessage"], answer.describe()


def _assert_idle(emulator: Emulator) -> None:
    """The emulator still answers /health, and no environment is left busy (leaked) after the faults."""
    health = emulator.health()
    assert health["status"] == "ok"
    assert all(pool["busy"] == 0 for pool in health["environments"].values()), health
    assert emulator.proc.poll() is None


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_reported_and_the_next_call_succeeds(fixture_emulator: Emulator, name: str) -> None:
    fault = FAULTS[name]
    answer = _call(fixture_emulator, fault.function, fault.event)
    _assert_fault(answer, fault)
    assert f"END RequestId: {answer.headers['x-amzn-requestid']}" in answer.log

    _assert_ok(_first_answer(fixture_emulator, fault.function))
    _assert_idle(fixture_emulator)


CRASHES = [FAULTS["hard-crash-exit"], FAULTS["hard-crash-segfault"]]


@pytest.mark.parametrize(
    "count",
    [pytest.param(20, id="20-calls-2-crashes"), pytest.param(100, id="100-calls-10-crashes", marks=pytest.mark.slow)],
)
def test_one_crash_every_ten_calls(fixture_emulator: Emulator, count: int) -> None:
    injected = {i: CRASHES[(i // 10) % len(CRASHES)] for i in range(count) if i % 10 == 9}
    errors: list[int] = []
    for i in range(count):
        fault = injected.get(i)
        answer = _call(fixture_emulator, LOCAL, fault.event if fault else {"command": "fns.version"})
        assert answer.status == 200, f"call {i}: {answer.describe()}"
        if answer.function_error:
            errors.append(i)
            assert fault is not None, f"call {i} failed without an injected fault: {answer.describe()}"
            _assert_fault(answer, fault)
        else:
            assert fault is None, f"call {i} should have crashed: {answer.describe()}"
            assert answer.json() == FIXTURE_VERSION
    assert errors == sorted(injected)
    _assert_idle(fixture_emulator)


@pytest.mark.parametrize(
    "rounds", [pytest.param(1, id="1-round"), pytest.param(8, id="8-rounds", marks=pytest.mark.slow)]
)
def test_concurrent_mix_of_faults_and_healthy_calls(fixture_emulator: Emulator, rounds: int) -> None:
    """Faults while other calls of the same functions run: each caller gets its own answer, nothing is mixed up."""
    plan: list[Fault | None] = [
        FAULTS["hard-crash-exit"],
        FAULTS["timeout"],
        FAULTS["handler-exception"],
        FAULTS["memory-limit"],
        FAULTS["hard-crash-segfault"],
        None,
        None,
        None,
        None,
        None,
    ]
    for _ in range(rounds):
        barrier = threading.Barrier(len(plan))

        def run(fault: Fault | None, barrier: threading.Barrier = barrier) -> HttpResult:
            barrier.wait(timeout=30)
            if fault is None:
                return _call(fixture_emulator, LOCAL, {"command": "fns.version"})
            return _call(fixture_emulator, fault.function, fault.event)

        with ThreadPoolExecutor(len(plan)) as pool:
            answers = list(pool.map(run, plan))
        for fault, answer in zip(plan, answers, strict=True):
            if fault is None:
                _assert_ok(answer)
            else:
                _assert_fault(answer, fault)
        assert sum(a.function_error is not None for a in answers) == sum(f is not None for f in plan)
    _assert_idle(fixture_emulator)

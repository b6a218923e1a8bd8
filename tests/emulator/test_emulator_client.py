"""The client every tool uses: start, health, invoke, decode, stop; the port helper and the wait loop under it."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from dev.emulator import __main__ as emulator_main
from dev.emulator import client
from dev.health import NotHealthy, wait_healthy
from dev.ports import free_port, port_in_use
from tests.support.emulator_harness import FIXTURE_PROJECT, Emulator, copy_project, fixture_env, start_refused


def test_invoke_decodes_result_log_tail_and_request_id(emulator: Emulator) -> None:
    answer = emulator.client().invoke("emu-fixture-local", client.zappa_command("fns.echo", {"answer": 42}))

    assert answer.ok and answer.status == 200 and answer.error() is None
    assert answer.json()["event"] == {"command": "fns.echo", "answer": 42}
    assert answer.request_id == answer.json()["request_id"]
    assert f"START RequestId: {answer.request_id}" in answer.log
    assert f"END RequestId: {answer.request_id}" in answer.log


def test_report_figures_are_read_from_the_last_report_line(emulator_factory) -> None:
    """Through a real invocation: the cold one's REPORT has every figure, the warm one's no Init Duration (an
    emulator of its own, so the first call is cold whatever ran before)."""
    caller = emulator_factory().client(timeout=120)
    cold = caller.invoke("emu-fixture-small", client.zappa_command("fns.echo"))
    warm = caller.invoke("emu-fixture-small", client.zappa_command("fns.echo"))

    report = next(line for line in cold.log.splitlines() if line.startswith("REPORT RequestId:"))
    for field in ("Duration", "Billed Duration", "Max Memory Used", "Init Duration"):
        figure = cold.reported(field)
        assert figure is not None and figure > 0 and f"\t{field}: " in report, (field, report)
    assert cold.reported("Memory Size") == 128
    assert warm.reported("Init Duration") is None and warm.reported("Duration") is not None
    assert client.Invocation(200, {}, b"{}").reported("Duration") is None  # no log tail asked for


def test_function_error_is_decoded(emulator: Emulator) -> None:
    answer = emulator.client().invoke("emu-fixture-local", client.zappa_command("fns.fail"))

    assert not answer.ok and answer.status == 200 and answer.function_error == "Unhandled"
    assert answer.error()["errorType"] == "ValueError"
    assert answer.error()["errorMessage"] == "boom from the fixture"
    assert "[ERROR] ValueError: boom from the fixture" in answer.log


def test_service_error_is_decoded(emulator: Emulator) -> None:
    answer = emulator.client().invoke("no-such-function", {})

    assert answer.status == 404 and answer.function_error is None
    assert answer.error_code == "ResourceNotFoundException"
    assert answer.error() == {
        "errorType": "ResourceNotFoundException",
        "errorMessage": answer.json()["message"],
    }
    assert "Function not found" in answer.error()["errorMessage"]


def test_event_invocation_is_accepted_without_a_result(emulator: Emulator, tmp_path: Path) -> None:
    marker = emulator.shared_path("ran")
    answer = emulator.client().invoke(
        "emu-fixture-local", client.zappa_command("fns.touch", {"path": str(marker)}), invocation_type="Event"
    )
    assert (answer.status, answer.body, answer.log) == (202, b"", "")
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == answer.request_id


def test_keep_alive_reuses_one_connection(emulator: Emulator) -> None:
    lambda_client = emulator.client(keep_alive=True)
    first = lambda_client.invoke("emu-fixture-local", client.zappa_command("fns.version"))
    connection = lambda_client._connection
    second = lambda_client.invoke("emu-fixture-local", client.zappa_command("fns.version"))
    assert first.json() == second.json() == 1
    assert connection is not None and lambda_client._connection is connection
    lambda_client.close()


def test_nothing_listening_is_emulator_unreachable() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(client.EmulatorUnreachable, match="is not reachable") as info:
        client.LambdaClient(endpoint, timeout=10).invoke("any", {})
    assert isinstance(info.value, OSError) and info.value.endpoint == endpoint


@pytest.mark.emulator
def test_a_start_that_fails_shows_the_log_tail(tmp_path: Path) -> None:
    project = copy_project(FIXTURE_PROJECT, tmp_path / "project", free_port())
    refusal = start_refused("--stage", "nope", log=tmp_path / "emulator.log", project_dir=project, env=fixture_env())

    assert refusal.returncode == 2 and refusal.reason == "exited"
    assert "stage 'nope' is not in zappa_settings.json" in refusal.log
    assert "stage 'nope' is not in zappa_settings.json" in str(refusal)  # the message carries the tail
    assert str(tmp_path / "emulator.log") in str(refusal)


@pytest.mark.emulator
def test_start_and_stop_leave_nothing_listening(tmp_path: Path) -> None:
    project = copy_project(FIXTURE_PROJECT, tmp_path / "project", free_port())
    with client.start(log=tmp_path / "emulator.log", project_dir=project, env=fixture_env()) as emulator:
        assert port_in_use(emulator.port) and port_in_use(emulator.api_port)
        assert emulator.health()["functions"]["emu-fixture-local"] == "local"
    assert emulator.proc.returncode == 0
    assert not port_in_use(emulator.port) and not port_in_use(emulator.api_port)


def test_wait_healthy_reports_exit_and_timeout_with_the_log(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_text("line 1\nthe reason it failed\n")
    url = f"http://127.0.0.1:{free_port()}/health"
    with pytest.raises(NotHealthy) as exited:
        wait_healthy(url, timeout=600, exited=lambda: True, log=log, what="the thing", hint="fix it, then retry")
    assert exited.value.reason == "exited"
    assert str(exited.value).splitlines() == [
        f"the thing exited before answering {url}",
        f"the end of {log}:",
        "line 1",
        "the reason it failed",
        "fix it, then retry",
    ]
    with pytest.raises(NotHealthy) as timed_out:
        wait_healthy(url, timeout=0, log=log)  # nothing listens there: the deadline is what ends it
    assert timed_out.value.reason == "timeout" and "did not answer" in str(timed_out.value)


def test_port_helper() -> None:
    port = free_port()
    assert not port_in_use(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert port_in_use(port)


class _Fallback(BaseException):
    """The test's own way out, so a broken wait fails instead of hanging."""


def _raise_fallback(signum: int, frame: object) -> None:
    raise _Fallback


def test_a_signal_taken_by_another_thread_still_stops_the_emulator() -> None:
    """The kernel may hand SIGTERM to any thread; the emulator's main thread must wake up all the same (it once slept
    on until the client's SIGKILL, 10 s later)."""
    main_thread = threading.get_ident()
    done = threading.Event()
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, emulator_main._raise_stop),
        signal.SIGUSR1: signal.signal(signal.SIGUSR1, _raise_fallback),
    }

    def other_thread() -> None:
        time.sleep(1)  # let the main thread get into its wait first
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # delivered to this thread, not the main one
        if not done.wait(60):
            signal.pthread_kill(main_thread, signal.SIGUSR1)

    helper = threading.Thread(target=other_thread, daemon=True)
    try:
        helper.start()
        with pytest.raises(emulator_main.Stop):
            emulator_main.wait_for_signal()
    finally:
        done.set()
        helper.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)

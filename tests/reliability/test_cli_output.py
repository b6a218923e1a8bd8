"""What the harness's command lines print: each invoke result once, as JSON; a reader that stops reading
(``make up | head -1``) ends nothing early and prints no traceback (dev/cli.py)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dev import invoke
from dev.emulator.client import Invocation

REPO_ROOT = Path(__file__).resolve().parents[2]

# What Zappa's handler and the runtime write for `zappa invoke local run.run_alembic_current`.
LOG = (
    "START RequestId: r1 Version: $LATEST\n"
    "INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n"
    "Result of run.run_alembic_current:\n"
    "{'revision': 'abc123', 'is_head': True, 'pending': []}\n"
    "END RequestId: r1\n"
    "REPORT RequestId: r1\tDuration: 12.00 ms\tBilled Duration: 12 ms\tMemory Size: 1024 MB\tMax Memory Used: 86 MB\t\n"
)
RESULT = {"revision": "abc123", "is_head": True, "pending": []}


def _answer(log: str = LOG, result: object = RESULT) -> Invocation:
    headers = {"x-amz-log-result": base64.b64encode(log.encode()).decode()}
    return Invocation(200, headers, json.dumps(result).encode())


def _args(*extra: str) -> argparse.Namespace:
    return invoke.parse_args(["run.run_alembic_current", *extra])


def test_invoke_prints_the_log_and_then_the_result_once_as_json(capsys) -> None:
    assert invoke.report(_answer(), _args(), "fn") == 0
    out = capsys.readouterr().out
    assert out.count("abc123") == 1, out
    assert "{'revision'" not in out, "the handler's Python repr is gone"
    log, result = out.split("Result of run.run_alembic_current:\n")
    assert log.startswith("START RequestId: r1") and "Context impl PostgresqlImpl" in log
    assert "END RequestId: r1\nREPORT RequestId: r1" in log
    assert json.loads(result) == RESULT


def test_invoke_json_mode_keeps_stdout_for_the_result(capsys) -> None:
    assert invoke.report(_answer(), _args("--json"), "fn") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == RESULT
    assert "START RequestId: r1" in captured.err and "abc123" not in captured.err


def test_invoke_warns_of_data_loss_in_the_words_the_checks_fail_with(capsys) -> None:
    loss = {
        "message": "revision abc (upgrade) dropped videos.link holding 15 non-null values (data loss)",
        "fix": "it looks like a rename of link to watch_url: write op.alter_column('videos', 'link', "
        "new_column_name='watch_url')",
    }
    result = {"action": "upgrade", "to_revision": "abc", "data_loss": [loss]}
    assert invoke.report(_answer(LOG, result), _args(), "fn") == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING: data loss: revision abc (upgrade) dropped videos.link holding 15 non-null values")
    assert "op.alter_column('videos', 'link', new_column_name='watch_url')" in err
    assert invoke.data_loss_warnings({"data_loss": []}) == [] and invoke.data_loss_warnings([1]) == []


def test_invoke_keeps_a_log_without_the_handlers_result_whole(capsys) -> None:
    cut = LOG.split("Result of", 1)[1]  # a tail that starts after the header: nothing to take out
    assert invoke.without_printed_result(cut, "run.run_alembic_current") == cut
    raw = "START RequestId: r2\n42\nEND RequestId: r2\n"
    assert invoke.report(_answer(raw, None), invoke.parse_args(["--raw", "print(42)"]), "fn") == 0
    assert capsys.readouterr().out == raw + "null\n"


def _with_closed_stdout(argv: list[str], unbuffered: bool) -> subprocess.CompletedProcess:
    """Run ``argv`` with a stdout whose reader has already gone (every write meets a closed pipe)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            argv, stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env, timeout=120
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_a_closed_pipe_ends_nothing_early_and_keeps_the_exit_status(tmp_path: Path, unbuffered: bool) -> None:
    done = tmp_path / "done"
    program = (
        "from dev.cli import run\n"
        "def main():\n"
        "    print('first', flush=True)\n"
        "    print('second' * 10000)\n"
        f"    open({str(done)!r}, 'w').write('finished')\n"
        "    return 3\n"
        "run(main)\n"
    )
    result = _with_closed_stdout([sys.executable, "-c", program], unbuffered)
    assert (result.returncode, result.stderr) == (3, "")
    assert done.read_text() == "finished", "the work after the reader left was done"


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "argv",
    [
        ["dev.sandbox", "url"],  # what `make up | head` runs through
        ["dev.services", "emulator-command"],
        ["dev.env_file", "get", "NAME", "--file", "{env}"],
    ],
    ids=lambda argv: argv[0] if isinstance(argv, list) else None,
)
def test_the_harness_commands_end_quietly_on_a_closed_pipe(tmp_path: Path, argv: list[str], unbuffered: bool) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NAME=value\n")
    result = _with_closed_stdout([sys.executable, "-m", *(a.format(env=env_file) for a in argv)], unbuffered)
    assert (result.returncode, result.stderr) == (0, "")

"""``python -m dev.invoke``: a fast ``zappa invoke`` for the local emulator.

    python -m dev.invoke [--stage local] FUNCTION [--payload JSON] [--async] [--json] [--raw] [--endpoint URL]

Sends what ``zappa invoke STAGE FUNCTION`` sends (``{"command": FUNCTION, ...payload}``, RequestResponse, log tail)
and prints what it prints (the decoded log tail), but the result once, at the end, as JSON: Zappa's handler prints
it into the log as Python (``Result of FUNCTION:`` and its ``repr``), which is taken out. ``--json`` puts the log on
stderr and only the result on stdout. What a migration destroyed (its ``data_loss``) is repeated on stderr as a
``WARNING: data loss: ...`` line each. Exit status: 0 on success, 1 on a function or service error (the message is
printed), 2 when the emulator cannot be reached.

Why not the Zappa CLI itself: it takes 1.5-3 s per call (importing ``zappa.cli`` and boto3, creating clients, a PyPI
version check). This is a thin command over :mod:`dev.emulator.client`; the function name and endpoint come from
:mod:`dev.emulator.settings` (Zappa's own resolution, cached per edit of the settings file). Use the real CLI to
rehearse the exact production call; use this for the inner loop and ``make`` targets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dev.cli import run
from dev.emulator.client import (
    DEFAULT_ENDPOINT,
    EmulatorUnreachable,
    Invocation,
    LambdaClient,
    endpoint_for,
    zappa_command,
)
from dev.emulator.settings import SettingsError, stage_config
from dev.migration_policy import explain_loss

HINT = "start it with `make emulator` (foreground) or `make up`, or pass --endpoint / AWS_ENDPOINT_URL_LAMBDA"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("function", help="module.function, as for `zappa invoke` (or Python code with --raw)")
    parser.add_argument("--stage", default="local")
    parser.add_argument("--settings", type=Path, default=Path("zappa_settings.json"))
    parser.add_argument("--payload", help="JSON object merged into the event, as `zappa invoke --payload`")
    parser.add_argument("--async", dest="is_async", action="store_true", help="Event invocation: 202, no result")
    parser.add_argument("--json", action="store_true", help="stdout: the result as JSON only (the log goes to stderr)")
    parser.add_argument("--raw", action="store_true", help="send a raw_command (the emulator must allow it)")
    parser.add_argument("--endpoint", help=f"Invoke API URL (default: the stage's, else {DEFAULT_ENDPOINT})")
    parser.add_argument("--timeout", type=float, default=960.0, help="seconds to wait for the answer")
    return parser.parse_args(argv)


def build_event(args: argparse.Namespace) -> dict[str, Any]:
    """The event ``zappa invoke`` would send; ValueError says what is wrong with ``--payload``."""
    extra: Any = {}
    if args.payload:
        try:
            extra = json.loads(args.payload)
        except ValueError as exc:
            raise ValueError(f"--payload must be valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise ValueError(f"--payload must be a JSON object, not {type(extra).__name__}")
    return zappa_command(args.function, extra, raw=args.raw)


def without_printed_result(log: str, function: str) -> str:
    """The log tail without the result Zappa's handler printed into it (``Result of FUNCTION:`` and the value as
    Python, up to the runtime's ``END RequestId:`` line): :func:`report` prints it once, as JSON. The log is kept
    whole when that block is not there (a raw command, a tail cut before it)."""
    start = log.rfind(f"Result of {function}:\n")
    end = log.find("END RequestId:", start)
    if start < 0 or end < 0:
        return log
    return log[:start] + log[end:]


def report(answer: Invocation, args: argparse.Namespace, name: str) -> int:
    """Print the answer the way ``zappa invoke`` does (log tail, then the result, once, as JSON); the exit status."""
    if answer.status >= 400:
        error = answer.error() or {}
        print(f"Error: {error.get('errorType')}: {error.get('errorMessage')}", file=sys.stderr)
        return 1
    if answer.status == 202:
        where = "it runs in the background; its log is on the emulator console"
        print(f"Accepted {name} (request {answer.request_id}): {where}")
        return 0
    log_stream = sys.stderr if args.json else sys.stdout
    log_stream.write(answer.log if args.raw else without_printed_result(answer.log, args.function))
    log_stream.flush()
    if answer.function_error:
        error = answer.error() or {}
        text = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        print(f"Error: {answer.function_error} error in {args.function}: {text}", file=sys.stderr)
        return 1
    if not (args.json or args.raw):
        print(f"Result of {args.function}:")
    try:
        result = answer.json()
        print(answer.text() if args.json else json.dumps(result, indent=2, sort_keys=True))
    except ValueError:
        print(answer.text())
        return 0
    for line in data_loss_warnings(result):
        print(line, file=sys.stderr)
    return 0


def data_loss_warnings(result: Any) -> list[str]:
    """One line per loss the migrator counted (the ``local`` stage counts them: MIGRATION_COUNT_DATA_LOSS), in the
    words ``make check-migrations`` fails with: the sandbox warns, the checks refuse an undeclared one."""
    losses = result.get("data_loss") if isinstance(result, dict) else None
    return [f"WARNING: data loss: {explain_loss(loss)}." for loss in losses or []]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        event = build_event(args)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    try:
        config = stage_config(args.settings, args.stage)
    except SettingsError as exc:
        print(f"Error: cannot use {args.settings}: {exc}", file=sys.stderr)
        return 1
    endpoint = endpoint_for(config, args.endpoint)
    try:
        client = LambdaClient(endpoint, timeout=args.timeout)
        answer = client.invoke(config.function_name, event, "Event" if args.is_async else "RequestResponse")
    except (EmulatorUnreachable, ValueError) as exc:
        print(f"Error: {exc}: {HINT}", file=sys.stderr)
        return 2
    return report(answer, args, config.function_name)


if __name__ == "__main__":
    run(main)

"""``python -m dev.invoke``: a fast ``zappa invoke`` for the local emulator.

    python -m dev.invoke [--stage local] FUNCTION [--payload JSON] [--async] [--json] [--raw] [--endpoint URL]

Sends what ``zappa invoke STAGE FUNCTION`` sends (``{"command": FUNCTION, ...payload}``, RequestResponse, log tail)
and prints what it prints (the decoded log tail), then the result. Exit status: 0 on success, 1 on a function or
service error (the message is printed), 2 when the emulator cannot be reached.

Why not the Zappa CLI itself: it takes 1.5-3 s per call (importing ``zappa.cli`` and boto3, creating clients, a PyPI
version check). This client imports neither: stdlib ``json`` and ``urllib`` only, with Zappa's function naming
reimplemented in a few lines (``tests/emulator`` checks it against Zappa's). Use the real CLI to rehearse the exact
production call; use this for the inner loop and ``make`` targets.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import unicodedata
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
HINT = "start it with `make emulator` (foreground) or `make up`, or pass --endpoint / AWS_ENDPOINT_URL_LAMBDA"


def slugify(text: str) -> str:
    """python-slugify's result for ordinary names (what Zappa uses for ``<project_name>-<stage>``)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def stage_settings(settings: dict[str, Any], stage: str) -> dict[str, Any]:
    """The stage's settings with ``extends`` applied, as ZappaCLI.stage_config resolves them."""
    if stage not in settings:
        raise KeyError(f"stage {stage!r} is not in the settings file (stages: {', '.join(sorted(settings))})")
    chain: list[str] = []
    current: str | None = stage
    while current:
        if current in chain:
            raise ValueError(f"circular 'extends' in the settings file: {' -> '.join([*chain, current])}")
        if current not in settings:
            raise KeyError(f"stage {chain[-1]!r} extends undefined stage {current!r}")
        chain.append(current)
        current = settings[current].get("extends")
    merged: dict[str, Any] = {}
    for name in reversed(chain):
        merged.update(settings[name])
    return merged


def function_name(settings: dict[str, Any], stage: str, project_dir: Path) -> str:
    config = stage_settings(settings, stage)
    project = config.get("project_name") or slugify(project_dir.resolve().name)[:15]  # ZappaCLI.get_project_name
    return slugify(f"{project}-{stage}")


def endpoint_for(settings: dict[str, Any], stage: str, override: str | None) -> str:
    """--endpoint, else AWS_ENDPOINT_URL_LAMBDA (boto3 honours it too), else the stage's aws_endpoint_urls.lambda."""
    if override:
        return override
    if os.environ.get("AWS_ENDPOINT_URL_LAMBDA"):
        return os.environ["AWS_ENDPOINT_URL_LAMBDA"]
    return stage_settings(settings, stage).get("aws_endpoint_urls", {}).get("lambda") or DEFAULT_ENDPOINT


def invoke(endpoint: str, name: str, payload: bytes, invocation_type: str, timeout: float) -> tuple[int, dict, bytes]:
    """POST to the Invoke API; (status, headers, body). HTTP errors are returned, not raised."""
    url = f"{endpoint.rstrip('/')}/2015-03-31/functions/{urllib.request.quote(name, safe='')}/invocations"
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Amz-Invocation-Type": invocation_type,
            "X-Amz-Log-Type": "Tail",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = json.loads(args.settings.read_text())
        name = function_name(settings, args.stage, args.settings.resolve().parent)
        endpoint = endpoint_for(settings, args.stage, args.endpoint)
    except (OSError, ValueError, KeyError) as exc:
        print(f"Error: cannot use {args.settings}: {exc}", file=sys.stderr)
        return 1

    event: dict[str, Any] = {"raw_command": args.function} if args.raw else {"command": args.function}
    if args.payload:
        try:
            extra = json.loads(args.payload)
        except ValueError as exc:
            print(f"Error: --payload must be valid JSON: {exc}", file=sys.stderr)
            return 1
        if not isinstance(extra, dict):
            print(f"Error: --payload must be a JSON object, not {type(extra).__name__}", file=sys.stderr)
            return 1
        event.update(extra)

    invocation_type = "Event" if args.is_async else "RequestResponse"
    try:
        status, headers, body = invoke(endpoint, name, json.dumps(event).encode(), invocation_type, args.timeout)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"Error: the Lambda emulator at {endpoint} is not reachable ({reason}): {HINT}", file=sys.stderr)
        return 2
    headers = {k.lower(): v for k, v in headers.items()}

    if status >= 400:
        try:
            message = json.loads(body).get("message") or body.decode()
        except ValueError:
            message = body.decode(errors="replace")
        code = headers.get("x-amzn-errortype", f"HTTP {status}").split(":")[0]
        print(f"Error: {code}: {message}", file=sys.stderr)
        return 1
    if status == 202:
        request_id = headers.get("x-amzn-requestid", "?")
        print(f"Accepted {name} (request {request_id}): it runs in the background; its log is on the emulator console")
        return 0

    log_stream = sys.stderr if args.json else sys.stdout
    if headers.get("x-amz-log-result"):
        log_stream.write(base64.b64decode(headers["x-amz-log-result"]).decode(errors="replace"))
        log_stream.flush()
    if headers.get("x-amz-function-error"):
        try:
            error = json.loads(body)
            text = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        except ValueError:
            text = body.decode(errors="replace")
        print(f"Error: {headers['x-amz-function-error']} error in {args.function}: {text}", file=sys.stderr)
        return 1
    if args.json:
        print(body.decode())
    else:
        try:
            print(json.dumps(json.loads(body), indent=2, sort_keys=True))
        except ValueError:
            print(body.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

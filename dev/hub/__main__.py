"""``python -m dev.hub``: serve a local WebSub hub, or publish to / ask a running one (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from dev.ports import LOOPBACK

from . import __doc__ as PACKAGE_DOC
from .client import DEFAULT_URL, HubAnswerError, HubClient, HubUnreachable
from .hub import DEFAULT_LEASE_SECONDS, VERIFICATIONS, Hub
from .server import HUB_PATH, HubHTTPServer

DEFAULT_PORT = 9999


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.hub", description=PACKAGE_DOC.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    serve = sub.add_parser("serve", help="run the hub in the foreground until Ctrl-C / SIGTERM")
    serve.add_argument("--host", default=LOOPBACK, help=f"bind address (default {LOOPBACK}: this machine only)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--lease-seconds",
        type=int,
        default=DEFAULT_LEASE_SECONDS,
        help="the longest lease granted, and the lease when none is asked (default: five days, as YouTube's hub)",
    )
    serve.add_argument(
        "--verification",
        choices=VERIFICATIONS[:2],
        default="async",
        help="async: answer 202, then verify (YouTube's hub); sync: verify before answering (204 or 409)",
    )
    for name, text in (
        ("publish", "deliver a feed (a file, or - for stdin) to the topic's verified subscribers"),
        ("subscriptions", "list the live subscriptions"),
        ("deny", "refuse a subscription (the callback gets hub.mode=denied)"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--hub", default=DEFAULT_URL, help=f"the running hub (default {DEFAULT_URL})")
        command.add_argument("--topic", required=name != "subscriptions")
        if name == "publish":
            command.add_argument("feed", help="the Atom feed to deliver, as a file name or - for stdin")
            command.add_argument("--content-type", default="application/atom+xml")
        if name == "deny":
            command.add_argument("--callback", required=True)
            command.add_argument("--reason", default="")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s hub: %(message)s")
    try:
        server = HubHTTPServer((args.host, args.port), Hub(args.verification, args.lease_seconds))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}; is another hub running?", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    url = f"http://{args.host}:{args.port}"
    print(f"WebSub hub on {url}: subscribe at {url}{HUB_PATH}, publish at {url}/publish", flush=True)
    print(f"  verification {args.verification}, leases up to {args.lease_seconds} s", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def ask(args: argparse.Namespace) -> int:
    client = HubClient(args.hub)
    if args.action == "publish":
        feed = sys.stdin.buffer.read() if args.feed == "-" else Path(args.feed).read_bytes()
        deliveries = client.publish(args.topic, feed, args.content_type)
        print(json.dumps(deliveries, indent=2))
        if not deliveries:
            print(f"error: no verified subscriber of {args.topic}: subscribe first", file=sys.stderr)
            return 1
        return 0 if all(d["status"] is not None and 200 <= d["status"] < 300 for d in deliveries) else 1
    if args.action == "deny":
        print(json.dumps(client.deny(args.topic, args.callback, args.reason), indent=2))
        return 0
    print(json.dumps(client.subscriptions(args.topic), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.action == "serve":
        return serve(args)
    try:
        return ask(args)
    except (HubUnreachable, HubAnswerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, HubUnreachable) else 1


if __name__ == "__main__":
    sys.exit(main())

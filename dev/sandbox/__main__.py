"""``python -m dev.sandbox``: see the package docstring."""

from __future__ import annotations

import argparse
import sys

from dev.cli import run
from dev.guard import RemoteDatabaseError

from . import __doc__ as PACKAGE_DOC
from .commands import backend, choose_mode, confirm_reset, new_migration, seed
from .settings import SandboxError, Settings, say


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.sandbox", description=PACKAGE_DOC.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("up", help="start PostgreSQL, the emulator and the hub (idempotent)")
    sub.add_parser("down", help="stop them, keeping the data (harmless when stopped)")
    status = sub.add_parser("status", help="what runs where")
    status.add_argument("--check", action="store_true", help="exit 3 unless everything is up and healthy")
    logs = sub.add_parser("logs", help="the services' logs")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=100)
    sub.add_parser("psql", help="psql on the sandbox database (extra arguments go to psql)")
    reset = sub.add_parser("reset", help="wipe the sandbox data (asks first), restarting it if it was running")
    reset.add_argument("--force", action="store_true", help="no confirmation")
    url = sub.add_parser("url", help="print the sandbox DATABASE_URL (or --invoke / --api URL)")
    which = url.add_mutually_exclusive_group()
    which.add_argument("--invoke", action="store_true")
    which.add_argument("--api", action="store_true")
    sub.add_parser("mode", help="print the mode that would be used: embedded or docker")
    seeding = sub.add_parser("seed", help="sample channels: subscribed through the Lambda, notified through the hub")
    seeding.add_argument("--channels", type=int, default=3)
    seeding.add_argument("--videos", type=int, default=5, help="videos per channel")
    migration = sub.add_parser("new-migration", help="autogenerate a revision against the sandbox database at head")
    migration.add_argument("-m", "--message", required=True)
    args, extra = parser.parse_known_args(argv)
    if extra and args.action != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    try:
        settings = Settings.load(recorded=args.action != "up")
        if args.action == "url":
            print(settings.invoke_url if args.invoke else settings.api_url if args.api else settings.database_url)
            return 0
        if args.action == "seed":
            if not (1 <= args.channels <= 100 and 1 <= args.videos <= 200):
                parser.error("--channels must be 1..100 and --videos 1..200")
            seed(settings, args.channels, args.videos)
            return 0
        if args.action == "new-migration":
            new_migration(settings, args.message)
            return 0
        choice = choose_mode(settings)
        if args.action == "mode":
            print(choice.mode)
            print(f"({choice.reason})", file=sys.stderr)
            return 0
        box = backend(settings, choice.mode)
        if args.action == "up":
            if settings.mode == "auto":
                say(f"{choice.mode} mode: {choice.reason} (SANDBOX=embedded|docker chooses)")
            box.up()
        elif args.action == "down":
            box.down()
        elif args.action == "status":
            up = box.status()
            return 3 if args.check and not up else 0
        elif args.action == "logs":
            return box.logs(args.follow, args.lines)
        elif args.action == "psql":
            return box.psql(extra)
        elif args.action == "reset":
            confirm_reset(settings, args.force)
            was_up = box.is_running()
            box.wipe()
            say("sandbox data wiped")
            if was_up:
                box.up()
            else:
                say("`make up` starts a fresh sandbox")
    except (SandboxError, RemoteDatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    run(main)

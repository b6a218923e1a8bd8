"""``python -m dev.emulator``: serve a Zappa project's stages as local Lambda functions.

    python -m dev.emulator [--project-dir .] [--settings zappa_settings.json] [--stage local]
                           [--host 127.0.0.1] [--port 9000] [--api-port 8000 | --no-api]
                           [--max-concurrency 2] [--allow-raw-command] [--pass-env DATABASE_URL ...]
                           [--package-dir DIR] [--runtime-dir DIR]

``--package-dir`` serves an unpacked ``zappa package`` zip instead of the project's files: the code, and the
``zappa_settings.py`` Zappa wrote into it, come from DIR, which is never written to (``dev/package_check/``).

Then ``zappa invoke local 'module.function'`` (with the stage's ``aws_endpoint_urls.lambda`` pointing here),
``python -m dev.invoke``, boto3 with ``endpoint_url``, or ``curl http://127.0.0.1:8000/...`` through the API Gateway
front. ``GET http://127.0.0.1:9000/health`` answers 200 when it is ready.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from dev.guard import RemoteDatabaseError, check_database_url

from .apigw import serve_api_gateway
from .invoke_api import console_log_sink, serve_invoke_api
from .registry import Registry
from .runtime import Runtime
from .settings import SettingsError

DEFAULT_PASS_ENV = ["DATABASE_URL"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dev.emulator",
        description="Local AWS Lambda for a Zappa project: the Lambda Invoke API and an API Gateway front.",
    )
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="the Zappa project (default: .)")
    parser.add_argument("--settings", type=Path, default=Path("zappa_settings.json"), help="relative to the project")
    parser.add_argument("--stage", default="local", help="stage served by the API Gateway front (default: local)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=9000, help="Lambda Invoke API port (default: 9000)")
    api = parser.add_mutually_exclusive_group()
    api.add_argument("--api-port", type=int, default=8000, help="API Gateway front port (default: 8000)")
    api.add_argument("--no-api", action="store_true", help="no API Gateway front")
    parser.add_argument("--max-concurrency", type=int, default=2, help="environments per function (default: 2)")
    parser.add_argument(
        "--allow-raw-command", action="store_true", help="allow Zappa's raw_command events (exec of any Python)"
    )
    parser.add_argument(
        "--pass-env",
        action="append",
        metavar="NAME",
        help="pass this variable from the emulator's environment to the functions, over the stage's value "
        "(repeatable; default: DATABASE_URL). It plays the role of Zappa's remote_env.",
    )
    parser.add_argument(
        "--package-dir",
        type=Path,
        help="serve this unpacked `zappa package` zip (its code and its own zappa_settings.py; only the stage it was "
        "built for) instead of the project's files; nothing is written into it",
    )
    parser.add_argument(
        "--runtime-dir", type=Path, help="where rendered settings modules go (default: <project-dir>/.runtime)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    if args.max_concurrency < 1:
        parser.error("--max-concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    project_dir = args.project_dir.resolve()
    settings = args.settings if args.settings.is_absolute() else project_dir / args.settings
    if not settings.is_file():
        print(f"error: {settings} not found; pass --project-dir / --settings", file=sys.stderr)
        return 2
    names = args.pass_env if args.pass_env is not None else DEFAULT_PASS_ENV
    pass_env = {name: os.environ[name] for name in names if name in os.environ}
    missing = [name for name in names if name not in os.environ]
    for name, value in pass_env.items():
        # Only PostgreSQL URLs can reach a shared schema; anything else fails in the app with its own message.
        if name.endswith("DATABASE_URL") and value.strip().lower().startswith("postgres"):
            try:
                check_database_url(value)
            except RemoteDatabaseError as exc:
                print(f"error: {name}: {exc}", file=sys.stderr)
                return 2

    try:
        registry = Registry(
            project_dir,
            settings,
            pass_env,
            package_dir=args.package_dir.resolve() if args.package_dir else None,
            runtime_dir=args.runtime_dir.resolve() if args.runtime_dir else None,
        )
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.no_api and registry.for_stage(args.stage) is None:
        if registry.package_dir is not None:
            print(
                f"error: the package was built for stage {registry.package_stage!r}, not {args.stage!r}: "
                f"pass --stage {registry.package_stage} or rebuild it with `zappa package {args.stage}`",
                file=sys.stderr,
            )
            return 2
        stages = ", ".join(sorted(c.stage for c in registry.functions()))
        print(f"error: stage {args.stage!r} is not in {settings.name} (stages: {stages})", file=sys.stderr)
        return 2

    endpoint = f"http://{args.host}:{args.port}"
    runtime = Runtime(registry, args.max_concurrency, endpoint_url=endpoint, log_sink=console_log_sink())
    servers = []
    try:
        servers.append(
            serve_invoke_api(
                runtime, args.host, args.port, allow_raw_command=args.allow_raw_command, verbose=args.verbose
            )
        )
        if not args.no_api:
            servers.append(serve_api_gateway(runtime, args.host, args.api_port, args.stage, verbose=args.verbose))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}: {exc}; is another emulator running?", file=sys.stderr)
        for server in servers:
            server.shutdown()
        return 2

    print(f"Lambda Invoke API on {endpoint} (health: {endpoint}/health), project {project_dir}")
    if registry.package_dir is not None:
        print(f"  serving the package {registry.package_dir} (stage {registry.package_stage}, its zappa_settings.py)")
    for config in registry.functions():
        remote = " (remote_env not loaded: use --pass-env)" if config.had_remote_env else ""
        print(
            f"  function {config.function_name}  stage={config.stage} timeout={config.timeout_seconds}s "
            f"memory={config.memory_size}MB{remote}"
        )
    if not args.no_api:
        print(f"API Gateway front on http://{args.host}:{args.api_port} -> stage {args.stage}")
    if pass_env:
        print(f"passing {', '.join(sorted(pass_env))} to the functions")
    if missing:
        print(f"note: {', '.join(missing)} not set in this environment, so not passed to the functions")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"WARNING: listening on {args.host}: other machines can invoke the functions (no authentication)")
    if args.allow_raw_command:
        print("WARNING: raw_command is allowed: anyone who can reach the port can run Python here")
    sys.stdout.flush()

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m dev.emulator``: serve a Zappa project's stages as local Lambda functions.

    python -m dev.emulator [--project-dir .] [--settings zappa_settings.json] [--stage local]
                           [--host 127.0.0.1] [--port 9000] [--api-port 8000 | --no-api]
                           [--max-concurrency 2] [--allow-raw-command] [--pass-env DATABASE_URL ...]
                           [--python PATH] [--tmp auto|private|tmpdir] [--watch auto|watch|scan]
                           [--warm-containers eager|lazy]
                           [--package-dir DIR] [--runtime-dir DIR] [--memory-probe auto|proc|rusage]
                           [--limits-from STAGE] [--writable-task-root]
    python -m dev.emulator init-stage --extends dev [--stage local] [--print] ...   (see init_stage.py)

``--package-dir`` serves an unpacked ``zappa package`` zip instead of the project's files: the code, and the
``zappa_settings.py`` Zappa wrote into it, come from DIR, which is never written to (``dev/package_check/``).

Then ``zappa invoke local 'module.function'`` (with the stage's ``aws_endpoint_urls.lambda`` pointing here),
``python -m dev.invoke``, boto3 with ``endpoint_url``, or ``curl http://127.0.0.1:8000/...`` through the API Gateway
front. ``GET http://127.0.0.1:9000/health`` answers 200 when it is ready. Programs start and call it through
:mod:`dev.emulator.client`.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from dev.guard import RemoteDatabaseError, check_variables

from . import changes, init_stage, interpreter, memory, scratch
from .apigw import serve_api_gateway
from .invoke_api import EmulatorHTTPServer, console_log_sink, serve_invoke_api
from .registry import Registry
from .runtime import Runtime
from .settings import SettingsError

DEFAULT_PASS_ENV = ["DATABASE_URL"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class StartupError(Exception):
    """The emulator cannot start as asked; the message says what to change. Exit status 2."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dev.emulator",
        description="Local AWS Lambda for a Zappa project: the Lambda Invoke API and an API Gateway front.",
    )
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="the Zappa project (default: .)")
    parser.add_argument("--settings", type=Path, default=Path("zappa_settings.json"), help="relative to the project")
    parser.add_argument("--stage", default="local", help="stage served by the API Gateway front (default: local)")
    parser.add_argument(
        "--limits-from",
        metavar="STAGE",
        help="every function gets this stage's timeout_seconds and memory_size (e.g. production), the rest of its "
        "settings stay its own: rehearse a remote stage's limits on a local one (make rehearse)",
    )
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
        "--runtime-dir",
        type=Path,
        help="where rendered settings modules go (default: a directory of this run outside the project, removed at "
        "exit; see dev/emulator/scratch.py)",
    )
    parser.add_argument(
        "--python",
        help="the interpreter that runs the functions (default: the project's own virtualenv, a directory with "
        "pyvenv.cfg, else this one); it needs the project's requirements and zappa, nothing of the emulator's",
    )
    parser.add_argument(
        "--tmp",
        choices=("auto", "private", "tmpdir"),
        default="auto",
        help="/tmp of each environment: private = its own tmpfs in a mount namespace (Lambda's), tmpdir = TMPDIR of "
        "its own but absolute /tmp paths shared; auto = private where the kernel allows it",
    )
    parser.add_argument(
        "--writable-task-root",
        action="store_true",
        help="let the functions write into the project (Lambda does not: /var/task is read-only; by default the "
        "project is read-only to them wherever /tmp is private)",
    )
    parser.add_argument(
        "--watch",
        choices=("auto", "watch", "scan"),
        default="auto",
        help="code change detection: watch = in the background (watchfiles), scan = walk the project before every "
        "invocation; auto = watch when watchfiles is importable",
    )
    parser.add_argument(
        "--warm-containers",
        type=str.lower,
        choices=("eager", "lazy"),
        default="eager",
        help="eager (default): on a code change, start a fresh environment (app loaded) in the background; lazy: "
        "the next invocation starts cold",
    )
    parser.add_argument(
        "--memory-probe",
        choices=("auto", "proc", "rusage"),
        default="auto",
        help="how memory_size is enforced: proc = peak RSS from /proc while the function runs (Linux), rusage = the "
        "function's own peak when it returns (every system; what macOS gets); auto = proc where /proc exists",
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    if args.max_concurrency < 1:
        parser.error("--max-concurrency must be at least 1")
    return args


def passed_environment(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """(the ``--pass-env`` values found in this environment, the names that were not set). Refuses any value that
    holds a database URL not on this machine, whatever the variable's name (:func:`dev.guard.check_variables`)."""
    pass_env = {name: os.environ[name] for name in names if name in os.environ}
    try:
        check_variables(pass_env, "--pass-env, from this shell")
    except RemoteDatabaseError as exc:
        raise StartupError(str(exc)) from None
    return pass_env, [name for name in names if name not in os.environ]


def choose_interpreter(args: argparse.Namespace, project_dir: Path) -> interpreter.Interpreter:
    """The functions' Python (``--python``, the project's virtualenv, or ours); package mode uses ours, bare."""
    try:
        return interpreter.choose(args.python, None if args.package_dir else project_dir)
    except interpreter.InterpreterError as exc:
        raise StartupError(str(exc)) from None


@dataclass(frozen=True)
class Namespace:
    """What the workers' mount namespace gives them here (:mod:`.private_tmp`), from a throw-away probe process."""

    private_tmp: bool
    tmp_how: str  # how /tmp is made private, or why it is not
    read_only: bool  # the task root is read-only to the functions
    read_only_how: str  # what stays writable inside it, or why it is not read-only


def probe_namespace(choice: str, python: str, task_root: Path, writable_task_root: bool) -> Namespace:
    """Probe the namespace the workers will get: a private /tmp (``--tmp``) and a read-only task root."""
    if choice == "tmpdir":
        return Namespace(False, "--tmp tmpdir", False, "no mount namespace (--tmp tmpdir)")
    script = str(Path(__file__).with_name("private_tmp.py"))
    try:
        proc = subprocess.run([python, "-I", script, "512", str(task_root)], capture_output=True, text=True, timeout=30)
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        answer = {"private": False, "reason": f"the probe failed: {exc}"}
    if not answer.get("private"):
        if choice == "private":
            raise StartupError(f"--tmp private: this system does not allow a private /tmp ({answer.get('reason')})")
        reason = str(answer.get("reason"))
        return Namespace(False, reason, False, f"no mount namespace here: {reason}")
    if writable_task_root:
        return Namespace(True, str(answer["how"]), False, "--writable-task-root")
    if not answer.get("read_only"):
        return Namespace(True, str(answer["how"]), False, str(answer.get("read_only_reason")))
    kept = [str(Path(path).relative_to(task_root.resolve())) for path in answer.get("writable") or []]
    how = f"except {', '.join(kept)} (the functions' packages and bytecode)" if kept else "all of it"
    return Namespace(True, str(answer["how"]), True, how)


def load_registry(
    args: argparse.Namespace, project_dir: Path, pass_env: dict[str, str], runtime_dir: Path, python: str | None
) -> Registry:
    """The project's (or the package's) functions, with the front's stage checked before anything listens."""
    settings = args.settings if args.settings.is_absolute() else project_dir / args.settings
    if not settings.is_file():
        raise StartupError(f"{settings} not found; pass --project-dir / --settings")
    try:
        registry = Registry(
            project_dir,
            settings,
            pass_env,
            runtime_dir,
            package_dir=args.package_dir.resolve() if args.package_dir else None,
            python=python,
            limits_from=args.limits_from,
        )
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    served = registry.for_stage(args.stage)
    if not args.no_api and served is None:
        if registry.package_dir is not None:
            raise StartupError(
                f"the package was built for stage {registry.package_stage!r}, not {args.stage!r}: "
                f"pass --stage {registry.package_stage} or rebuild it with `zappa package {args.stage}`"
            )
        stages = ", ".join(sorted(c.stage for c in registry.functions()))
        raise StartupError(f"stage {args.stage!r} is not in {settings.name} (stages: {stages})")
    if served is not None and registry.refusal(served.function_name):
        raise StartupError(str(registry.refusal(served.function_name)))
    return registry


def memory_probe(choice: str) -> memory.MemoryProbe:
    if choice == "rusage" or (choice == "auto" and not memory.live_probe_available()):
        return lambda pid: None
    if not memory.live_probe_available():
        raise StartupError("--memory-probe proc needs /proc (Linux); use --memory-probe rusage or auto")
    return memory.proc_peak_mb


def serve(runtime: Runtime, args: argparse.Namespace) -> list[EmulatorHTTPServer]:
    """Bind the Invoke API and (unless ``--no-api``) the API Gateway front; each serves in a daemon thread."""
    servers: list[EmulatorHTTPServer] = []
    try:
        options = {"allow_raw_command": args.allow_raw_command, "verbose": args.verbose}
        servers.append(serve_invoke_api(runtime, args.host, args.port, **options))
        if not args.no_api:
            servers.append(serve_api_gateway(runtime, args.host, args.api_port, args.stage, verbose=args.verbose))
    except OSError as exc:
        shutdown(servers)
        raise StartupError(f"cannot listen on {args.host}: {exc}; is another emulator running?") from None
    return servers


def banner(
    args: argparse.Namespace,
    registry: Registry,
    runtime: Runtime,
    endpoint: str,
    pass_env: dict,
    missing: list[str],
    live_memory: bool,
    namespace: Namespace,
) -> str:
    """What runs where, with what, and every setting that deserves a warning."""
    assert runtime.interpreter is not None and runtime.changes is not None
    lines = [f"Lambda Invoke API on {endpoint} (health: {endpoint}/health), project {registry.source_dir}"]
    if registry.package_dir is not None:
        lines.append(
            f"  serving the package {registry.package_dir} (stage {registry.package_stage}, its zappa_settings.py)"
        )
    if registry.limits_from is not None:
        lines.append(f"  limits from stage {registry.limits_from}: every function gets its timeout and memory")
    for config in registry.functions():
        remote = " (remote_env not loaded: use --pass-env)" if config.had_remote_env else ""
        lines.append(
            f"  function {config.function_name}  stage={config.stage} timeout={config.timeout_seconds}s "
            f"memory={config.memory_size}MB /tmp={config.ephemeral_storage_mb}MB{remote}"
        )
        mismatch = interpreter.runtime_mismatch(config.runtime, runtime.interpreter)
        if mismatch:
            lines.append(f"    WARNING: {mismatch}: behaviour may differ from Lambda's (pass --python)")
        refusal = registry.refusal(config.function_name)
        if refusal:
            lines.append(f"    REFUSED (invocations answer 403): {refusal}")
    lines.append(f"functions run {runtime.interpreter.describe()}")
    lines += [f"  note: {note}" for note in runtime.interpreter.notes]
    if not args.no_api:
        lines.append(f"API Gateway front on http://{args.host}:{args.api_port} -> stage {args.stage}")
    if pass_env:
        lines.append(f"passing {', '.join(sorted(pass_env))} to the functions")
    if missing:
        lines.append(f"note: {', '.join(missing)} not set in this environment, so not passed to the functions")
    lines.append("AWS credentials in the functions: placeholders (your ~/.aws and AWS_* variables stay out)")
    if runtime.private_tmp:
        lines.append(f"/tmp: private and empty per environment ({namespace.tmp_how}), gone with it, as on Lambda")
    else:
        lines.append(
            f"WARNING: /tmp is NOT private here ({namespace.tmp_how}): each environment gets a TMPDIR of its own, but "
            "absolute /tmp paths are shared between environments and with this machine"
        )
    if namespace.read_only:
        lines.append(f"task root: read-only to the functions, as /var/task on Lambda ({namespace.read_only_how})")
    else:
        lines.append(
            f"WARNING: the task root is WRITABLE to the functions here ({namespace.read_only_how}); on Lambda it is "
            "read-only: a write into the project that works here fails there with [Errno 30] Read-only file system"
        )
    lines.append(runtime.changes.describe())
    if runtime.changes.kind == "scan" and runtime.eager:
        lines.append("warm containers: eager, but a change is only noticed by the next request, which then waits")
    elif runtime.eager:
        lines.append("warm containers: eager (a code change starts a fresh environment in the background)")
    why = " (--memory-probe rusage)" if args.memory_probe == "rusage" else " (no /proc on this system, e.g. macOS)"
    lines.append(memory.describe(live_memory, why))
    if args.host not in LOCAL_HOSTS:
        lines.append(f"WARNING: listening on {args.host}: other machines can invoke the functions (no authentication)")
    if args.allow_raw_command:
        lines.append("WARNING: raw_command is allowed: anyone who can reach the port can run Python here")
    return "\n".join(lines)


def shutdown(servers: list[EmulatorHTTPServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


class Stop(BaseException):
    """SIGINT or SIGTERM arrived: raised in the main thread by the signal handler, wherever it is.

    Raising (rather than setting an Event from the handler) cannot deadlock: the handler runs in the main thread
    between two bytecodes, possibly inside ``Event.wait()`` while it holds the Event's lock.
    """


def _raise_stop(signum: int, frame: object) -> None:
    raise Stop


def wait_for_signal() -> None:
    """Sleep until SIGINT or SIGTERM (how `make emulator` (Ctrl-C), compose and the client stop it) raises Stop.

    The kernel may deliver the signal to any thread, and only the one it interrupts wakes up; the main thread would
    sleep on in ``signal.pause()``. The wakeup fd is written whichever thread got it, so the main thread waits on
    that, then runs the Python handler.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd)
    try:
        while True:
            select.select([read_fd], [], [])
            os.read(read_fd, 512)
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["init-stage"]:
        return init_stage.main(argv[1:])
    args = parse_args(argv)
    # From here on, SIGINT/SIGTERM raise Stop, even during start-up, so the cleanup below always runs.
    previous = {signum: signal.signal(signum, _raise_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    servers: list[EmulatorHTTPServer] = []
    runtime: Runtime | None = None
    run_dir: Path | None = None
    try:
        pass_env, missing = passed_environment(args.pass_env if args.pass_env is not None else DEFAULT_PASS_ENV)
        probe = memory_probe(args.memory_probe)
        project_dir = args.project_dir.resolve()
        python = choose_interpreter(args, project_dir)
        task_root = args.package_dir.resolve() if args.package_dir else project_dir
        namespace = probe_namespace(args.tmp, python.path, task_root, args.writable_task_root)
        try:
            run_dir = scratch.new_run_dir()
        except OSError as exc:
            raise StartupError(f"{exc}: set {scratch.CACHE_VARIABLE} to a writable directory") from None
        runtime_dir = args.runtime_dir.resolve() if args.runtime_dir else run_dir / "settings"
        # Package mode renders with our interpreter and the package's Zappa; otherwise the functions' own renders.
        registry = load_registry(args, project_dir, pass_env, runtime_dir, None if args.package_dir else python.path)
        endpoint = f"http://{args.host}:{args.port}"
        try:
            detector = changes.detector(registry.shipped_files, args.watch)
        except ImportError as exc:
            raise StartupError(f"--watch watch: {exc}; pip install watchfiles, or use --watch auto") from None
        runtime = Runtime(
            registry,
            args.max_concurrency,
            endpoint_url=endpoint,
            log_sink=console_log_sink(),
            memory_probe=probe,
            interpreter=python,
            private_tmp=namespace.private_tmp,
            read_only_task_root=namespace.read_only,
            eager=args.warm_containers == "eager",
            changes=detector,
            run_dir=run_dir,
        )
        servers = serve(runtime, args)
        lines = banner(args, registry, runtime, endpoint, pass_env, missing, probe is memory.proc_peak_mb, namespace)
        print(lines, flush=True)
        wait_for_signal()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Stop:
        pass
    finally:
        for signum, handler in previous.items():  # a second Ctrl-C during the cleanup just ends the process
            signal.signal(signum, handler)
        shutdown(servers)
        if runtime is not None:
            runtime.close()
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

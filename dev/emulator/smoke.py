"""``make emulator-smoke PROJECT=path``: rehearse any Zappa project end to end, in one command, with no function of
your own needed.

    python -m dev.emulator.smoke --project PATH [--function FN] [--stage local] [--settings FILE] [--payload JSON]
                                 [--api-path /] [--manage "migrate"] [--raw "python code"] [--log FILE]

Starts the emulator on the project (its own virtualenv, its stage) and calls it the ways a team calls a deployed one:

1. boto3's ``lambda.invoke`` (what any AWS SDK, the AWS CLI and ``zappa.asynchronous`` send): ``--function FN`` as
   ``zappa invoke`` sends it, else Zappa's own keep-warm event (the CloudWatch rule ``zappa schedule`` creates,
   named by Zappa's code), which any Flask or Django project answers once its app loads;
2. the real ``zappa invoke STAGE FN`` (the project's own ``zappa`` when its virtualenv has one), unchanged; without
   ``--function``, ``zappa.handler.keep_warm_callback``, the function that keep-warm rule calls;
3. ``--manage "migrate"``: the real ``zappa manage STAGE migrate`` (a Django stage: ``django_settings``);
4. ``--raw "..."``: the real ``zappa invoke --raw STAGE "..."``; only then is the emulator started with
   ``--allow-raw-command``;
5. an HTTP request through the API Gateway front (``--api-path``), when the stage serves HTTP (``app_function`` or
   ``django_settings``, and API Gateway). Any 5xx fails it, as a 5xx fails a health check.

Each check is "ok", "FAIL", or "not run, because ..." (never "ok" for a check that did not run). The stage must send
``zappa invoke`` to the emulator: ``python -m dev.emulator init-stage --extends dev`` writes one. The emulator listens
where the stage's ``aws_endpoint_urls.lambda`` says when that port is free; otherwise on a free port, and the Zappa
CLI then reads a copy of the settings pointed there (the project is never written to).
Exit status 0 when every check that ran passed, 1 otherwise, 2 when the rehearsal could not start.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dev.ports import port_in_use

from . import client, interpreter
from .settings import FunctionConfig, SettingsError, stage_config

SETTINGS_NAMES = ("zappa_settings.json", "zappa_settings.yml", "zappa_settings.yaml", "zappa_settings.toml")
ZAPPA_TIMEOUT = 300
KEEP_WARM_FUNCTION = "handler.keep_warm_callback"  # what `zappa schedule` names in its keep-warm rule
KEEP_WARM_CALLABLE = "zappa.handler.keep_warm_callback"  # the same function, importable by `zappa invoke`
OK, FAIL, NOT_RUN = "ok", "FAIL", "not run"


class SmokeError(Exception):
    """The rehearsal could not run; the message says what to do. Exit status 2."""


@dataclass
class Step:
    """One check: what was checked, its outcome (ok, FAIL, not run) and what it showed (or why it did not run)."""

    what: str
    outcome: str
    detail: str

    @property
    def ok(self) -> bool:
        """Passed or not run: only a FAIL fails the rehearsal."""
        return self.outcome != FAIL

    def render(self) -> str:
        if self.outcome == NOT_RUN:
            return f"== not run {self.what}, because {self.detail}"
        return f"== {self.outcome:4} {self.what}\n{self.detail}"


def checked(what: str, passed: bool, detail: str) -> Step:
    return Step(what, OK if passed else FAIL, detail)


def find_settings(project: Path) -> Path:
    """The project's Zappa settings file: in the project, else the one settings file in a subfolder (two levels)."""
    for name in SETTINGS_NAMES:
        if (project / name).is_file():
            return project / name
    found = []
    for pattern in ("*/", "*/*/"):
        for directory in project.glob(pattern):
            if directory.name.startswith(".") or (directory / interpreter.VENV_MARKER).exists():
                continue
            found += [directory / name for name in SETTINGS_NAMES if (directory / name).is_file()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise SmokeError(f"no zappa_settings.json in {project} or its subfolders: pass SETTINGS=path")
    raise SmokeError(f"several settings files in {project}: pass SETTINGS= one of {', '.join(map(str, found))}")


def resolve(project: Path, settings: Path | None, stage: str) -> tuple[Path, FunctionConfig]:
    settings = (settings if settings.is_absolute() else project / settings) if settings else find_settings(project)
    try:
        return settings, stage_config(settings, stage, project_dir=project)
    except SettingsError as exc:
        relative = settings.relative_to(project) if settings.is_relative_to(project) else settings
        raise SmokeError(
            f"{exc}. Write the local stage first: python -m dev.emulator init-stage --project-dir {project} "
            f"--settings {relative} --stage {stage} --extends <the stage you deploy>"
        ) from None


def choose_port(config: FunctionConfig) -> tuple[int, bool]:
    """(port, whether ``zappa invoke`` can use the settings as they are): the stage's endpoint port when free."""
    parts = urlsplit(config.lambda_endpoint or "")
    if parts.hostname in ("127.0.0.1", "localhost") and parts.port and not port_in_use(parts.port):
        return parts.port, True
    return client.free_port(), False


def settings_for_cli(settings: Path, stage: str, endpoint: str, workdir: Path) -> Path:
    """A copy of the settings whose stage sends ``zappa invoke`` to ``endpoint`` (JSON only; the original stays)."""
    if settings.suffix != ".json":
        raise SmokeError(f"the stage's endpoint port is busy and {settings.name} is not JSON: free the port")
    data = json.loads(settings.read_text())
    data[stage]["aws_endpoint_urls"] = {**(data[stage].get("aws_endpoint_urls") or {}), "lambda": endpoint}
    copy = workdir / settings.name
    copy.write_text(json.dumps(data, indent=4))
    return copy


def zappa_binary(project: Path) -> str:
    """The project's own ``zappa`` (its virtualenv), else the one beside this interpreter."""
    for venv in interpreter.project_virtualenvs(project):
        candidate = interpreter.venv_python(venv).with_name("zappa")
        if candidate.is_file():
            return str(candidate)
    return str(Path(sys.executable).with_name("zappa"))


def cli_environment() -> dict[str, str]:
    """Dummy credentials (the emulator ignores them), no retries, no AWS profile or endpoint from this shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
    env.update(
        AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1"
    )
    return env


def keep_warm_event(config: FunctionConfig) -> dict[str, Any]:
    """The CloudWatch event Lambda delivers for the keep-warm rule ``zappa schedule`` creates: the rule is named by
    Zappa's own code (:meth:`zappa.core.Zappa.get_scheduled_event_name`), and Zappa's handler reads the function to
    call from the end of that name. Zappa is imported here, in this process (the harness's own)."""
    from zappa.core import Zappa

    zappa = Zappa(load_credentials=False)  # no AWS session: only its naming is used
    rule = zappa.get_scheduled_event_name(
        {"name": "zappa-keep-warm", "function": KEEP_WARM_FUNCTION}, KEEP_WARM_FUNCTION, config.function_name
    )
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "1970-01-01T00:00:00Z",
        "region": config.aws_region,
        "resources": [f"arn:aws:events:{config.aws_region}:000000000000:rule/{rule}"],
        "detail": {},
    }


def via_boto3(endpoint: str, config: FunctionConfig, event: dict[str, Any], what: str) -> Step:
    import boto3
    from botocore.config import Config

    lam = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=config.aws_region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, read_timeout=config.timeout_seconds + 60),
    )
    response = lam.invoke(FunctionName=config.function_name, Payload=json.dumps(event), LogType="Tail")
    body = response["Payload"].read().decode(errors="replace")
    log = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
    passed = "FunctionError" not in response
    return checked(f"boto3 lambda.invoke {what}", passed, (body if passed else f"{body}\n{log}")[:2000])


def run_zappa(project: Path, what: str, argv: list[str]) -> Step:
    """The project's own Zappa CLI, as a developer runs it (dummy credentials); passed on exit status 0."""
    cmd = [zappa_binary(project), *argv]
    try:
        proc = subprocess.run(
            cmd, cwd=project, env=cli_environment(), capture_output=True, text=True, timeout=ZAPPA_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return checked(what, False, f"no answer within {ZAPPA_TIMEOUT} s: {' '.join(cmd)}")
    output = (proc.stdout + proc.stderr).strip()
    return checked(f"{what} ({cmd[0]})", proc.returncode == 0, output[-2000:])


def via_api_gateway(api_url: str, path: str) -> Step:
    """``GET path`` through the API Gateway front: any 5xx fails (502/504 are API Gateway's own for a function that
    failed or timed out, 500 the app's); a 4xx is the app answering, and is said plainly."""
    parts = urlsplit(api_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        connection.close()
    detail = f"HTTP {response.status}: {body[:500]}"
    if 400 <= response.status < 500:
        detail += f"\n(the app answered {response.status}: pass API_PATH= a path it serves to check a page)"
    return checked(f"API Gateway front GET {path}", response.status < 500, detail)


@dataclass
class Checks:
    """What to check besides the invoke path: the function, its payload, a manage command, raw code, an HTTP path."""

    function: str | None = None
    payload: str | None = None
    manage: str | None = None
    raw: str | None = None
    api_path: str = "/"


def invoke_steps(project: Path, stage: str, config: FunctionConfig, endpoint: str, cli: Path, checks: Checks) -> list:
    """boto3 and the real ``zappa invoke``: the function asked for, else Zappa's keep-warm event / callback."""
    settings = ["-s", str(cli)]
    if checks.function:
        extra = json.loads(checks.payload) if checks.payload else {}
        payload = ["--payload", checks.payload] if checks.payload else []
        return [
            via_boto3(endpoint, config, client.zappa_command(checks.function, extra), checks.function),
            run_zappa(project, "zappa invoke", ["invoke", stage, checks.function, *settings, *payload]),
        ]
    return [
        via_boto3(endpoint, config, keep_warm_event(config), "with Zappa's keep-warm event (the app loads)"),
        run_zappa(project, f"zappa invoke {KEEP_WARM_CALLABLE}", ["invoke", stage, KEEP_WARM_CALLABLE, *settings]),
    ]


def manage_step(project: Path, stage: str, config: FunctionConfig, cli: Path, command: str | None) -> Step:
    what = "zappa manage"
    if not command:
        why = (
            "MANAGE= was not given (a Django stage: MANAGE=migrate)"
            if config.django_settings
            else ("the stage is not a Django one (no django_settings)")
        )
        return Step(what, NOT_RUN, why)
    if not config.django_settings:
        return checked(
            f"{what} {command}",
            False,
            f"stage {stage!r} has no django_settings: `zappa manage` runs Django management commands only (Zappa "
            "itself would print 'This command is for Django projects only!' and exit 0)",
        )
    return run_zappa(project, f"{what} {command}", ["manage", stage, command, "-s", str(cli)])


def raw_step(project: Path, stage: str, cli: Path, code: str | None) -> Step:
    if not code:
        return Step("zappa invoke --raw", NOT_RUN, "RAW= was not given (the emulator refuses raw commands without it)")
    return run_zappa(project, "zappa invoke --raw", ["invoke", "--raw", stage, code, "-s", str(cli)])


def api_step(config: FunctionConfig, emulator: client.EmulatorProcess, path: str) -> Step:
    if not config.apigateway_enabled:
        return Step("API Gateway front", NOT_RUN, "the stage has no API Gateway (apigateway_enabled: false)")
    if not config.serves_http:
        return Step("API Gateway front", NOT_RUN, "the stage has neither app_function nor django_settings")
    return via_api_gateway(emulator.api_url, path)


def rehearse(
    project: Path,
    function: str | None = None,
    stage: str = "local",
    settings: Path | None = None,
    payload: str | None = None,
    api_path: str = "/",
    log: Path | None = None,
    manage: str | None = None,
    raw: str | None = None,
) -> list[Step]:
    """Start the emulator on ``project`` and run every check (see the module docstring); the steps in order."""
    project = project.resolve()
    if not project.is_dir():
        raise SmokeError(f"{project} is not a directory: PROJECT= the Zappa project's root")
    if payload and not function:
        raise SmokeError("--payload goes with --function (FN=module.function)")
    if payload and not isinstance(json.loads(payload), dict):
        raise SmokeError("--payload must be a JSON object")
    checks = Checks(function, payload, manage, raw, api_path)
    settings, config = resolve(project, settings, stage)
    workdir = Path(tempfile.mkdtemp(prefix="emulator-smoke-"))
    log = log or workdir / "emulator.log"
    port, as_is = choose_port(config)
    argv = ["--settings", str(settings), "--stage", stage, *(["--allow-raw-command"] if raw else [])]
    try:
        try:
            emulator = client.start(*argv, log=log, project_dir=project, port=port, api=config.serves_http)
        except client.EmulatorStartError as exc:
            raise SmokeError(str(exc)) from None
        with emulator:
            print(emulator.log().strip(), flush=True)
            cli = settings if as_is else settings_for_cli(settings, stage, emulator.url, workdir)
            steps = invoke_steps(project, stage, config, emulator.url, cli, checks)
            steps.append(manage_step(project, stage, config, cli, checks.manage))
            steps.append(raw_step(project, stage, cli, checks.raw))
            steps.append(api_step(config, emulator, checks.api_path))
            if not all(step.ok for step in steps):
                steps.append(checked("emulator console (end)", False, console_excerpt(emulator.log())))
        return steps
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def console_excerpt(console: str) -> str:
    """The functions' errors first (Lambda's ``[ERROR] Type: message`` lines: a log tail of 4 KB often ends inside
    the traceback, past the message), then the end of the console."""
    errors = [line for line in console.splitlines() if line.startswith("[ERROR]")][-5:]
    head = "errors the functions raised:\n" + "\n".join(errors) + "\n...\n" if errors else ""
    return head + console[-3000:]


def summary(steps: list[Step]) -> str:
    failed = [step.what for step in steps if step.outcome == FAIL]
    if failed:
        return "FAILED: " + ", ".join(failed)
    ran = [step for step in steps if step.outcome == OK]
    skipped = [step.what for step in steps if step.outcome == NOT_RUN]
    return f"all {len(ran)} checks that ran passed" + (f" (not run: {', '.join(skipped)})" if skipped else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.emulator.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="the Zappa project's root")
    parser.add_argument(
        "--function", help="module.function to invoke, as for `zappa invoke` (default: Zappa's keep-warm event)"
    )
    parser.add_argument("--stage", default="local")
    parser.add_argument("--settings", type=Path, help="settings file, relative to the project (default: found)")
    parser.add_argument("--payload", help="JSON object merged into the event (zappa invoke --payload)")
    parser.add_argument("--api-path", default="/", help="path requested through the API Gateway front")
    parser.add_argument("--manage", help='a Django management command for `zappa manage STAGE` (e.g. "migrate")')
    parser.add_argument("--raw", help="Python code for `zappa invoke --raw STAGE` (allows raw commands)")
    parser.add_argument("--log", type=Path, help="keep the emulator's console in this file")
    args = parser.parse_args(argv)
    try:
        steps = rehearse(
            args.project, args.function, args.stage, args.settings, args.payload, args.api_path, args.log,
            args.manage, args.raw,
        )  # fmt: skip
    except (SmokeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for step in steps:
        print(f"\n{step.render()}")
    print(f"\n{summary(steps)}")
    return 1 if any(step.outcome == FAIL for step in steps) else 0


if __name__ == "__main__":
    sys.exit(main())

"""``make emulator-smoke PROJECT=path FN=module.function``: rehearse any Zappa project end to end, in one command.

    python -m dev.emulator.smoke --project PATH --function FN [--stage local] [--settings FILE]
                                 [--payload JSON] [--api-path /] [--log FILE]

Starts the emulator on the project (its own virtualenv, its stage) and calls the function the three ways a team
calls a deployed one:

1. boto3's ``lambda.invoke`` (what any AWS SDK, the AWS CLI and ``zappa.asynchronous`` send);
2. the real ``zappa invoke STAGE FN`` (the project's own ``zappa`` when its virtualenv has one), unchanged;
3. an HTTP request through the API Gateway front (``--api-path``, when the stage has an ``app_function``).

The stage must send ``zappa invoke`` to the emulator: ``python -m dev.emulator init-stage --extends dev`` writes one.
The emulator listens where the stage's ``aws_endpoint_urls.lambda`` says when that port is free; otherwise on a free
port, and ``zappa invoke`` then reads a copy of the settings pointed there (the project is never written to).
Exit status 0 when every path answered without a function error, 1 otherwise, 2 when it could not start.
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
ZAPPA_TIMEOUT = 180


class SmokeError(Exception):
    """The rehearsal could not run; the message says what to do. Exit status 2."""


@dataclass
class Step:
    what: str
    ok: bool
    detail: str


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


def via_boto3(endpoint: str, config: FunctionConfig, event: dict[str, Any]) -> Step:
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
    ok = "FunctionError" not in response
    return Step("boto3 lambda.invoke", ok, (body if ok else f"{body}\n{log}")[:2000])


def via_zappa(project: Path, stage: str, function: str, settings: Path, payload: str | None) -> Step:
    cmd = [zappa_binary(project), "invoke", stage, function, "-s", str(settings)]
    if payload:
        cmd += ["--payload", payload]
    try:
        proc = subprocess.run(
            cmd, cwd=project, env=cli_environment(), capture_output=True, text=True, timeout=ZAPPA_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return Step("zappa invoke", False, f"no answer within {ZAPPA_TIMEOUT} s: {' '.join(cmd)}")
    output = (proc.stdout + proc.stderr).strip()
    return Step(f"zappa invoke ({cmd[0]})", proc.returncode == 0, output[-2000:])


def via_api_gateway(api_url: str, path: str) -> Step:
    parts = urlsplit(api_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        connection.close()
    ok = response.status not in (502, 504)  # API Gateway's answers for a function that failed or timed out
    return Step(f"API Gateway front GET {path}", ok, f"HTTP {response.status}: {body[:500]}")


def rehearse(
    project: Path,
    function: str,
    stage: str = "local",
    settings: Path | None = None,
    payload: str | None = None,
    api_path: str = "/",
    log: Path | None = None,
) -> list[Step]:
    """Start the emulator on ``project`` and call ``function`` through boto3, ``zappa invoke`` and the API front."""
    project = project.resolve()
    if not project.is_dir():
        raise SmokeError(f"{project} is not a directory: PROJECT= the Zappa project's root")
    settings, config = resolve(project, settings, stage)
    extra = json.loads(payload) if payload else {}
    if not isinstance(extra, dict):
        raise SmokeError("--payload must be a JSON object")
    workdir = Path(tempfile.mkdtemp(prefix="emulator-smoke-"))
    log = log or workdir / "emulator.log"
    port, as_is = choose_port(config)
    api = config.apigateway_enabled and bool(config.app_function)
    argv = ["--settings", str(settings), "--stage", stage]
    try:
        try:
            emulator = client.start(*argv, log=log, project_dir=project, port=port, api=api)
        except client.EmulatorStartError as exc:
            raise SmokeError(str(exc)) from None
        with emulator:
            print(emulator.log().strip(), flush=True)
            cli_settings = settings if as_is else settings_for_cli(settings, stage, emulator.url, workdir)
            steps = [
                via_boto3(emulator.url, config, client.zappa_command(function, extra)),
                via_zappa(project, stage, function, cli_settings, payload),
            ]
            if api:
                steps.append(via_api_gateway(emulator.api_url, api_path))
            else:
                steps.append(Step("API Gateway front", True, "skipped: the stage has no app_function / API Gateway"))
            if not all(step.ok for step in steps):
                steps.append(Step("emulator console (end)", False, emulator.log()[-3000:]))
        return steps
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.emulator.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True, help="the Zappa project's root")
    parser.add_argument("--function", required=True, help="module.function to invoke, as for `zappa invoke`")
    parser.add_argument("--stage", default="local")
    parser.add_argument("--settings", type=Path, help="settings file, relative to the project (default: found)")
    parser.add_argument("--payload", help="JSON object merged into the event (zappa invoke --payload)")
    parser.add_argument("--api-path", default="/", help="path requested through the API Gateway front")
    parser.add_argument("--log", type=Path, help="keep the emulator's console in this file")
    args = parser.parse_args(argv)
    try:
        steps = rehearse(args.project, args.function, args.stage, args.settings, args.payload, args.api_path, args.log)
    except (SmokeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for step in steps:
        print(f"\n== {'ok  ' if step.ok else 'FAIL'} {step.what}\n{step.detail}")
    failed = [step.what for step in steps if not step.ok]
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all paths answered'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Stage configuration from ``zappa_settings.json``, read and rendered by Zappa's own code.

Why Zappa's code and not our own parser: the point of the emulator is to rehearse what Zappa deploys. ``extends``,
defaults (``timeout_seconds`` 30, ``memory_size`` 512, ``log_level`` DEBUG, ...), the function name (a slug of
``project_name-stage``) and the ``zappa_settings.py`` that the handler imports all come from ``zappa.cli.ZappaCLI``,
exactly as ``zappa save-python-settings-file`` produces them.

Two deliberate differences from a deployment, both for a machine without AWS:
- ``remote_env`` (an S3 object) is not rendered: the emulator's ``--pass-env`` variables play its role.
- variables passed with ``--pass-env`` are removed from ``ENVIRONMENT_VARIABLES`` so the handler does not overwrite
  them at start-up (the emulator sets them in the process environment instead).

Serving an unpacked deployment package (``--package-dir``, the content of ``zappa package``'s zip) differs in three
ways: the handler imports the package's own ``zappa_settings.py`` (the one Zappa wrote into the zip), the stages are
still rendered (for the function name and limits) but into a runtime directory outside the package, and Zappa is
imported from the package itself, so nothing is ever written into it.

This file runs in a subprocess (``python settings.py ...``, cwd = project directory) because Zappa scans the current
directory (websocket detection) and because the emulator's server process should not import Zappa at all. Only the
stdlib and Zappa may be imported at module level.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RUNTIME_DIRNAME = ".runtime"


class SettingsError(RuntimeError):
    """zappa_settings.json could not be read or rendered; the message is Zappa's."""


def render_stages(settings_file: str, runtime_dir: str, drop_env: list[str]) -> dict[str, dict[str, Any]]:
    """Load every stage with ZappaCLI and write ``<runtime_dir>/<stage>/zappa_settings.py``; return the configs.

    Must run with cwd = the project directory (Zappa resolves paths and scans for websocket handlers from there).
    """
    from zappa.cli import ZappaCLI

    with open(settings_file) as handle:
        stage_names = list(json.load(handle))

    stages: dict[str, dict[str, Any]] = {}
    for stage in stage_names:
        cli = ZappaCLI()
        cli.api_stage = stage
        cli.load_credentials = False  # as `zappa save-python-settings-file` does: no boto session, no AWS calls
        cli.load_settings(settings_file)
        # See the module docstring: remote_env is replaced by --pass-env, whose names must win over the stage's.
        cli.remote_env = None
        cli.remote_env_bucket = None
        cli.environment_variables = {k: v for k, v in cli.environment_variables.items() if k not in drop_env}
        settings_text = cli.get_zappa_settings_string()

        stage_dir = Path(runtime_dir) / stage
        stage_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(stage_dir / "zappa_settings.py", settings_text)

        config = cli.stage_config
        stages[stage] = {
            "stage": stage,
            "function_name": cli.lambda_name,
            "project_name": cli.project_name,
            "aws_region": cli.aws_region or "us-east-1",
            "timeout_seconds": int(cli.timeout_seconds),
            "memory_size": int(cli.memory_size),
            "environment_variables": dict(cli.environment_variables),
            "aws_environment_variables": dict(cli.aws_environment_variables or {}),
            "settings_dir": str(stage_dir.resolve()),
            "exclude": list(config.get("exclude", [])),
            "runtime": cli.runtime,
            "binary_support": bool(cli.binary_support),
            "apigateway_enabled": bool(cli.use_apigateway),
            "had_remote_env": bool(config.get("remote_env") or config.get("remote_env_bucket")),
        }
    return stages


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".zappa_settings.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def package_settings(package_dir: Path) -> dict[str, Any]:
    """The literal assignments of an unpacked package's ``zappa_settings.py`` (``API_STAGE``, ``PROJECT_NAME``, ...).

    Parsed, not imported: the emulator's server process must not run the package's code.
    """
    path = package_dir / "zappa_settings.py"
    if not path.is_file():
        raise SettingsError(
            f"{package_dir} is not an unpacked Zappa package: it has no zappa_settings.py. Build one with "
            "`zappa package STAGE -o package.zip` and unzip it, or drop --package-dir to serve the project itself."
        )
    values: dict[str, Any] = {}
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot parse {path}: {exc}") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    if not isinstance(values.get("API_STAGE"), str):
        raise SettingsError(f"{path} has no API_STAGE: it was not written by Zappa; rebuild the package")
    return values


def load_stages(
    project_dir: Path,
    settings_file: Path,
    drop_env: list[str],
    python: str | None = None,
    runtime_dir: Path | None = None,
    package_dir: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Render all stages in a subprocess (see the module docstring) and return their configs by stage name.

    ``runtime_dir`` (default ``<project_dir>/.runtime``) receives the rendered settings modules. With
    ``package_dir``, Zappa is imported from that package, as the package's handler will be.
    """
    runtime_dir = runtime_dir or project_dir / RUNTIME_DIRNAME
    runtime_dir.mkdir(parents=True, exist_ok=True)
    fd, out = tempfile.mkstemp(prefix="emulator-stages-", suffix=".json")
    os.close(fd)
    try:
        cmd = [
            python or sys.executable,
            str(Path(__file__).resolve()),
            "--settings",
            str(settings_file.resolve()),
            "--runtime-dir",
            str(runtime_dir.resolve()),
            "--out",
            out,
            *[arg for name in drop_env for arg in ("--drop-env", name)],
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPPA_")}  # ZAPPA_* would alter settings
        if package_dir is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(package_dir.resolve()), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            )
        proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise SettingsError(f"cannot load {settings_file}: {detail[-1] if detail else 'unknown error'}")
        with open(out) as handle:
            return json.load(handle)
    finally:
        os.unlink(out)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render every stage's zappa_settings.py with Zappa's own code.")
    parser.add_argument("--settings", required=True)
    parser.add_argument("--runtime-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--drop-env", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        stages = render_stages(args.settings, args.runtime_dir, args.drop_env)
    except Exception as exc:  # ClickException, ValueError from Zappa: report its message, not a traceback
        print(f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    with open(args.out, "w") as handle:
        json.dump(stages, handle)
    return 0


if __name__ == "__main__":
    sys.path[0:1] = []  # our own directory must not shadow the project's modules
    sys.exit(_main())

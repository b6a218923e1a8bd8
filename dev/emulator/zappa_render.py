"""Render every stage of ``zappa_settings.json`` with Zappa's own code; run as a script by :mod:`.settings`.

    python zappa_render.py --settings FILE --out JSON [--runtime-dir DIR] [--drop-env NAME ...]

Writes one JSON object per stage (the fields of :class:`.settings.FunctionConfig`) to ``--out``; with
``--runtime-dir`` also ``DIR/<stage>/zappa_settings.py``, the module Zappa's handler imports. Without it nothing but
``--out`` is written: that is how clients resolve a function name without touching a running emulator's files.

A separate process, with cwd = the project directory, because Zappa scans the current directory (websocket
detection, the default project name) and because neither the emulator's server nor a fast client should import
Zappa. Only the standard library and Zappa may be imported here; this file's directory is taken off ``sys.path`` so
it cannot shadow the project's modules.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def render_stages(settings_file: str, runtime_dir: str | None, drop_env: list[str]) -> dict[str, dict[str, Any]]:
    """Load every stage with ZappaCLI (as ``zappa save-python-settings-file`` does); return their configs.

    ``remote_env`` is not rendered and the ``drop_env`` names are removed from the stage's variables: the emulator's
    ``--pass-env`` values play their role and must not be overwritten when Zappa's handler initialises.
    """
    from zappa.cli import ZappaCLI

    reader = ZappaCLI()
    reader.load_settings_file(settings_file)  # JSON, YAML or TOML, as Zappa reads them
    stage_names = list(reader.zappa_settings or {})

    stages: dict[str, dict[str, Any]] = {}
    for stage in stage_names:
        cli = ZappaCLI()
        cli.api_stage = stage
        cli.load_credentials = False  # no boto session, no AWS calls
        cli.load_settings(settings_file)
        cli.remote_env = None
        cli.remote_env_bucket = None
        stage_env = dict(cli.environment_variables)
        cli.environment_variables = {k: v for k, v in stage_env.items() if k not in drop_env}

        settings_dir = ""
        if runtime_dir is not None:
            stage_dir = Path(runtime_dir) / stage
            stage_dir.mkdir(parents=True, exist_ok=True)
            _write_atomically(stage_dir / "zappa_settings.py", cli.get_zappa_settings_string())
            settings_dir = str(stage_dir.resolve())

        config = cli.stage_config
        stages[stage] = {
            "stage": stage,
            "function_name": cli.lambda_name,
            "project_name": cli.project_name,
            "aws_region": cli.aws_region or "us-east-1",
            "timeout_seconds": int(cli.timeout_seconds),
            "memory_size": int(cli.memory_size),
            "ephemeral_storage_mb": int((cli.ephemeral_storage or {}).get("Size", 512)),
            "environment_variables": stage_env,
            "aws_environment_variables": dict(cli.aws_environment_variables or {}),
            "settings_dir": settings_dir,
            "runtime": cli.runtime,
            "app_function": cli.app_function or "",
            "django_settings": cli.django_settings or "",
            "exclude": list(config.get("exclude", [])),
            "exclude_glob": list(config.get("exclude_glob", [])),
            "lambda_endpoint": (config.get("aws_endpoint_urls") or {}).get("lambda") or "",
            "apigateway_enabled": bool(cli.use_apigateway),
            "apigateway_version": cli.apigateway_version,
            "binary_support": bool(cli.binary_support),
            "had_remote_env": bool(config.get("remote_env") or config.get("remote_env_bucket")),
        }
    return stages


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render every stage of zappa_settings.json with Zappa's own code.")
    parser.add_argument("--settings", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--runtime-dir")
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
    sys.exit(main())

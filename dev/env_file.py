"""The project's ``.env`` file, read the way ``docker compose`` reads it (python-dotenv's parser).

Compose reads ``.env`` itself; everything else (the sandbox, make) reads it here, so one file moves both modes and
one parser decides what a line means (quotes, ``export``, comments, ``${VAR}`` interpolation).

    python -m dev.env_file get EMULATOR_PORT [--file .env]   # prints the value; nothing (exit 1) when unset

The ``get`` form is for make (``make/sandbox.mk``), which has no parser of its own.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from dev.cli import run

ENV_FILE = ".env"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` pairs of a ``.env`` file (empty when there is none); keys without a value are left out."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # imported here: the container's health probe imports this module's callers

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def effective_env(project_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``<project_dir>/.env`` overlaid with the process environment (the environment wins, as with compose)."""
    merged = read_env_file(project_dir / ENV_FILE)
    merged.update(os.environ if environ is None else environ)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.env_file", description="Read the project's .env file.")
    sub = parser.add_subparsers(dest="action", required=True)
    get = sub.add_parser("get", help="print one variable's value from the file (exit 1 when it is not set there)")
    get.add_argument("name")
    get.add_argument("--file", type=Path, default=Path(ENV_FILE))
    args = parser.parse_args(argv)
    value = read_env_file(args.file).get(args.name)
    if value is None:
        return 1
    print(value)
    return 0


if __name__ == "__main__":
    run(main)

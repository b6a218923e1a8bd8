"""``python -m dev.emulator init-stage``: give any Zappa project a stage that rehearses against the local emulator.

    python -m dev.emulator init-stage --extends dev [--stage local] [--settings zappa_settings.json]
                                      [--project-dir .] [--endpoint http://127.0.0.1:9000] [--print]

The stage it writes (or, with ``--print``, only prints):

    "local": {
        "extends": "dev",
        "profile_name": null,
        "aws_endpoint_urls": {"lambda": "http://127.0.0.1:9000"}
    }

- ``extends``: everything else (app_function, runtime, limits, environment) comes from the stage you deploy, so the
  rehearsal runs what you ship;
- ``"profile_name": null``: ``zappa init`` writes a profile into every stage, and with one the real ``zappa invoke``
  asks boto3 for that profile in ``~/.aws`` before anything is sent; on a machine (or CI) without it, it fails with
  ``ProfileNotFound``. Without a profile, boto3 takes the credentials from the environment, where any dummy values
  do (``AWS_ACCESS_KEY_ID=local ...``): the emulator does not check them;
- ``aws_endpoint_urls.lambda``: where ``zappa invoke local ...`` sends the call, the emulator's Invoke API.

An existing stage keeps every other key; only these three are set, and the command says what it changed. Nothing
else in the file changes, byte for byte: a new stage is inserted after the last one, an existing one is replaced in
place, in the file's own indentation, so the user's diff is exactly the stage. JSON only (a YAML or TOML settings
file is not rewritten: the stage is printed for you to add by hand, which keeps its comments).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"


class InitStageError(Exception):
    """The stage cannot be written as asked; the message says what to change. Exit status 2."""


def local_stage(
    settings: dict[str, Any], extends: str, stage: str = "local", endpoint: str = DEFAULT_ENDPOINT
) -> tuple[dict[str, Any], list[str]]:
    """``settings`` with ``stage`` set to extend ``extends`` and point at the emulator; (new settings, what changed).
    The input is not modified."""
    if extends not in settings:
        raise InitStageError(
            f"stage {extends!r} is not in the settings (stages: {', '.join(sorted(settings)) or 'none'}): "
            "pass --extends with the stage you deploy"
        )
    if extends == stage:
        raise InitStageError(f"--stage {stage!r} cannot extend itself: name the local stage differently")
    new = {name: dict(value) if isinstance(value, dict) else value for name, value in settings.items()}
    current = new.get(stage)
    if current is not None and not isinstance(current, dict):
        raise InitStageError(f"stage {stage!r} is not a JSON object in the settings; fix it by hand first")
    existed = current is not None
    target: dict[str, Any] = current if existed else {}
    wanted = {"extends": extends, "profile_name": None, "aws_endpoint_urls": {"lambda": endpoint}}
    if existed and isinstance(target.get("aws_endpoint_urls"), dict):
        wanted["aws_endpoint_urls"] = {**target["aws_endpoint_urls"], "lambda": endpoint}
    changed = [] if existed else [f"added stage {stage!r}"]
    for key, value in wanted.items():
        if key in target and target[key] == value:
            continue
        before = f" (was {json.dumps(target[key])})" if key in target else ""
        changed.append(f"{stage}.{key} = {json.dumps(value)}{before}")
        target[key] = value
    parent_profile = settings[extends].get("profile_name") if isinstance(settings[extends], dict) else None
    if parent_profile and any(".profile_name" in line for line in changed):
        changed.append(
            f"  (stage {extends!r} names the AWS profile {parent_profile!r}: the local stage names none, so "
            "`zappa invoke` takes dummy credentials from the environment instead of failing with ProfileNotFound)"
        )
    new[stage] = target
    return new, changed


def _indent_of(text: str) -> int | str:
    """The indentation the file already uses (4 when it cannot tell), so a rewrite changes only our lines."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip()
        if stripped and line != stripped:
            prefix = line[: len(line) - len(stripped)]
            return "\t" if prefix.startswith("\t") else len(prefix)
    return 4


def read_settings(path: Path) -> tuple[dict[str, Any], str]:
    if not path.is_file():
        raise InitStageError(f"{path} not found: pass --project-dir / --settings (the file `zappa init` wrote)")
    text = path.read_text()
    try:
        settings = json.loads(text)
    except ValueError as exc:
        raise InitStageError(f"{path} is not valid JSON ({exc}); nothing was changed") from None
    if not isinstance(settings, dict):
        raise InitStageError(f"{path} must hold a JSON object of stages; nothing was changed")
    return settings, text


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, index: int) -> int:
    return _WHITESPACE.match(text, index).end()


def stage_spans(text: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Where each stage's value lies in the settings text (``{name: (start, end)}``), and the index of the closing
    brace of the top-level object. The standard library's own scanner reads every string and value, so what counts
    as JSON is exactly what ``json.loads`` accepts."""
    decoder = json.JSONDecoder()
    index = _skip(text, 0)
    if text[index : index + 1] != "{":
        raise InitStageError("the settings file must hold a JSON object of stages; nothing was changed")
    spans: dict[str, tuple[int, int]] = {}
    index = _skip(text, index + 1)
    while text[index : index + 1] == '"':
        key, index = json.decoder.scanstring(text, index + 1)
        index = _skip(text, index)
        _, end = decoder.raw_decode(text, _skip(text, index + 1))  # past the ":"
        spans[key] = (_skip(text, index + 1), end)
        index = _skip(text, end)
        if text[index : index + 1] == ",":
            index = _skip(text, index + 1)
    return spans, index


def _stage_text(stage: dict[str, Any], indent: int | str) -> str:
    """The stage's value as JSON nested one level deep in a file indented with ``indent``."""
    unit = indent if isinstance(indent, str) else " " * indent
    return json.dumps(stage, indent=indent, ensure_ascii=False).replace("\n", "\n" + unit)


def edit_settings_text(text: str, name: str, stage: dict[str, Any], indent: int | str) -> str:
    """``text`` with stage ``name`` set to ``stage`` and not one other byte changed: an existing stage's value is
    replaced where it is; a new stage goes after the last one (or into an empty object)."""
    spans, closing = stage_spans(text)
    value = _stage_text(stage, indent)
    if name in spans:
        start, end = spans[name]
        return text[:start] + value + text[end:]
    unit = indent if isinstance(indent, str) else " " * indent
    member = f"{unit}{json.dumps(name)}: {value}"
    if not spans:
        return text[:closing] + f"\n{member}\n" + text[closing:]
    last_end = max(end for _, end in spans.values())
    return text[:last_end] + f",\n{member}" + text[last_end:]


def write_settings(path: Path, text: str) -> None:
    """Atomically: an interrupted write leaves the old file, never half a new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dev.emulator init-stage",
        description="Write a stage that extends the one you deploy and sends `zappa invoke` to the local emulator.",
    )
    parser.add_argument("--extends", required=True, help="the stage you deploy (e.g. dev)")
    parser.add_argument("--stage", default="local", help="the stage to write (default: local)")
    parser.add_argument("--project-dir", type=Path, default=Path("."))
    parser.add_argument("--settings", type=Path, default=Path("zappa_settings.json"), help="relative to the project")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help=f"the emulator (default: {DEFAULT_ENDPOINT})")
    parser.add_argument("--print", action="store_true", help="print the stage, change nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = args.settings if args.settings.is_absolute() else args.project_dir / args.settings
    try:
        if path.suffix.lower() not in (".json", ""):
            settings_yaml = f"{args.stage}: extends {args.extends}, profile_name null, aws_endpoint_urls.lambda"
            raise InitStageError(
                f"{path} is not JSON: add this stage by hand ({settings_yaml} {args.endpoint}); "
                "rewriting YAML or TOML would lose its comments"
            )
        settings, text = read_settings(path)
        new, changed = local_stage(settings, args.extends, args.stage, args.endpoint)
    except InitStageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print:
        print(json.dumps({args.stage: new[args.stage]}, indent=4))
        return 0
    if not changed:
        print(f"{path}: stage {args.stage!r} already rehearses against {args.endpoint}; nothing changed")
        return 0
    edited = edit_settings_text(text, args.stage, new[args.stage], _indent_of(text))
    if json.loads(edited) != new:  # never write a file that does not say what was meant
        print(f"error: could not edit {path} in place; add this stage by hand:", file=sys.stderr)
        print(json.dumps({args.stage: new[args.stage]}, indent=4), file=sys.stderr)
        return 2
    write_settings(path, edited)
    print(f"{path}:")
    for line in changed:
        print(f"  {line}")
    print(
        f"next: make emulator-smoke PROJECT={args.project_dir.resolve()}"
        + (f" SETTINGS={args.settings}" if args.settings != Path("zappa_settings.json") else "")
        + f"   (or: zappa invoke {args.stage} 'module.function' with dummy AWS_* credentials exported)"
    )
    return 0

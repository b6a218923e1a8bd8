"""Stage configuration from ``zappa_settings.json``, resolved by Zappa's own code: the one settings resolver.

Why Zappa's code and not our own parser: the point of the emulator is to rehearse what Zappa deploys. ``extends``,
defaults (``timeout_seconds`` 30, ``memory_size`` 512, ``log_level`` DEBUG, ...), the function name (a slug of
``project_name-stage``) and the ``zappa_settings.py`` that the handler imports all come from ``zappa.cli.ZappaCLI``
(:mod:`.zappa_render`, run in a subprocess), exactly as ``zappa save-python-settings-file`` produces them.

Two kinds of callers, one resolver:

- the emulator (:class:`.registry.Registry`) calls :func:`load_stages`, which also writes each stage's
  ``zappa_settings.py`` into the emulator's run directory (:mod:`.scratch`, outside the project);
- clients (``python -m dev.invoke``, bench, package-check, the sandbox) call :func:`stage_config` /
  :func:`stage_configs` for a function name, an endpoint or a runtime. They write no settings module (a running
  emulator's files are left alone), and the result is cached outside the project (:func:`.scratch.stages_cache_file`,
  keyed by the file's content), so Zappa's one-second import is paid once per edit of the file, not once per
  ``make invoke-*``.

Nothing is ever written into the project: ``zappa package`` must not find our files there.

Two deliberate differences from a deployment, both for a machine without AWS:
- ``remote_env`` (an S3 object) is not rendered: the emulator's ``--pass-env`` variables play its role;
- variables passed with ``--pass-env`` are removed from the rendered ``ENVIRONMENT_VARIABLES`` so the handler does
  not overwrite them at start-up (the emulator sets them in the process environment instead).
  :attr:`FunctionConfig.environment_variables` keeps the stage's values as written.

Serving an unpacked deployment package (``--package-dir``) differs in three ways: the handler imports the package's
own ``zappa_settings.py`` (:func:`package_settings` reads it without importing it), the stages are rendered into a
runtime directory outside the package, and Zappa is imported from the package itself.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import scratch

RUNTIME_DIRNAME = ".runtime"  # where older versions wrote into the project; still skipped by change detection
RENDER_SCRIPT = str(Path(__file__).with_name("zappa_render.py"))
_CACHE_FORMAT = 3  # bump when FunctionConfig's fields change, so old caches are re-rendered


class SettingsError(RuntimeError):
    """zappa_settings.json could not be read or rendered; the message is Zappa's, or says what to fix."""


@dataclass(frozen=True)
class FunctionConfig:
    """One stage as a Lambda function: what the runtime needs to start and bound an execution environment, what the
    API Gateway front needs, and what clients need to find and name it."""

    stage: str
    function_name: str
    project_name: str
    aws_region: str
    timeout_seconds: int
    memory_size: int
    environment_variables: dict[str, str]
    aws_environment_variables: dict[str, str]
    settings_dir: str = ""  # where this stage's zappa_settings.py is; empty when none was written
    ephemeral_storage_mb: int = 512  # the size of /tmp (Zappa's ephemeral_storage.Size)
    runtime: str = ""  # Zappa's "runtime", e.g. "python3.11"
    app_function: str = ""
    django_settings: str = ""  # a Django project's settings module (Zappa's django_settings), no app_function
    exclude: list[str] = field(default_factory=list)
    exclude_glob: list[str] = field(default_factory=list)
    lambda_endpoint: str = ""  # the stage's aws_endpoint_urls.lambda, where clients send invocations
    apigateway_enabled: bool = True
    apigateway_version: str = "v1"
    binary_support: bool = True
    had_remote_env: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunctionConfig:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def arn(self, account_id: str = "000000000000", qualifier: str | None = None) -> str:
        base = f"arn:aws:lambda:{self.aws_region}:{account_id}:function:{self.function_name}"
        return f"{base}:{qualifier}" if qualifier else base

    @property
    def serves_http(self) -> bool:
        """API Gateway would call this stage with HTTP events: it has an API and a WSGI app (Flask's
        ``app_function`` or Django's ``django_settings``)."""
        return self.apigateway_enabled and bool(self.app_function or self.django_settings)

    @property
    def python_version(self) -> str:
        """``"3.11"`` for ``runtime: python3.11``; empty when the runtime is not a Python one."""
        return self.runtime.removeprefix("python") if self.runtime.startswith("python") else ""


def load_stages(
    project_dir: Path,
    settings_file: Path,
    drop_env: list[str],
    runtime_dir: Path,
    python: str | None = None,
    package_dir: Path | None = None,
) -> dict[str, FunctionConfig]:
    """Every stage by name, with its ``zappa_settings.py`` written into ``runtime_dir/<stage>/`` (what the emulator
    serves), rendered by ``python`` (the functions' interpreter, so the project's own Zappa renders its settings).
    With ``package_dir``, Zappa is imported from that package, as the package's handler will be."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    args = ["--runtime-dir", str(runtime_dir.resolve()), *[a for name in drop_env for a in ("--drop-env", name)]]
    return _render(project_dir, settings_file, args, python=python, package_dir=package_dir)


def stage_configs(
    settings_file: Path, cache: bool = True, project_dir: Path | None = None
) -> dict[str, FunctionConfig]:
    """Every stage of ``settings_file`` by name, for clients: nothing but the cache is written, never in the project.

    ``project_dir`` (default: the settings file's directory) is where Zappa runs, whose name is the default
    ``project_name``: pass it when the settings file lives in a subfolder. With ``cache``, the result is kept in
    :func:`.scratch.stages_cache_file` and reused while the file's content is unchanged; no writable cache directory
    just means no cache.
    """
    settings_file = settings_file.resolve()
    if not settings_file.is_file():
        raise SettingsError(f"{settings_file} not found: pass the Zappa settings file (--settings)")
    project_dir = (project_dir or settings_file.parent).resolve()
    key = _cache_key(settings_file, project_dir)
    cache_file = _cache_file(settings_file) if cache else None
    if cache_file is not None:
        cached = _read_cache(cache_file, key)
        if cached is not None:
            return cached
    configs = _render(project_dir, settings_file, [])
    if cache_file is not None:
        _write_cache(cache_file, key, configs)
    return configs


def stage_config(
    settings_file: Path, stage: str, cache: bool = True, project_dir: Path | None = None
) -> FunctionConfig:
    """One stage of ``settings_file`` (see :func:`stage_configs`); a missing stage is a :class:`SettingsError`."""
    configs = stage_configs(settings_file, cache=cache, project_dir=project_dir)
    if stage not in configs:
        raise SettingsError(
            f"stage {stage!r} is not in the settings file {settings_file} (stages: {', '.join(sorted(configs))})"
        )
    return configs[stage]


def with_limits_from(configs: dict[str, FunctionConfig], stage: str) -> dict[str, FunctionConfig]:
    """Every stage of ``configs`` with the ``timeout_seconds`` and ``memory_size`` of ``stage``.

    Why: a stage that can run here (``local``: loopback endpoints, local variables) rehearses a stage that cannot
    (``production``: its database and ``remote_env`` are elsewhere) under the limits that stage will enforce
    (``python -m dev.emulator --limits-from production``, ``make rehearse``). Only the two limits move; names,
    variables and everything else stay the served stage's own.
    """
    if stage not in configs:
        raise SettingsError(
            f"--limits-from {stage}: no such stage in the settings file (stages: {', '.join(sorted(configs))})"
        )
    source = configs[stage]
    limits = {"timeout_seconds": source.timeout_seconds, "memory_size": source.memory_size}
    return {name: dataclasses.replace(config, **limits) for name, config in configs.items()}


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


def _render(
    project_dir: Path,
    settings_file: Path,
    args: list[str],
    python: str | None = None,
    package_dir: Path | None = None,
) -> dict[str, FunctionConfig]:
    """Run :mod:`.zappa_render` with cwd = the project directory; its configs by stage name."""
    fd, out = tempfile.mkstemp(prefix="emulator-stages-", suffix=".json")
    os.close(fd)
    try:
        cmd = [python or sys.executable, RENDER_SCRIPT, "--settings", str(settings_file.resolve()), "--out", out]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPPA_")}  # ZAPPA_* would alter settings
        if package_dir is not None:
            paths = [str(package_dir.resolve()), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        proc = subprocess.run([*cmd, *args], cwd=project_dir, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise SettingsError(f"cannot load {settings_file}: {detail[-1] if detail else 'unknown error'}")
        with open(out) as handle:
            return {stage: FunctionConfig.from_dict(data) for stage, data in json.load(handle).items()}
    finally:
        os.unlink(out)


def _cache_file(settings_file: Path) -> Path | None:
    try:
        return scratch.stages_cache_file(settings_file)
    except OSError:
        return None


def _cache_key(settings_file: Path, project_dir: Path) -> str:
    digest = hashlib.sha256(settings_file.read_bytes())
    digest.update(f"\0{settings_file}\0{project_dir}\0{_CACHE_FORMAT}".encode())
    return digest.hexdigest()


def _read_cache(cache_file: Path, key: str) -> dict[str, FunctionConfig] | None:
    try:
        data = json.loads(cache_file.read_text())
        if data.get("key") != key:
            return None
        return {stage: FunctionConfig.from_dict(config) for stage, config in data["stages"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_cache(cache_file: Path, key: str, configs: dict[str, FunctionConfig]) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=f".{cache_file.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump({"key": key, "stages": {stage: asdict(c) for stage, c in configs.items()}}, handle)
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only project: every call renders

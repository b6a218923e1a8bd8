"""Function registry: Lambda function name -> stage configuration, kept in step with the settings file on disk.

Every stage of ``zappa_settings.json`` is one function, named as Zappa names it. The registry also says which of the
project's files are its deployed code (:meth:`Registry.shipped_files`, for :mod:`.changes`): the exclude patterns
that every stage shares, and the settings file wherever it is.

With a ``package_dir`` (an unpacked ``zappa package`` zip) the registry serves that package instead of the project:
it is the task root (``project_dir`` here, which the runtime uses as cwd and ``LAMBDA_TASK_ROOT``), its own
``zappa_settings.py`` is the settings module, and only the stage it was built for is a function. The project
directory then only provides ``zappa_settings.json`` (name, limits) and the cwd for rendering it.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from dev.guard import RemoteDatabaseError, check_variables

from .changes import ShippedFiles
from .settings import FunctionConfig, SettingsError, load_stages, package_settings, with_limits_from

__all__ = ["FunctionConfig", "Registry", "split_function_name"]


def split_function_name(raw: str) -> tuple[str, str | None]:
    """Accept the forms Lambda accepts: ``name``, ``name:qualifier``, ``arn:aws:lambda:r:acct:function:name[:q]``.

    Returns ``(name, qualifier or None)``.
    """
    if raw.startswith("arn:"):
        parts = raw.split(":")
        # arn:aws:lambda:region:account:function:name[:qualifier]
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6], (parts[7] if len(parts) > 7 else None)
        return raw, None
    if raw.count(":") == 1:
        name, qualifier = raw.split(":")
        return name, qualifier
    # "account:function:name" partial ARNs exist too; keep the last two parts when present.
    if ":function:" in raw:
        tail = raw.split(":function:", 1)[1].split(":")
        return tail[0], (tail[1] if len(tail) > 1 else None)
    return raw, None


class Registry:
    """Loads the stages once and again whenever the settings file changes; thread-safe."""

    def __init__(
        self,
        project_dir: Path,
        settings_file: Path,
        pass_env: dict[str, str],
        runtime_dir: Path,
        package_dir: Path | None = None,
        python: str | None = None,
        limits_from: str | None = None,
    ) -> None:
        """``runtime_dir`` receives each stage's ``zappa_settings.py`` (outside the project: :mod:`.scratch`);
        ``python`` renders them (the functions' interpreter, so the project's own Zappa does it); ``limits_from``
        names the stage whose ``timeout_seconds`` and ``memory_size`` every function gets
        (:func:`.settings.with_limits_from`), re-applied whenever the settings file is re-read."""
        self.source_dir = project_dir.resolve()
        self.package_dir = package_dir.resolve() if package_dir is not None else None
        # The task root: what the functions run (cwd, LAMBDA_TASK_ROOT, sys.path, the watched code).
        self.project_dir = self.package_dir or self.source_dir
        self.settings_file = settings_file if settings_file.is_absolute() else self.source_dir / settings_file
        self.runtime_dir = runtime_dir.resolve()
        self.python = python
        self.pass_env = dict(pass_env)
        self.limits_from = limits_from
        self.package_stage: str | None = None
        if self.package_dir is not None:
            self.package_stage = package_settings(self.package_dir)["API_STAGE"]
        self._lock = threading.Lock()
        self._settings_mtime: int | None = None
        self._by_name: dict[str, FunctionConfig] = {}
        self._by_stage: dict[str, FunctionConfig] = {}
        self._shipped: ShippedFiles | None = None
        self._refusals: dict[str, str] = {}
        self.version = 0  # counts the loads of the settings file
        self.reload_if_changed()

    def reload_if_changed(self) -> bool:
        """Re-render the stages when zappa_settings.json changed; True when it did."""
        mtime = self.settings_file.stat().st_mtime_ns
        with self._lock:
            if mtime == self._settings_mtime:
                return False
            stages = load_stages(
                self.source_dir,
                self.settings_file,
                sorted(self.pass_env),
                runtime_dir=self.runtime_dir,
                python=self.python,
                package_dir=self.package_dir,
            )
            if self.limits_from is not None:
                stages = with_limits_from(stages, self.limits_from)
            if self.package_dir is not None:
                stages = self._package_stages(stages)
            configs = list(stages.values())
            self._by_name = {c.function_name: c for c in configs}
            self._by_stage = {c.stage: c for c in configs}
            self._refusals = {c.function_name: r for c in configs if (r := self._guard(c))}
            self._settings_mtime = mtime
            self._shipped = None
            self.version += 1
            return True

    def _package_stages(self, stages: dict[str, FunctionConfig]) -> dict[str, FunctionConfig]:
        """Only the stage the package was built for, with the package's own settings module."""
        if self.package_stage not in stages:
            raise SettingsError(
                f"the package in {self.package_dir} was built for stage {self.package_stage!r}, which is not in "
                f"{self.settings_file} (stages: {', '.join(sorted(stages))}); pass the settings file it was built from"
            )
        return {self.package_stage: dataclasses.replace(stages[self.package_stage], settings_dir=str(self.package_dir))}

    def _guard(self, config: FunctionConfig) -> str | None:
        """Why this function must not run here (a variable it gets holds a remote database URL), or None.
        ``--pass-env`` values replace the stage's own and are checked once at start-up."""
        variables = {k: v for k, v in config.environment_variables.items() if k not in self.pass_env}
        variables.update(config.aws_environment_variables)
        try:
            check_variables(variables, f"stage {config.stage!r} of {self.settings_file.name}")
        except RemoteDatabaseError as exc:
            return str(exc)
        return None

    def refusal(self, function_name: str) -> str | None:
        """The guard's message when ``function_name`` must not run here (:func:`dev.guard.check_variables`)."""
        return self._refusals.get(function_name)

    def get(self, function_name: str) -> FunctionConfig | None:
        return self._by_name.get(function_name)

    def for_stage(self, stage: str) -> FunctionConfig | None:
        return self._by_stage.get(stage)

    def functions(self) -> list[FunctionConfig]:
        return list(self._by_name.values())

    def shipped_files(self) -> ShippedFiles:
        """The task root's files that count as deployed code. Only the exclude patterns that every stage shares
        apply: a file excluded by one stage is still shipped, and may matter, in another."""
        if self._shipped is not None:
            return self._shipped
        configs = list(self._by_name.values())
        exclude = sorted(set.intersection(*(set(c.exclude) for c in configs))) if configs else []
        exclude_glob = sorted(set.intersection(*(set(c.exclude_glob) for c in configs))) if configs else []
        self._shipped = ShippedFiles.for_project(self.project_dir, exclude, exclude_glob, [self.settings_file])
        return self._shipped

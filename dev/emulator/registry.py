"""Function registry: Lambda function name -> stage configuration, kept in step with the project on disk.

Every stage of ``zappa_settings.json`` is one function, named as Zappa names it. The registry also owns the project's
*code fingerprint*: a cheap digest of the modification times of the files a deployment would ship (Zappa's
``exclude`` patterns decide what is shipped). The runtime compares it before each invocation, so an edited module or
migration makes the next invocation cold, as a fresh ``zappa update`` would, and nobody rehearses stale code.

With a ``package_dir`` (an unpacked ``zappa package`` zip) the registry serves that package instead of the project:
it is the task root (``project_dir`` here, which the runtime uses as cwd and ``LAMBDA_TASK_ROOT``), its own
``zappa_settings.py`` is the settings module, and only the stage it was built for is a function. The project
directory then only provides ``zappa_settings.json`` (name, limits) and the cwd for rendering it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import threading
from pathlib import Path

from .settings import RUNTIME_DIRNAME, FunctionConfig, SettingsError, load_stages, package_settings

__all__ = ["FunctionConfig", "Registry", "code_fingerprint", "split_function_name"]

# Never part of a deployment package and often large: skipped whatever the stage's `exclude` says.
_ALWAYS_SKIPPED_DIRS = {".git", ".venv", "venv", "env", "node_modules", "__pycache__", RUNTIME_DIRNAME}
# Files whose change alters behaviour: code, migrations (alembic.ini, *.mako, *.sql), settings.
_WATCHED_SUFFIXES = (".py", ".ini", ".mako", ".sql", ".json", ".toml", ".yml", ".yaml", ".cfg")


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


def code_fingerprint(project_dir: Path, exclude: list[str]) -> tuple[int, int]:
    """(file count, sum of mtime_ns) of the watched files. Cheap (no hashing) and changes on any edit, add or delete."""
    count = 0
    total = 0
    for dirpath, dirnames, filenames in os.walk(project_dir):
        dirnames[:] = [
            d
            for d in dirnames
            if d not in _ALWAYS_SKIPPED_DIRS
            and not (d.startswith(".") and d != ".")
            and not any(fnmatch.fnmatch(d, pat) for pat in exclude)
        ]
        for name in filenames:
            if not name.endswith(_WATCHED_SUFFIXES) or any(fnmatch.fnmatch(name, pat) for pat in exclude):
                continue
            try:
                stat = os.stat(os.path.join(dirpath, name))
            except OSError:  # deleted while walking
                continue
            count += 1
            total += stat.st_mtime_ns
    return count, total


class Registry:
    """Loads the stages once and again whenever the settings file changes; thread-safe."""

    def __init__(
        self,
        project_dir: Path,
        settings_file: Path,
        pass_env: dict[str, str],
        package_dir: Path | None = None,
        runtime_dir: Path | None = None,
    ) -> None:
        self.source_dir = project_dir.resolve()
        self.package_dir = package_dir.resolve() if package_dir is not None else None
        # The task root: what the functions run (cwd, LAMBDA_TASK_ROOT, sys.path, the code fingerprint).
        self.project_dir = self.package_dir or self.source_dir
        self.settings_file = settings_file if settings_file.is_absolute() else self.source_dir / settings_file
        self.runtime_dir = runtime_dir.resolve() if runtime_dir is not None else self.source_dir / RUNTIME_DIRNAME
        self.pass_env = dict(pass_env)
        self.package_stage: str | None = None
        if self.package_dir is not None:
            self.package_stage = package_settings(self.package_dir)["API_STAGE"]
        self._lock = threading.Lock()
        self._settings_mtime: int | None = None
        self._by_name: dict[str, FunctionConfig] = {}
        self._by_stage: dict[str, FunctionConfig] = {}
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
                package_dir=self.package_dir,
            )
            if self.package_dir is not None:
                stages = self._package_stages(stages)
            configs = list(stages.values())
            self._by_name = {c.function_name: c for c in configs}
            self._by_stage = {c.stage: c for c in configs}
            self._settings_mtime = mtime
            return True

    def _package_stages(self, stages: dict[str, FunctionConfig]) -> dict[str, FunctionConfig]:
        """Only the stage the package was built for, with the package's own settings module."""
        if self.package_stage not in stages:
            raise SettingsError(
                f"the package in {self.package_dir} was built for stage {self.package_stage!r}, which is not in "
                f"{self.settings_file} (stages: {', '.join(sorted(stages))}); pass the settings file it was built from"
            )
        return {self.package_stage: dataclasses.replace(stages[self.package_stage], settings_dir=str(self.package_dir))}

    def get(self, function_name: str) -> FunctionConfig | None:
        return self._by_name.get(function_name)

    def for_stage(self, stage: str) -> FunctionConfig | None:
        return self._by_stage.get(stage)

    def functions(self) -> list[FunctionConfig]:
        return list(self._by_name.values())

    def fingerprint(self) -> tuple[int, int, int]:
        """Code fingerprint plus the settings file's mtime. Only the exclude patterns that every stage shares are
        applied: a file excluded by one stage is still shipped, and may matter, in another."""
        patterns = [set(c.exclude) for c in self._by_name.values()]
        common = sorted(set.intersection(*patterns)) if patterns else []
        count, total = code_fingerprint(self.project_dir, common)
        return count, total, self.settings_file.stat().st_mtime_ns

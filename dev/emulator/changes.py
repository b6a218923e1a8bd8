"""Change detection: has a file that a deployment would ship changed since the environments were started?

An edited module or migration must make the next invocation run the new code, as a fresh ``zappa update`` would, so
nobody rehearses stale code. Which files count (:class:`ShippedFiles`): code and what code reads (``*.py``,
``alembic.ini``, ``*.mako``, ``*.sql``, settings), minus the stage's ``exclude`` / ``exclude_glob``, minus what
``.gitignore`` ignores, minus any directory holding ``pyvenv.cfg`` (a virtualenv, whatever its name), ``.git``,
``node_modules``, ``__pycache__`` and hidden directories.

Two detectors, one interface (``start(on_change)``, ``changed()``, ``close()``):

- :class:`FileWatcher` (default): ``watchfiles`` (the Rust ``notify`` crate: inotify, FSEvents, ...) watches every
  directory that counts, in a background thread. An invocation only reads a counter: O(1), whatever the size of the
  project, and a change is known ~20-40 ms after the write, early enough to start a fresh environment before the
  next invocation (eager warm-up, :mod:`.runtime`). An invocation sent within that window of a save may still run
  the previous code, as one racing a ``zappa update`` would on Lambda.
- :class:`ScanDetector` (fallback): walks the tree on every invocation and compares modification times: O(files),
  but exact. Used where ``watchfiles`` cannot be imported (``make package-check`` runs the emulator under an
  interpreter with nothing installed) or cannot watch (no inotify instances left); the banner says which.

``watchfiles`` and ``pathspec`` (``.gitignore`` rules) are imported only here and only if present: the server
itself needs nothing but the standard library.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .interpreter import VENV_MARKER
from .settings import RUNTIME_DIRNAME

# Never part of a deployment package, often large or busy: skipped whatever the stage's `exclude` says.
ALWAYS_SKIPPED_DIRS = frozenset({".git", "node_modules", "__pycache__", RUNTIME_DIRNAME})
# Files whose change alters behaviour: code, migrations (alembic.ini, *.mako, *.sql), settings.
WATCHED_SUFFIXES = (".py", ".ini", ".mako", ".sql", ".json", ".toml", ".yml", ".yaml", ".cfg")
WATCH_STEP_MS = 20  # watchfiles polls its event set this often: a change is reported 1-2 steps after it happened
WATCH_DEBOUNCE_MS = 400  # a burst of changes (git checkout) is reported at most this long after it began


def _gitignore(project_dir: Path) -> Callable[[str], bool] | None:
    """The project's root ``.gitignore`` as a matcher of relative POSIX paths (directories end in ``/``), or None
    without the file or without ``pathspec``."""
    path = project_dir / ".gitignore"
    if not path.is_file():
        return None
    try:
        import pathspec
    except ImportError:
        return None
    spec = pathspec.GitIgnoreSpec.from_lines(path.read_text(errors="replace").splitlines())
    return spec.match_file


@dataclass
class ShippedFiles:
    """Which files of a project count as its deployed code (see the module docstring)."""

    root: Path
    exclude: list[str] = field(default_factory=list)  # Zappa's: fnmatch on every file and directory name
    exclude_glob: list[str] = field(default_factory=list)  # Zappa's: globs relative to the project
    extra_files: list[Path] = field(default_factory=list)  # watched wherever they are (a settings file outside)
    gitignore: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        # One regular expression per pattern list: a scan tests every file name against them.
        self._name_pattern = _any_of(self.exclude)
        self._glob_pattern = _any_of([pat.lstrip("./") for pat in self.exclude_glob])

    @classmethod
    def for_project(cls, root: Path, exclude: list[str], exclude_glob: list[str], extra: list[Path]) -> ShippedFiles:
        root = root.resolve()
        return cls(root, list(exclude), list(exclude_glob), [p.resolve() for p in extra], _gitignore(root))

    def _excluded(self, name: str, relative: str) -> bool:
        return bool(
            (self._name_pattern and self._name_pattern.match(name))
            or (self._glob_pattern and self._glob_pattern.match(relative))
        )

    def skip_dir(self, path: Path) -> bool:
        """A directory whose contents never count (checked for the directory itself, not its parents)."""
        name = path.name
        if name in ALWAYS_SKIPPED_DIRS or (name.startswith(".") and path != self.root):
            return True
        relative = path.relative_to(self.root).as_posix()
        if self._excluded(name, relative) or (path / VENV_MARKER).exists():
            return True
        return self.gitignore is not None and self.gitignore(relative + "/")

    def _file_counts(self, name: str, relative: str) -> bool:
        """The file-level rules (its directories already passed :meth:`skip_dir`)."""
        if not name.endswith(WATCHED_SUFFIXES) or self._excluded(name, relative):
            return False
        return self.gitignore is None or not self.gitignore(relative)

    def counts(self, path: Path) -> bool:
        """Whether a change to the file ``path`` (which may be gone) changes the deployed code."""
        if path in self.extra_files:
            return True
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if not path.name.endswith(WATCHED_SUFFIXES):
            return False
        for depth in range(1, len(relative.parts)):  # every directory between the root and the file
            if self.skip_dir(self.root.joinpath(*relative.parts[:depth])):
                return False
        return self._file_counts(path.name, relative.as_posix())

    def directories(self) -> list[Path]:
        """Every directory that can hold files that count: a walk that never enters a skipped one."""
        found: list[Path] = []
        for dirpath, dirnames, _ in os.walk(self.root):
            current = Path(dirpath)
            found.append(current)
            dirnames[:] = sorted(d for d in dirnames if not self.skip_dir(current / d))
        found += [p.parent for p in self.extra_files if p.parent not in found]
        return found

    def fingerprint(self) -> tuple[int, int]:
        """(file count, sum of mtime_ns) of the files that count: changes on any edit, add or delete. O(files)."""
        count = total = 0
        for directory in self.directories():
            prefix = directory.relative_to(self.root).as_posix() if directory.is_relative_to(self.root) else None
            for entry in _files(directory):
                if prefix is None:  # the directory of a settings file outside the project
                    wanted = Path(entry.path) in self.extra_files
                else:
                    wanted = self._file_counts(entry.name, f"{prefix}/{entry.name}" if prefix != "." else entry.name)
                if not wanted:
                    continue
                try:
                    total += entry.stat().st_mtime_ns
                except OSError:  # deleted meanwhile
                    continue
                count += 1
        return count, total


def _any_of(patterns: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)) if patterns else None


def _files(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return [entry for entry in entries if not entry.is_dir()]
    except OSError:
        return []


class ChangeDetector(Protocol):
    """``start(on_change)`` once; then either ``on_change`` is called from a background thread on every change
    (a watcher), or ``changed()``, asked before each invocation, says whether something changed since it last asked
    (a scan). ``kind`` names the method in use."""

    kind: str

    def start(self, on_change: Callable[[], None]) -> None: ...

    def changed(self) -> bool: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class ScanDetector:
    """Walks the project on every :meth:`changed`: exact, O(files) per invocation; the fallback."""

    kind = "scan"

    def __init__(self, rules: Callable[[], ShippedFiles], reason: str = "") -> None:
        self._rules = rules
        self.reason = reason
        self._fingerprint: tuple[int, int] | None = None

    def start(self, on_change: Callable[[], None]) -> None:
        self._fingerprint = self._rules().fingerprint()

    def changed(self) -> bool:
        fingerprint = self._rules().fingerprint()
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        return True

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"code changes: every request walks the project (O(files)){why}"

    def close(self) -> None:
        pass


class FileWatcher:
    """watchfiles in a daemon thread; :meth:`changed` is O(1). Non-recursive watches on exactly the directories that
    count (never inside a virtualenv or ``.git``); a new directory restarts the watcher with it."""

    def __init__(self, rules: Callable[[], ShippedFiles], notify_class: Any) -> None:
        self._rules = rules
        self._notify_class = notify_class
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.reports = 0
        self._on_change: Callable[[], None] = lambda: None
        self._thread: threading.Thread | None = None
        self._fallback: ScanDetector | None = None
        self.directories = 0

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "scan" if self._fallback is not None else "watchfiles"

    def start(self, on_change: Callable[[], None]) -> None:
        """Watch now and report each change that counts by calling ``on_change`` from the watcher's thread. Where the
        system refuses (no inotify instance or watch left), fall back to the scan, and say so."""
        self._on_change = on_change
        try:
            notify = self._open()
        except (OSError, RuntimeError) as exc:  # RuntimeError: watchfiles' internal error (no inotify instance)
            self._fallback = ScanDetector(self._rules, f"cannot watch: {exc}")
            self._fallback.start(on_change)
            return
        self._thread = threading.Thread(target=self._run, args=(notify,), name="code-watcher", daemon=True)
        self._thread.start()

    def _open(self) -> Any:
        directories = [str(d) for d in self._rules().directories()]
        self.directories = len(directories)
        return self._notify_class(directories, False, False, 50, False, True)

    def _run(self, notify: Any) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                result = notify.watch(WATCH_DEBOUNCE_MS, WATCH_STEP_MS, 0, self._stop)
                failures = 0
            except Exception as exc:  # a watched directory vanished under the watcher, or another error: start again
                failures += 1
                if failures > 3:
                    notify.close()
                    self._degrade(f"the file watcher keeps failing: {exc}")
                    return
                result = None
            if isinstance(result, set):
                rules = self._rules()
                new_dirs = [p for _, raw in result if (p := Path(raw)).is_dir() and not _skipped(rules, p)]
                if new_dirs or any(rules.counts(Path(raw)) for _, raw in result):
                    self._report()
                if not new_dirs:
                    continue
            elif result is not None:  # "stop" (closing) or "signal" (never in this thread)
                continue
            # Watch the new set of directories; whatever was written before the new watches exist counts as a change.
            notify.close()
            try:
                notify = self._open()
            except (OSError, RuntimeError) as exc:
                self._degrade(f"cannot watch the project any more: {exc}")
                return
            self._report()
        notify.close()

    def _report(self) -> None:
        with self._lock:
            self.reports += 1
        self._on_change()

    def _degrade(self, reason: str) -> None:
        print(f"emulator: {reason}; walking the project on every invocation instead", file=sys.stderr, flush=True)
        fallback = ScanDetector(self._rules, reason)
        fallback.start(self._on_change)
        self._fallback = fallback
        self._report()

    def changed(self) -> bool:
        """Always False while watching: changes are pushed to ``on_change`` as they happen. After a fallback, the
        scan's answer."""
        return self._fallback.changed() if self._fallback is not None else False

    def describe(self) -> str:
        if self._fallback is not None:
            return self._fallback.describe()
        return (
            f"code changes: watched in the background ({self.directories} directories, watchfiles; virtualenvs, "
            "exclude and .gitignore skipped): an edit retires the warm environments"
        )

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def _skipped(rules: ShippedFiles, path: Path) -> bool:
    try:
        relative = path.relative_to(rules.root)
    except ValueError:
        return True
    return any(
        rules.skip_dir(rules.root.joinpath(*relative.parts[:depth])) for depth in range(1, len(relative.parts) + 1)
    )


def detector(rules: Callable[[], ShippedFiles], mode: str = "auto") -> ChangeDetector:
    """``auto``: the watcher when ``watchfiles`` imports, else the scan; ``watch`` insists; ``scan`` never watches."""
    if mode == "scan":
        return ScanDetector(rules, "--watch scan")
    try:
        from watchfiles._rust_notify import RustNotify
    except ImportError as exc:
        if mode == "watch":
            raise
        return ScanDetector(rules, f"watchfiles is not importable here: {exc}")
    return FileWatcher(rules, RustNotify)

"""Where the emulator's generated files go: never into the project, so ``zappa package`` can never ship them.

Zappa packages the project directory minus ``exclude``; a rendered ``zappa_settings.py`` or a cache left in the
project would ride along in a foreign project's zip (its ``exclude`` knows nothing of ours). So:

- a running emulator's files (each stage's ``zappa_settings.py``, the functions' empty HOME, the TMPDIR stand-ins)
  live in a *run directory* of its own, ``<cache>/runs/run-<pid>-XXXX``, removed when it stops (and, if it was
  killed, by the next emulator that finds its process gone);
- clients' stage cache (:func:`.settings.stage_configs`) lives in ``<cache>/stages/``, one file per settings file.

``<cache>`` is ``$XDG_CACHE_HOME/zappa-emulator`` or ``~/.cache/zappa-emulator``, else (a HOME that cannot be
written, as in some containers) ``<system temp>/zappa-emulator-<uid>``. ``EMULATOR_CACHE_DIR`` overrides it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

CACHE_VARIABLE = "EMULATOR_CACHE_DIR"
_RUN_PREFIX = "run-"


def _writable_dir(path: Path) -> Path | None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


def cache_root() -> Path:
    """The first writable of ``$EMULATOR_CACHE_DIR``, the user's cache directory, the system temp directory."""
    candidates = []
    if os.environ.get(CACHE_VARIABLE):
        candidates.append(Path(os.environ[CACHE_VARIABLE]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append(Path(xdg) / "zappa-emulator" if xdg else Path.home() / ".cache" / "zappa-emulator")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    candidates.append(Path(tempfile.gettempdir()) / f"zappa-emulator-{uid}")
    for candidate in candidates:
        usable = _writable_dir(candidate)
        if usable is not None:
            return usable
    raise OSError(f"no writable directory for the emulator's files among {', '.join(map(str, candidates))}")


def new_run_dir() -> Path:
    """A directory for one emulator process's generated files; stale ones of dead emulators are removed first."""
    runs = cache_root() / "runs"
    runs.mkdir(exist_ok=True)
    remove_stale_runs(runs)
    return Path(tempfile.mkdtemp(prefix=f"{_RUN_PREFIX}{os.getpid()}-", dir=runs))


def remove_stale_runs(runs: Path) -> None:
    for entry in runs.glob(f"{_RUN_PREFIX}*"):
        try:
            pid = int(entry.name[len(_RUN_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if not _alive(pid):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def stages_cache_file(settings_file: Path) -> Path:
    """The clients' cache for one settings file (keyed by its absolute path; the content is checked on read)."""
    digest = hashlib.sha256(str(settings_file.resolve()).encode()).hexdigest()[:16]
    return cache_root() / "stages" / f"{settings_file.name}-{digest}.json"

"""A copy of this project's deployable part (what ``zappa package`` ships, plus the harness when asked), for
programs and tests that need a project of their own to change: a benchmark's edits, a fixture revision stacked
on head, a git repository whose history a deploy rehearsal reads.

Bytecode is never copied (a copy is a fresh checkout); the checkout's ``.gitignore`` comes along, so a copy made
into a git repository ignores what the checkout ignores.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_FILES = ("run.py", "requirements.txt", "zappa_settings.json", ".gitignore")
APP_DIRS = ("yt_pubsub_handler", "migrations")
HARNESS_DIRS = ("dev",)
# What a developer's new-migration path reads besides the app: the README's migration table, ruff's settings (the
# revision template's post-write hook), squawk's.
DEVELOPER_FILES = ("README.md", "pyproject.toml", ".squawk.toml")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".runtime", "*.png")


def copy_deployable(
    dest: Path, with_harness: bool = False, source: Path = PROJECT_ROOT, also: Iterable[str] = ()
) -> Path:
    """``source``'s app (run.py, the package, migrations, settings, requirements) in ``dest``; with
    ``with_harness`` also ``dev/`` (what runs inside a Lambda worker for the rehearsals, e.g. their probe); ``also``
    names more files or directories of ``source`` to copy (e.g. ``DEVELOPER_FILES``)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*APP_FILES, *also):
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    dirs = (*APP_DIRS, *(HARNESS_DIRS if with_harness else ()), *(name for name in also if (source / name).is_dir()))
    for name in dirs:
        shutil.copytree(source / name, dest / name, ignore=_IGNORED, dirs_exist_ok=True)
    return dest

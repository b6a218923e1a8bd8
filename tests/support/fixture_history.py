"""Migration histories for tests: small fixture histories of their own, and fixtures stacked on the real head.

Tests of the tooling (the helpers, run.py, the lint, the lock report) must keep passing when the team adds a
revision, so they never depend on the shipped history. Two ways to get a history a test controls:

- ``assemble(dest, versions)``: a complete migrations directory (the project's alembic.ini, env.py and
  script.py.mako, plus the given revision directories). A fixture history with a base revision of its own
  stands alone; one meant to sit on the real history is passed after ``PROJECT_VERSIONS``.
- Fixture revisions meant to sit on the real history are written with ``down_revision = None`` and
  *re-parented* onto whatever is head when they are copied (``stack_on_head``), so a new shipped revision
  never gives two heads.

A fixture history that needs models of its own (``migrator.check()``, autogenerate) ships an ``env.py`` that
calls ``run_project_env(metadata)``: the project's env.py, run with that metadata standing in for the app's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from tests.support.paths import REPO_ROOT

PROJECT_MIGRATIONS = REPO_ROOT / "migrations"
PROJECT_VERSIONS = PROJECT_MIGRATIONS / "versions"
ENVIRONMENT_FILES = ("alembic.ini", "env.py", "script.py.mako")

_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)
_REVISES = re.compile(r"^Revises:.*$", re.MULTILINE)


def head_of(migrations_dir: Path | str) -> str | None:
    """The single head of a migrations directory (None when it has no revision)."""
    return ScriptDirectory(str(migrations_dir)).get_current_head()


def chain_of(migrations_dir: Path | str) -> list[str]:
    """Revision ids, oldest first."""
    return [s.revision for s in reversed(list(ScriptDirectory(str(migrations_dir)).walk_revisions()))]


def reparent(source: str, parent: str | None) -> str:
    """A revision file's text with ``down_revision`` (and the docstring's ``Revises:``) set to ``parent``."""
    found = _DOWN_REVISION.findall(source)
    if len(found) != 1:
        raise ValueError(f"expected one `down_revision = ...` line, found {len(found)}")
    text = _DOWN_REVISION.sub(f"down_revision = {parent!r}", source, count=1)
    return _REVISES.sub(f"Revises: {parent or ''}".rstrip(), text, count=1)


def stack_on_head(fixture_versions: Path, versions_dir: Path) -> str | None:
    """Copy ``fixture_versions/*.py`` into ``versions_dir``, the fixture's base re-parented onto the current head.

    The fixture's base is its one revision written with ``down_revision = None``; the others chain from it.
    Returns the head they were stacked on.
    """
    head = head_of(versions_dir.parent)
    files = sorted(fixture_versions.glob("*.py"))
    bases = [f for f in files if re.search(r"^down_revision\s*=\s*None\b", f.read_text(), re.MULTILINE)]
    if len(bases) != 1:
        raise ValueError(
            f"{fixture_versions}: a fixture to stack on head needs exactly one revision with `down_revision = None` "
            f"(its base), found {[f.name for f in bases]}"
        )
    for path in files:
        text = path.read_text()
        (versions_dir / path.name).write_text(reparent(text, head) if path == bases[0] else text)
    return head


def assemble(dest: Path, *versions: Path, env: Path | None = None, on_head: Path | None = None) -> Path:
    """A complete migrations directory in ``dest``: the project's environment files and the given revisions.

    ``versions`` are copied as they are (e.g. ``PROJECT_VERSIONS`` or a standalone fixture history);
    ``on_head`` is a fixture stacked on the resulting head (see ``stack_on_head``); ``env`` replaces env.py.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in ENVIRONMENT_FILES:
        shutil.copy2(PROJECT_MIGRATIONS / name, dest / name)
    (dest / "versions").mkdir(exist_ok=True)
    for directory in versions:
        for path in sorted(directory.glob("*.py")):
            shutil.copy2(path, dest / "versions" / path.name)
    if on_head is not None:
        stack_on_head(on_head, dest / "versions")
    if env is not None:
        shutil.copy2(env, dest / "env.py")
    return dest


def run_project_env(metadata: sa.MetaData) -> None:
    """Run the project's migrations/env.py with ``metadata`` standing in for the app's models.

    The project's env.py reads the models from ``current_app.extensions["migrate"].db``; for the duration of
    this run that attribute is swapped for a stand-in with ``metadata``. Called from a fixture's env.py.
    """
    from types import SimpleNamespace

    from flask import current_app

    real_env = PROJECT_MIGRATIONS / "env.py"
    extension = current_app.extensions["migrate"]
    real_db = extension.db
    extension.db = SimpleNamespace(engine=real_db.engine, metadata=metadata)
    try:
        exec(compile(real_env.read_text(), str(real_env), "exec"), {"__name__": "env", "__file__": str(real_env)})
    finally:
        extension.db = real_db

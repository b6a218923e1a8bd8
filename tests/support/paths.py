"""Where things are: the checkout, and ``tests/examples``, the one root of fixture histories and fixture projects
(pytest-alembic keeps its fixture projects under one ``examples/`` root the same way)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "tests" / "examples"
HISTORIES = EXAMPLES / "histories"  # small migration histories of their own, for testing the tools
BAD_REVISIONS = EXAMPLES / "bad_revisions"  # one mistake per directory, stacked on a history's head
DEPLOY_CHANGES = EXAMPLES / "deploy_changes"  # revisions stacked on head for the deploy rehearsal
PROJECTS = EXAMPLES / "projects"  # Zappa projects other than this one, for the emulator

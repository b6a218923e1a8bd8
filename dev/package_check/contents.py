"""What the package must contain, what Zappa's ``exclude`` dropped, and whether anything in it changed."""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import os
import stat
import zipfile
from pathlib import Path

from dev.emulator.settings import FunctionConfig

from .result import Check

# Zappa's own ZIP_EXCLUDES (zappa/core.py) are applied on top of the stage's `exclude`.
ZAPPA_ZIP_EXCLUDES = ("*.exe", "*.DS_Store", "*.Python", "*.git", ".git/*", "*.zip", "*.tar.gz", "*.hg", "pip")
MIGRATION_FILES = ("alembic.ini", "env.py", "script.py.mako")


def _module_paths(project_dir: Path, module: str) -> list[Path]:
    """The files of a top-level module or package of the project (empty when it is not the project's)."""
    as_file = project_dir / f"{module}.py"
    if as_file.is_file():
        return [as_file]
    as_package = project_dir / module
    if (as_package / "__init__.py").is_file():
        return sorted(p for p in as_package.rglob("*.py") if "__pycache__" not in p.parts)
    return []


def _imported_top_level(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def required_files(project_dir: Path, app_function: str, migrations: str = "migrations") -> list[str]:
    """Paths (relative, POSIX) the function cannot run without, derived from the project, not from the package.

    The app module (of the stage's ``app_function``), every file of the project packages it imports (transitively),
    Zappa's ``handler.py`` and ``zappa_settings.py``, and the Alembic environment with every revision.
    """
    app_module = app_function.rsplit(".", 1)[0]
    required: set[Path] = set()
    pending = [app_module] if app_module else []
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        for path in _module_paths(project_dir, module):
            required.add(path)
            pending.extend(_imported_top_level(path) - seen)
    migrations_dir = project_dir / migrations
    if migrations_dir.is_dir():
        required.update(migrations_dir / name for name in MIGRATION_FILES if (migrations_dir / name).is_file())
        required.update(p for p in (migrations_dir / "versions").glob("*.py") if p.name != "__init__.py")
    relative = {p.relative_to(project_dir).as_posix() for p in required}
    return sorted(relative | {"handler.py", "zappa_settings.py"})


def _dropping_pattern(relpath: str, exclude: list[str], exclude_glob: list[str]) -> str | None:
    for part in relpath.split("/"):
        for pattern in [*exclude, *ZAPPA_ZIP_EXCLUDES]:
            if fnmatch.fnmatch(part, pattern):
                return f"`exclude` pattern {pattern!r}"
    for pattern in exclude_glob:
        if Path(relpath).match(pattern) or fnmatch.fnmatch(relpath, pattern):
            return f"`exclude_glob` pattern {pattern!r}"
    return None


def check_contents(package_dir: Path, project_dir: Path, config: FunctionConfig, settings_name: str) -> Check:
    """Every required file is in the unpacked package; a missing one is named with the pattern that dropped it."""
    stage = config.stage
    required = required_files(project_dir, config.app_function)
    missing = [rel for rel in required if not (package_dir / rel).is_file()]
    if not missing:
        revisions = sum(1 for rel in required if "/versions/" in rel)
        return Check("contents", True, f"{len(required)} needed files present, {revisions} revisions among them")
    lines = []
    for rel in missing:
        cause = _dropping_pattern(rel, config.exclude, config.exclude_glob)
        lines.append(f"    {rel}" + (f"  (dropped by the {cause} of stage {stage!r})" if cause else ""))
    return Check(
        "contents",
        False,
        f"the package for stage {stage!r} misses {len(missing)} file(s) the function needs:\n"
        + "\n".join(lines)
        + f"\n  Zappa matches `exclude` against every file and directory name at any depth: narrow or remove the "
        f"pattern in {settings_name}, then run `make package-check` again.",
    )


# -- read-only ----------------------------------------------------------------------------------------------------


def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> sha256 of the content (or ``dir``/``link``); covers added and removed entries too."""
    digest: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            digest[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                digest[rel] = "link:" + os.readlink(path)
                continue
            sha = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(chunk)
            digest[rel] = sha.hexdigest()
    return digest


def set_writable(root: Path, writable: bool) -> None:
    """``chmod -R a-w`` (or ``u+w`` to clean up). Root ignores these modes, hence :func:`tree_digest` as well."""
    paths = [root, *root.rglob("*")]
    for path in sorted(paths, key=lambda p: len(p.parts), reverse=not writable):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        new = (mode | stat.S_IWUSR) if writable else (mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        os.chmod(path, new)


def compare_digests(before: dict[str, str], after: dict[str, str]) -> Check:
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    added, removed = sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys())
    if not (changed or added or removed):
        return Check("read-only", True, f"no file in the package changed ({len(before)} entries hashed before/after)")
    parts = [
        f"{label}: {', '.join(items[:5])}"
        for label, items in (("changed", changed), ("added", added), ("removed", removed))
        if items
    ]
    return Check(
        "read-only",
        False,
        "the function wrote into its code directory, which is read-only on Lambda (" + "; ".join(parts) + "). "
        "Write to /tmp (tempfile) instead.",
    )


def check_settings_module(package_dir: Path, zip_path: Path, stage: str) -> Check:
    """The package's zappa_settings.py is the one Zappa wrote into the zip, for this stage."""
    with zipfile.ZipFile(zip_path) as archive:
        written = archive.read("zappa_settings.py")
    on_disk = (package_dir / "zappa_settings.py").read_bytes()
    ok = (
        on_disk == written
        and written.startswith(b"# Generated by Zappa")
        and f"API_STAGE='{stage}'".encode() in written
    )
    return Check(
        "zappa-settings",
        ok,
        f"zappa_settings.py is Zappa's, for stage {stage!r}"
        if ok
        else "zappa_settings.py in the package is not the one Zappa generated for this stage",
    )

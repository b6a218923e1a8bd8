"""Which Python runs the functions: ``--python PATH``, else the project's own virtualenv, else the emulator's own.

Why not always the emulator's interpreter: its site-packages are this harness's pinned packages (boto3, pytest,
watchfiles, a given Flask-SQLAlchemy...). A project that runs there imports versions it never deploys, and a missing
requirement goes unnoticed because the harness happens to have it. Like a Lambda runtime, the worker process only
needs the project's own requirements and ``zappa`` (whose ``handler`` it imports); the emulator's server process
needs nothing from that environment.

The project's virtualenv is found by its marker, ``pyvenv.cfg`` (PEP 405), in a direct subdirectory of the project,
whatever its name (``.venv``, ``venv``, ``env``, ``py311``...). The interpreter is probed once at start-up (a
subprocess, ~20 ms): its version, for the banner and for the comparison with the stage's ``runtime``, and whether it
can import ``zappa``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

VENV_MARKER = "pyvenv.cfg"
_PREFERRED_VENV_NAMES = (".venv", "venv", "env")
_PROBE = (
    "import importlib.util, json, sys; "
    "print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3], 'prefix': sys.prefix, "
    "'zappa': importlib.util.find_spec('zappa') is not None}))"
)
PROBE_TIMEOUT = 60.0


class InterpreterError(Exception):
    """The interpreter asked for cannot run the functions; the message says what to do."""


@dataclass(frozen=True)
class Interpreter:
    """The functions' Python: where it is, where it came from, what it is."""

    path: str  # as given (a venv's bin/python is a symlink: never resolved, or the venv would be lost)
    source: str  # "--python", "the project's virtualenv DIR", "the emulator's own interpreter"
    version: str  # "3.11.7"
    prefix: str
    has_zappa: bool
    notes: list[str] = field(default_factory=list)  # for the banner: why another candidate was not used

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def bin_dir(self) -> str:
        """The directory of the interpreter, first on the functions' PATH (Lambda: /var/lang/bin)."""
        return os.path.dirname(self.path)

    def describe(self) -> str:
        return f"Python {self.version} at {self.path} ({self.source})"


def project_virtualenvs(project_dir: Path) -> list[Path]:
    """Direct subdirectories of the project that hold ``pyvenv.cfg``: ``.venv``, ``venv``, ``env`` first."""
    try:
        candidates = [p for p in project_dir.iterdir() if p.is_dir() and (p / VENV_MARKER).is_file()]
    except OSError:
        return []
    return sorted(candidates, key=lambda p: (p.name not in _PREFERRED_VENV_NAMES, _rank(p.name), p.name))


def _rank(name: str) -> int:
    return _PREFERRED_VENV_NAMES.index(name) if name in _PREFERRED_VENV_NAMES else len(_PREFERRED_VENV_NAMES)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def probe(python: str, source: str) -> Interpreter:
    """Run ``python`` once to learn its version and whether it has zappa; InterpreterError if it does not run."""
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT, env=_probe_env()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterpreterError(f"{python} ({source}) does not run: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InterpreterError(f"{python} ({source}) does not run: {detail}")
    info = json.loads(proc.stdout)
    return Interpreter(python, source, info["version"], info["prefix"], bool(info["zappa"]))


def _probe_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def choose(explicit: str | None, project_dir: Path | None) -> Interpreter:
    """``explicit`` (``--python``) if given, else the first project virtualenv whose Python runs and has zappa, else
    this interpreter. Every candidate that was passed over is named in :attr:`Interpreter.notes`.

    ``project_dir`` None (package mode: the task root is an unpacked zip, which carries its own zappa) skips the
    search: the functions then run in the emulator's interpreter, with only the package on ``sys.path``.
    """
    if explicit:
        chosen = probe(explicit, "--python")
        if not chosen.has_zappa:
            raise InterpreterError(
                f"{explicit} (--python) cannot import zappa, which the functions' environment needs (Zappa's handler "
                f"runs every invocation): `{explicit} -m pip install zappa` next to the project's requirements"
            )
        return chosen
    notes: list[str] = []
    for venv in project_virtualenvs(project_dir) if project_dir is not None else []:
        source = f"the project's virtualenv {venv.name}/"
        try:
            candidate = probe(str(venv_python(venv)), source)
        except InterpreterError as exc:
            notes.append(f"not using {venv}: {exc}")
            continue
        if not candidate.has_zappa:
            notes.append(
                f"not using {venv}: it has no zappa (`{venv_python(venv)} -m pip install zappa`, the one package the "
                "functions' environment needs besides the project's own)"
            )
            continue
        return Interpreter(candidate.path, source, candidate.version, candidate.prefix, True, notes)
    own = probe(sys.executable, "the emulator's own interpreter")
    if project_dir is not None and not notes:
        notes.append(
            "no virtualenv (a directory with pyvenv.cfg) in the project: the functions import the emulator's own "
            "packages; give the project its own virtualenv (requirements + zappa) or pass --python"
        )
    return Interpreter(own.path, own.source, own.version, own.prefix, own.has_zappa, notes)


def runtime_mismatch(runtime: str, interpreter: Interpreter) -> str | None:
    """A warning when the stage's ``runtime`` (``python3.9``) is not the worker's Python (3.11), else None."""
    if not runtime.startswith("python"):
        return None
    declared = runtime.removeprefix("python")
    if declared == interpreter.major_minor:
        return None
    return f"runtime {runtime} declared, Python {interpreter.version} used"

"""Build the zip Zappa would upload, from a venv that holds only requirements.txt, and unpack it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from dev.ports import reachable

from .result import PackageCheckError, progress

DEFAULT_VENV = Path(".runtime") / "package-venv"
STAMP_NAME = ".requirements.sha256"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def index_address(environ: dict[str, str] | None = None) -> tuple[str, int]:
    """(host, port) of the package index pip installs from: PIP_INDEX_URL's, else PyPI's."""
    parts = urlsplit((environ if environ is not None else os.environ).get("PIP_INDEX_URL", "https://pypi.org/simple"))
    return parts.hostname or "pypi.org", parts.port or (80 if parts.scheme == "http" else 443)


def ensure_package_venv(venv: Path, requirements: Path, python: str = sys.executable) -> Path:
    """A venv with exactly ``requirements.txt``; rebuilt from scratch when the file changed (a removed requirement
    must not linger in the package). Returns the venv directory."""
    stamp = venv / STAMP_NAME
    wanted = _sha256(requirements)
    if stamp.is_file() and stamp.read_text().strip() == wanted and (venv / "bin" / "zappa").is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    progress(f"creating {venv} with {requirements.name} only (once per change of it) ...")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [[python, "-m", "venv", str(venv)], [*pip, "-r", str(requirements)]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            index, port = index_address()
            if not reachable(index, port):
                raise PackageCheckError(
                    f"make package-check needs the network the first time: it installs {requirements.name} from "
                    f"{index} into {venv}, and {index} does not answer from here (pass --zip with a package built "
                    f"elsewhere, or run it once online). pip said:\n{tail}"
                )
            raise PackageCheckError(
                f"cannot create the package venv {venv} ({' '.join(cmd[:4])} ...):\n{tail}\n"
                "It installs requirements.txt from PyPI (or your pip index): check the network, or pass --zip "
                "with a package built elsewhere."
            )
    stamp.write_text(wanted + "\n")
    return venv


def build_package(
    project_dir: Path,
    stage: str,
    venv: Path,
    out_zip: Path,
    zappa: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> float:
    """``zappa package STAGE -o out_zip`` from ``project_dir`` with ``venv`` active; returns the seconds it took.

    ``zappa`` defaults to the venv's own CLI; another one (with an empty venv) packages the project files alone.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_", "PYTHON"))}
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        # `zappa package` makes no AWS call, but builds a boto3 session: dummy credentials keep it off the network.
        AWS_ACCESS_KEY_ID="package-check",
        AWS_SECRET_ACCESS_KEY="package-check",
        AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    env.update(extra_env or {})
    started = time.perf_counter()
    proc = subprocess.run(
        [str(zappa or venv / "bin" / "zappa"), "package", stage, "-o", str(out_zip)],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 or not out_zip.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
        raise PackageCheckError(f"`zappa package {stage}` failed (exit {proc.returncode}):\n{tail}")
    return time.perf_counter() - started


def unpack(zip_path: Path, dest: Path) -> int:
    """Extract the package (as Lambda does into /var/task); returns the number of files."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
        return sum(1 for info in archive.infolist() if not info.is_dir())

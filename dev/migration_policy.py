"""The project's migration policy (``migrations/policy.toml``): the limits every revision is held to.

One file, read here and nowhere else, so the lint (``dev/migration_lint.py``: a revision's ``lock_timeout`` must be
set, above 0 and at most the ceiling) and the deploy rehearsal (``make rehearse-deploy``: no application query may
wait longer than the ceiling for a lock) can never disagree. A migrations directory without a policy of its own
(a fixture history) gets the project's.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLICY_NAME = "policy.toml"
DEFAULT_POLICY = PROJECT_ROOT / "migrations" / POLICY_NAME

# PostgreSQL's units for time settings; a bare number is milliseconds for lock_timeout and statement_timeout.
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


class PolicyError(ValueError):
    """The policy file is missing or malformed; the message names the file and the key."""


def duration_ms(value: str | int | float) -> float:
    """A PostgreSQL time setting (``'1s'``, ``'500ms'``, ``'2min'``, ``1000``, ``0``) in milliseconds."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value).strip().strip("'\"").lower())
    if not match or match.group(2) not in ("", *_UNITS_MS):
        raise ValueError(f"not a PostgreSQL duration: {value!r} (write e.g. '1s', '500ms')")
    return float(match.group(1)) * _UNITS_MS.get(match.group(2), 1.0)


@dataclass(frozen=True)
class Policy:
    source: Path
    lock_wait_ceiling_ms: float

    def describe_ceiling(self) -> str:
        return f"{self.lock_wait_ceiling_ms / 1000:g} s ({self.source.name} [lock_wait] ceiling)"


def policy_for(migrations_dir: str | Path | None) -> Path:
    """The policy file that goes with a migrations directory: its own, else the project's."""
    own = Path(migrations_dir) / POLICY_NAME if migrations_dir else DEFAULT_POLICY
    return own if own.is_file() else DEFAULT_POLICY


def load(migrations_dir: str | Path | None = None) -> Policy:
    path = policy_for(migrations_dir)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"{path} is missing: restore it from git (it holds the migration policy)") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path} is not valid TOML: {exc}") from exc
    raw = data.get("lock_wait", {}).get("ceiling")
    if raw is None:
        raise PolicyError(f'{path}: [lock_wait] ceiling is missing (e.g. ceiling = "2s")')
    try:
        ceiling = duration_ms(raw)
    except ValueError as exc:
        raise PolicyError(f"{path}: [lock_wait] ceiling: {exc}") from None
    if ceiling <= 0:
        raise PolicyError(f"{path}: [lock_wait] ceiling must be above 0, got {raw!r}")
    return Policy(path, ceiling)

"""The project's migration policy (``migrations/policy.toml``): the limits every revision is held to.

One file, read here and nowhere else, so the checks can never disagree:

- the lock-wait ceiling: the lint (``dev/migration_lint.py``: a revision's ``lock_timeout`` must be set, above 0 and
  at most the ceiling) and the deploy rehearsal (``make rehearse-deploy``: no application query may wait longer);
- the data losses declared on purpose, with their reasons: ``make check-migrations`` and ``make rehearse`` fail on
  any other loss the migrator counted (``yt_pubsub_handler/data_loss.py``), and :func:`undeclared` is where that is
  decided.

A migrations directory without a policy of its own (a fixture history) gets the project's.
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
class DeclaredLoss:
    revision: str
    direction: str
    drops: str  # "table.column" or "table"
    reason: str

    def matches(self, loss: dict) -> bool:
        what = loss["table"] if loss.get("column") is None else f"{loss['table']}.{loss['column']}"
        return (self.revision, self.direction, self.drops) == (loss["revision"], loss["direction"], what)


@dataclass(frozen=True)
class Policy:
    source: Path
    lock_wait_ceiling_ms: float
    data_loss: tuple[DeclaredLoss, ...] = ()

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
    declared = []
    for number, entry in enumerate(data.get("data_loss", []), start=1):
        missing = [k for k in ("revision", "direction", "drops", "reason") if not str(entry.get(k, "")).strip()]
        if missing:
            raise PolicyError(
                f"{path}: [[data_loss]] entry {number} lacks {', '.join(missing)}: every loss needs a reason"
            )
        if entry["direction"] not in ("upgrade", "downgrade"):
            raise PolicyError(f"{path}: [[data_loss]] entry {number}: direction must be upgrade or downgrade")
        declared.append(
            DeclaredLoss(entry["revision"], entry["direction"], entry["drops"], " ".join(entry["reason"].split()))
        )
    return Policy(path, ceiling, tuple(declared))


def undeclared(losses: list[dict], policy: Policy) -> list[dict]:
    """The losses (the migrator's ``data_loss`` entries) no ``[[data_loss]]`` entry of the policy declares."""
    return [loss for loss in losses if not any(entry.matches(loss) for entry in policy.data_loss)]


def stale(losses: list[dict], policy: Policy, revisions: set[str]) -> list[DeclaredLoss]:
    """Declarations for ``revisions`` (those whose losses were counted) that match none of ``losses``."""
    return [e for e in policy.data_loss if e.revision in revisions and not any(e.matches(loss) for loss in losses)]


def explain_loss(loss: dict) -> str:
    """One loss the migrator counted, and its fix, in the words every command that runs revisions uses."""
    return f"{loss['message']}. Fix: {loss['fix']}"


def loss_failure(loss: dict, policy: Policy) -> str:
    """The message for an undeclared loss: data loss first, the fix, and how to declare it when it is intended."""
    what = loss["table"] if loss.get("column") is None else f"{loss['table']}.{loss['column']}"
    return (
        f"{explain_loss(loss)}. If the loss is intended, declare it in {policy.source} with the "
        f'reason:\n  [[data_loss]]\n  revision = "{loss["revision"]}"\n  direction = "{loss["direction"]}"\n'
        f'  drops = "{what}"\n  reason = "..."'
    )

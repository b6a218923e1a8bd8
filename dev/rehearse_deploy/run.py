"""The record of one deploy rehearsal: what was asked (:class:`Options`), each phase as it ran, each migration as the
probe measured it inside the Lambda worker, every request and every lock wait. The report and the chart read this;
nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dev.migration_policy import Policy
from dev.rehearse.function import Answer

from .git_base import Base
from .lock_waits import LockWait
from .plan import Phase
from .traffic import Record


@dataclass
class Options:
    project_dir: Path
    out_dir: Path
    base: str | None = None
    order: str = "update-first"
    rate: float = 20.0
    rows: int = 2000
    hold: float = 5.0
    long_tx: float = 0.0
    long_tx_table: str | None = None
    serve_stage: str = "local"
    limits_from: str = "production"
    settings: str = "zappa_settings.json"
    traffic: str = "dev.app_traffic"
    database_url: str | None = None
    concurrency: int = 4
    upgrade: str = "run.run_alembic_upgrade"
    downgrade: str = "run.run_alembic_downgrade"


@dataclass
class Migration:
    """One migration invocation through the new package, as the probe measured it inside the worker."""

    direction: str
    phase: str
    started: float
    ended: float
    answer: Answer

    @property
    def measured(self) -> dict[str, Any]:
        return self.answer.result if self.answer.ok and isinstance(self.answer.result, dict) else {}

    @property
    def result(self) -> dict[str, Any]:
        return self.measured.get("result") or {}

    @property
    def revisions(self) -> list[str]:
        return [step["revision"] for step in self.result.get("steps", [])]

    @property
    def retries(self) -> list[dict[str, Any]]:
        return list(self.result.get("retries", []))

    @property
    def holds(self) -> list[dict[str, Any]]:
        return list(self.measured.get("holds", []))

    @property
    def losses(self) -> list[dict[str, Any]]:
        """What the migration destroyed, as the migrator counted it (the local stage counts: data loss)."""
        return list(self.result.get("data_loss", []))

    @property
    def pids(self) -> set[int]:
        return set(self.measured.get("pids", []))

    @property
    def seconds(self) -> float:
        """Lambda's Duration of the invocation (the wall time when the REPORT line is missing)."""
        if self.answer.duration_ms is not None:
            return self.answer.duration_ms / 1000
        return self.ended - self.started

    @property
    def error(self) -> str | None:
        if self.answer.ok:
            return None
        message = (self.answer.error_message or "").strip().splitlines()
        return f"{self.answer.error_type}: {message[0] if message else ''}"


@dataclass
class PhaseRun:
    phase: Phase
    started: float
    ended: float = 0.0
    migration: Migration | None = None


@dataclass
class LongTx:
    held: str
    tables: list[str]
    seconds: float
    pid: int | None
    error: str | None


@dataclass
class DeployRun:
    options: Options
    base: Base
    base_head: str | None
    new_head: str | None
    policy: Policy  # migrations/policy.toml: the lock-wait ceiling, the data losses declared on purpose
    phases: list[PhaseRun]
    records: list[Record]
    waits: list[LockWait]
    long_tx: LongTx | None
    overflow: int = 0  # requests the generator could not send (too many in flight)
    sampler_errors: int = 0  # times the lock-wait sampler lost its connection (its waits are then incomplete)

    @property
    def ceiling_ms(self) -> float:
        return self.policy.lock_wait_ceiling_ms

    @property
    def migrations(self) -> list[Migration]:
        return [p.migration for p in self.phases if p.migration is not None]

    @property
    def upgrade(self) -> Migration | None:
        return next((m for m in self.migrations if m.direction == "upgrade"), None)

    def migration_waits(self, migration: Migration) -> list[LockWait]:
        """The waits of the migration's own connections while it ran (a warm environment's pooled connection serves
        the application before and after, under the same pid)."""
        return [
            w
            for w in self.waits
            if w.pid in migration.pids and w.first_seen <= migration.ended and w.last_seen >= migration.started
        ]

    def app_waits(self) -> list[LockWait]:
        """Every wait but the migrations' own and the long transaction's."""
        harness = {id(w) for m in self.migrations for w in self.migration_waits(m)}
        long_tx_pid = self.long_tx.pid if self.long_tx is not None else None
        return [w for w in self.waits if id(w) not in harness and w.pid != long_tx_pid]


# -- the pieces ----------------------------------------------------------------------------------------------------


def place_in_phases(records: list[Record], runs: list[PhaseRun]) -> None:
    """Each record's phase: the one in effect when production received it (else when it was sent). Answers that
    came in after the last phase ended belong to it."""
    for record in records:
        at = record.at
        record.phase = next((r.phase.name for r in runs if at < r.ended), runs[-1].phase.name if runs else "")

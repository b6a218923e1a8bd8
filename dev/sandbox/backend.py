"""The one interface both sandbox modes implement, and how a mode is chosen.

``python -m dev.sandbox`` and ``make onboard`` talk to a ``Backend`` and never ask which class it is: the embedded
mode (``embedded.Embedded``) and the Docker mode (``docker.Docker``) differ in how they run the same services
(PostgreSQL, the Lambda emulator, the local WebSub hub), not in what a developer can do with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class Backend(Protocol):
    """PostgreSQL, the Lambda emulator and the local WebSub hub, started and stopped as one sandbox."""

    mode: str  # "embedded" or "docker": what `make status` and the summary print

    def up(self) -> None:
        """Start every service and wait until all are healthy; harmless when already up."""

    def down(self) -> None:
        """Stop every service, keeping the data; harmless when stopped."""

    def is_running(self) -> bool:
        """Anything of this sandbox runs (reset restarts a sandbox that was running)."""

    def status(self) -> bool:
        """Print what runs where; True when every service is up and healthy."""

    def logs(self, follow: bool, lines: int) -> int:
        """Print (or follow) the services' logs; the exit code."""

    def psql(self, extra: list[str]) -> int:
        """psql on the sandbox database with ``extra`` arguments; psql's exit code."""

    def wipe(self) -> None:
        """Delete the sandbox data (stopping it first if needed); the next ``up`` starts empty."""

    def data_location(self) -> str:
        """Where the data lives, in words a developer can act on."""


@dataclass(frozen=True)
class ModeChoice:
    """The mode to use and, for the automatic choice, why (printed in one line by ``make up``)."""

    mode: str
    reason: str = ""

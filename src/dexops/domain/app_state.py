"""What Argo CD says an application is: its sync, health and last operation, as one poll saw them.

Kept apart from `rollout` (the wait's state machine) because `status` reads an
application's state without waiting for anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AppState:
    """What one poll of an Argo CD application showed (fields as its API names them)."""

    sync_status: str = "Unknown"
    sync_revisions: tuple[str, ...] = ()
    health_status: str = "Unknown"
    health_message: str = ""
    operation_phase: str | None = None
    operation_message: str = ""
    operation_started_at: datetime | None = None
    operation_finished_at: datetime | None = None
    operation_revisions: tuple[str, ...] = ()

    @property
    def revision(self) -> str:
        """The first (usually only) revision the application is compared with."""
        return self.sync_revisions[0] if self.sync_revisions else ""

"""GitHub Actions workflow runs: CI pass rate and median duration per workflow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dexops.domain.delivery_metrics import median

PASSED = frozenset({"success"})
FAILED = frozenset({"failure", "timed_out", "startup_failure"})


def _time(text: object) -> int | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


@dataclass(frozen=True)
class WorkflowRun:
    """One run of a workflow, as far as the figures need it."""

    workflow: str
    status: str
    conclusion: str | None
    started: int | None
    updated: int | None

    @property
    def duration(self) -> int | None:
        """Seconds from the run's start to its last update, for completed runs."""
        if self.status != "completed" or self.started is None or self.updated is None:
            return None
        return max(0, self.updated - self.started)


def parse_run(item: Mapping[str, Any]) -> WorkflowRun:
    """A run from one element of the `workflow_runs` array."""
    name = item.get("name") or item.get("path") or f"workflow {item.get('workflow_id')}"
    conclusion = item.get("conclusion")
    return WorkflowRun(
        workflow=str(name),
        status=str(item.get("status") or ""),
        conclusion=conclusion if isinstance(conclusion, str) else None,
        started=_time(item.get("run_started_at") or item.get("created_at")),
        updated=_time(item.get("updated_at")),
    )


@dataclass(frozen=True)
class WorkflowStats:
    """Pass rate and median duration of one workflow."""

    workflow: str
    completed: int
    passed: int
    failed: int
    median_duration: float | None

    @property
    def pass_rate(self) -> float | None:
        """Passed over passed + failed (cancelled and skipped runs count for neither)."""
        decided = self.passed + self.failed
        return self.passed / decided if decided else None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "workflow": self.workflow,
            "completed": self.completed,
            "passed": self.passed,
            "failed": self.failed,
            "pass_rate": self.pass_rate,
            "median_duration_seconds": self.median_duration,
        }


def workflow_stats(runs: Iterable[WorkflowRun]) -> list[WorkflowStats]:
    """Per workflow (sorted by name): completed runs, pass rate and median duration."""
    grouped: dict[str, list[WorkflowRun]] = {}
    for run in runs:
        if run.status == "completed":
            grouped.setdefault(run.workflow, []).append(run)
    stats = []
    for name in sorted(grouped):
        group = grouped[name]
        durations = [d for r in group if (d := r.duration) is not None]
        stats.append(
            WorkflowStats(
                workflow=name,
                completed=len(group),
                passed=sum(r.conclusion in PASSED for r in group),
                failed=sum(r.conclusion in FAILED for r in group),
                median_duration=median(durations),
            )
        )
    return stats

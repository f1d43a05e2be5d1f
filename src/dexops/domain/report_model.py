"""What the HTML report shows: environments, a timeline, releases and metrics by week. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dexops.domain.delivery_metrics import (
    ComponentReleases,
    EnvironmentMetrics,
    OverlayRevision,
    Window,
    median,
)

# Overlay commits the timeline draws, by the action their dexops trailer records.
TIMELINE_ACTIONS = ("deploy", "promote", "rollback")


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One change of an environment: when, what kind, which image tag."""

    environment: str
    time: int
    action: str
    tag: str | None


def timeline(
    histories: Mapping[str, Sequence[OverlayRevision]], window: Window
) -> list[TimelineEvent]:
    """Deployments, promotions and rollbacks of every environment within the window, in order."""
    events = [
        TimelineEvent(env, rev.time, rev.action, rev.image_tag)
        for env, revisions in histories.items()
        for rev in revisions
        if rev.action in TIMELINE_ACTIONS and rev.time in window
    ]
    return sorted(events, key=lambda e: (e.time, e.environment))


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def weekly_figures(env: EnvironmentMetrics) -> list[dict[str, Any]]:
    """Per week: deployments, median lead time (h), change failure rate, median restore (h)."""
    starts = env.window.week_starts()
    by_week: dict[int, list[Any]] = {start: [] for start in starts}
    for deployment in env.deployments:
        by_week[max(s for s in starts if s <= deployment.time)].append(deployment)
    weeks = []
    for (week, count), start in zip(env.weekly(), starts, strict=True):
        deployments = by_week[start]
        failed = [d for d in deployments if d.failed]
        weeks.append(
            {
                "week": week,
                "start": start,
                "deployments": count,
                "lead_time_hours": _hours(median([t for d in deployments for t in d.lead_times])),
                "change_failure_rate": len(failed) / len(deployments) if deployments else None,
                "restore_hours": _hours(median([d.restored_after or 0 for d in failed])),
            }
        )
    return weeks


def releases_data(components: Sequence[ComponentReleases]) -> list[dict[str, Any]]:
    """Each component's releases in the window: tag, time, pre-release."""
    return [
        {
            "component": c.component,
            "releases": [
                {"tag": t, "time": when, "prerelease": pre} for t, when, pre in c.releases
            ],
        }
        for c in components
    ]

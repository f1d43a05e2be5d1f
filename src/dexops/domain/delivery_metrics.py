"""Delivery metrics from overlay history, commit ancestry and tags. Pure, no I/O.

The figures and their exact definitions are in docs/metrics.md. In short, per environment:
deployments are overlay commits whose `Dexops-Action` is deploy or promote; a commit reaches
the environment with the first recorded image built from it or from a descendant; a deployment
failed when a rollback follows it before the next deployment and within the failure window.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from dexops.domain.deploy_history import Revision
from dexops.domain.holds import ACTION, ENVIRONMENT, IMAGE_TAG, PREVIOUS_TAG, parse_trailer_items
from dexops.domain.imageref import commit_prefix
from dexops.domain.versioning import ComponentTag
from dexops.errors import ConfigError

DAY = 86_400
WEEK = 7 * DAY
DEFAULT_FAILURE_WINDOW = 7 * DAY
# Commits are indexed by the 8 hex digits of the tags dexops makes (`sha-<8 hex>`).
PREFIX_LENGTH = 8
DEPLOY_ACTIONS = frozenset({"deploy", "promote"})
ROLLBACK = "rollback"


def median(values: Sequence[int]) -> float | None:
    """The median (mean of the middle two for an even count), None for no values."""
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[int], q: float) -> int | None:
    """The nearest-rank percentile: the smallest value with at least q% of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Window:
    """The reporting period [start, end] in unix seconds; both ends included."""

    start: int
    end: int

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, int) and self.start <= moment <= self.end

    @property
    def days(self) -> float:
        """Length of the window in days (at least one second, so rates stay finite)."""
        return max(self.end - self.start, 1) / DAY

    def week_starts(self) -> list[int]:
        """The Monday 00:00 UTC of every ISO week the window touches."""
        first = datetime.fromtimestamp(self.start, UTC).date()
        monday = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(
            days=first.weekday()
        )
        starts = []
        moment = int(monday.timestamp())
        while moment <= self.end:
            starts.append(moment)
            moment += WEEK
        return starts


@dataclass(frozen=True)
class OverlayRevision:
    """One commit that changed an environment's overlay, read from its dexops trailers."""

    commit: str
    time: int
    action: str | None
    image_tag: str | None = None
    previous_tag: str | None = None
    # Why a commit without an action was left unattributed.
    reason: str | None = None


# Why an overlay commit counts as no deployment (see docs/metrics.md).
UNREADABLE = "overlay unreadable or without the image"
UNMARKED_CHANGE = (
    "image changed with no dexops trailer and no deploy subject (deploy-commit-pattern)"
)
NO_IMAGE_CHANGE = "image left as it was"
OTHER_ENVIRONMENT = "dexops trailers for another environment only"
FIRST_VERSION = "the overlay's first version"


def attributed_revision(
    revision: Revision, previous_tag: str | None, environment: str, *, first: bool = False
) -> OverlayRevision:
    """An overlay revision as metrics counts it: its action, else why it has none.

    The action is what its trailers say for this environment, or what its subject says
    (the reference pipeline's and configured bots'); the tags are the overlay's own.
    """
    moment = int(datetime.fromisoformat(revision.date).timestamp())
    if ACTION in revision.trailers:
        # Recorded by dexops: its trailers say what it did (one group per environment).
        found = overlay_revision(
            revision.commit, moment, _trailer_items(revision.trailers), environment
        )
        return found if found.action is not None else replace(found, reason=OTHER_ENVIRONMENT)
    if revision.kind != "manual":
        return OverlayRevision(revision.commit, moment, revision.kind, revision.tag, previous_tag)
    if revision.error is not None:
        reason = UNREADABLE
    elif first:
        reason = FIRST_VERSION
    else:
        reason = UNMARKED_CHANGE if revision.tag != previous_tag else NO_IMAGE_CHANGE
    return OverlayRevision(revision.commit, moment, None, revision.tag, previous_tag, reason)


def _trailer_items(trailers: Mapping[str, Sequence[str]]) -> list[str]:
    """Trailers back as `Key: value` items, each environment's group in order."""
    groups = [
        {key: values[i] for key, values in trailers.items() if i < len(values)}
        for i in range(len(trailers.get(ACTION, [])))
    ]
    return [f"{key}: {value}" for group in groups for key, value in group.items()]


def overlay_revision(
    commit: str, time: int, trailer_items: Iterable[str], environment: str
) -> OverlayRevision:
    """The revision of `environment` a commit records; one commit may carry several groups."""
    groups: list[list[str]] = []
    for item in trailer_items:
        key = item.partition(":")[0].strip()
        # Each environment's group of trailers starts with its Dexops-Action line.
        if key == ACTION or not groups:
            groups.append([])
        groups[-1].append(item)
    chosen: dict[str, list[str]] | None = None
    for group in groups:
        parsed = parse_trailer_items(group)
        if ACTION not in parsed:
            continue
        envs = parsed.get(ENVIRONMENT, [])
        if environment in envs or (not envs and chosen is None):
            chosen = parsed
    if chosen is None:
        return OverlayRevision(commit, time, None)
    return OverlayRevision(
        commit,
        time,
        chosen[ACTION][0],
        next(iter(chosen.get(IMAGE_TAG, [])), None),
        next(iter(chosen.get(PREVIOUS_TAG, [])), None),
    )


class CommitGraph:
    """Parents and commit times of every commit, with lookup of `sha-<8 hex>` image tags."""

    def __init__(self, parents: Mapping[str, Sequence[str]], times: Mapping[str, int]) -> None:
        self.parents = parents
        self.times = times
        self._by_prefix: dict[str, list[str]] = {}
        for commit in parents:
            self._by_prefix.setdefault(commit[:PREFIX_LENGTH], []).append(commit)

    def image_commit(self, tag: str | None) -> str | None:
        """The commit an immutable image tag names; None when unknown or ambiguous."""
        prefix = commit_prefix(tag)
        if prefix is None or len(prefix) < PREFIX_LENGTH:
            return None
        found = [c for c in self._by_prefix.get(prefix[:PREFIX_LENGTH], []) if c.startswith(prefix)]
        return found[0] if len(found) == 1 else None

    def reach(self, start: str, reached: set[str]) -> list[str]:
        """Add `start` and its ancestors to `reached`; return those that were not in it yet."""
        # Ancestors of a reached commit are reached too, so the walk stops at reached commits.
        if start in reached or start not in self.parents:
            return []
        reached.add(start)
        new = [start]
        stack = [start]
        while stack:
            for parent in self.parents.get(stack.pop(), ()):
                if parent not in reached and parent in self.parents:
                    reached.add(parent)
                    new.append(parent)
                    stack.append(parent)
        return new

    def is_change(self, commit: str, skip: frozenset[str]) -> bool:
        """Whether a commit counts as a change: not a merge, not a dexops overlay commit."""
        return len(self.parents.get(commit, ())) <= 1 and commit not in skip


@dataclass(frozen=True)
class Deployment:
    """One deploy or promote of an environment and what followed it."""

    commit: str
    time: int
    action: str
    image_tag: str | None
    image_commit: str | None
    lead_times: tuple[int, ...]
    restored_after: int | None = None

    @property
    def failed(self) -> bool:
        """Whether a rollback undid this deployment within the failure window."""
        return self.restored_after is not None


@dataclass(frozen=True)
class EnvironmentMetrics:
    """Deployment frequency, lead time, change failure rate and time to restore of one env."""

    environment: str
    window: Window
    deployments: tuple[Deployment, ...]
    rollbacks: int
    unrecorded: int
    failure_window: int
    # Overlay commits in the window counted as no deployment, by reason.
    unattributed: Mapping[str, int] = field(default_factory=dict)
    # The newest deployment, inside the window or before it (None: never deployed).
    last_deployment: int | None = None

    @property
    def count(self) -> int:
        """Deployments in the window."""
        return len(self.deployments)

    @property
    def per_day(self) -> float:
        """Deployments per day over the window."""
        return self.count / self.window.days

    @property
    def per_week(self) -> float:
        """Deployments per week over the window."""
        return self.per_day * 7

    @property
    def lead_times(self) -> list[int]:
        """Seconds from commit to deployment, one per commit that reached the env in the window."""
        return [t for d in self.deployments for t in d.lead_times]

    @property
    def failed(self) -> int:
        """Deployments in the window that were rolled back within the failure window."""
        return sum(d.failed for d in self.deployments)

    @property
    def change_failure_rate(self) -> float | None:
        """Failed deployments over deployments; None without deployments."""
        return self.failed / self.count if self.count else None

    @property
    def restore_times(self) -> list[int]:
        """Seconds from each failed deployment to the rollback that restored service."""
        return [d.restored_after for d in self.deployments if d.restored_after is not None]

    @property
    def unresolved_images(self) -> int:
        """Deployments whose image tag names no known commit (no lead times for them)."""
        return sum(d.image_commit is None for d in self.deployments)

    def weekly(self) -> list[tuple[str, int]]:
        """(ISO date of the week's Monday, deployments that week) across the window."""
        starts = self.window.week_starts()
        counts = dict.fromkeys(starts, 0)
        for deployment in self.deployments:
            week = max(s for s in starts if s <= deployment.time)
            counts[week] += 1
        return [(_date(s), n) for s, n in counts.items()]

    def as_json(self) -> dict[str, object]:
        """A JSON-ready summary (durations in seconds)."""
        lead = self.lead_times
        restore = self.restore_times
        return {
            "environment": self.environment,
            "deployments": self.count,
            "per_day": round(self.per_day, 4),
            "per_week": round(self.per_week, 4),
            "lead_time": {
                "commits": len(lead),
                "median_seconds": median(lead),
                "p90_seconds": percentile(lead, 90),
            },
            "change_failure_rate": self.change_failure_rate,
            "failed_deployments": self.failed,
            "rollbacks": self.rollbacks,
            "failure_window_seconds": self.failure_window,
            "time_to_restore": {
                "incidents": len(restore),
                "median_seconds": median(restore),
            },
            "unresolved_images": self.unresolved_images,
            "unrecorded_overlay_commits": self.unrecorded,
            "unattributed_overlay_commits": dict(self.unattributed),
            "last_deployment": None
            if self.last_deployment is None
            else _date(self.last_deployment),
            "weekly": [{"week": week, "deployments": n} for week, n in self.weekly()],
        }


def environment_metrics(
    environment: str,
    revisions: Sequence[OverlayRevision],
    graph: CommitGraph,
    window: Window,
    *,
    failure_window: int = DEFAULT_FAILURE_WINDOW,
    skip: frozenset[str] = frozenset(),
) -> EnvironmentMetrics:
    """Compute one environment's figures from its whole overlay history (any order).

    History before the window still counts for what had already reached the environment;
    only deployments inside the window are reported. `skip` names commits that are not
    changes (dexops' own overlay commits).
    """
    ordered = sorted(revisions, key=lambda r: r.time)
    reached: set[str] = set()
    deployments: list[Deployment] = []
    # The deployment live now, if no rollback has answered it yet.
    open_index: int | None = None
    rollbacks = unrecorded = 0
    unattributed: dict[str, int] = {}
    for rev in ordered:
        if rev.action is None:
            if rev.time in window:
                unrecorded += 1
                reason = rev.reason or UNMARKED_CHANGE
                unattributed[reason] = unattributed.get(reason, 0) + 1
            continue
        if rev.action == ROLLBACK:
            rollbacks += rev.time in window
            if open_index is not None:
                deployed = deployments[open_index]
                elapsed = rev.time - deployed.time
                if elapsed <= failure_window:
                    deployments[open_index] = _replace_restored(deployed, elapsed)
                open_index = None
        if rev.action not in DEPLOY_ACTIONS and rev.action != ROLLBACK:
            continue
        # What the overlay held before was running already: none of it is new here.
        previous = graph.image_commit(rev.previous_tag)
        if previous is not None:
            graph.reach(previous, reached)
        target = graph.image_commit(rev.image_tag)
        new = graph.reach(target, reached) if target is not None else []
        if rev.action in DEPLOY_ACTIONS:
            lead = tuple(rev.time - graph.times[c] for c in new if graph.is_change(c, skip))
            deployments.append(
                Deployment(rev.commit, rev.time, rev.action, rev.image_tag, target, lead)
            )
            open_index = len(deployments) - 1
    return EnvironmentMetrics(
        environment=environment,
        window=window,
        deployments=tuple(d for d in deployments if d.time in window),
        rollbacks=rollbacks,
        unrecorded=unrecorded,
        failure_window=failure_window,
        unattributed=unattributed,
        last_deployment=deployments[-1].time if deployments else None,
    )


def _replace_restored(deployment: Deployment, elapsed: int) -> Deployment:
    return Deployment(
        deployment.commit,
        deployment.time,
        deployment.action,
        deployment.image_tag,
        deployment.image_commit,
        deployment.lead_times,
        elapsed,
    )


@dataclass(frozen=True)
class ComponentReleases:
    """Release cadence of one component in the window."""

    component: str
    releases: tuple[tuple[str, int, bool], ...]  # (tag, time, pre-release?) oldest first

    @property
    def count(self) -> int:
        """Releases in the window."""
        return len(self.releases)

    @property
    def intervals(self) -> list[int]:
        """Seconds between consecutive releases in the window."""
        times = [t for _, t, _ in self.releases]
        return [b - a for a, b in itertools.pairwise(times)]

    @property
    def prerelease_share(self) -> float | None:
        """Share of releases that are pre-releases (a/b/rc/dev); None without releases."""
        return sum(p for _, _, p in self.releases) / self.count if self.count else None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready summary (durations in seconds)."""
        return {
            "component": self.component,
            "releases": self.count,
            "median_seconds_between": median(self.intervals),
            "prerelease_share": self.prerelease_share,
            "latest": self.releases[-1][0] if self.releases else None,
        }


def component_releases(
    component: str, prefix: str, tag_times: Mapping[str, int], window: Window
) -> ComponentReleases:
    """The component's PEP 440 tags (`<prefix><version>`) dated inside the window."""
    found = []
    for name, moment in tag_times.items():
        # One reading of release tags for every task: only the normalized spelling counts.
        tag = ComponentTag.parse(prefix, name)
        if tag is None or moment not in window:
            continue
        version = tag.version
        found.append((moment, version, name, version.is_prerelease or version.is_devrelease))
    found.sort(key=lambda item: (item[0], item[1]))
    return ComponentReleases(component, tuple((n, t, p) for t, _, n, p in found))


def date_of(moment: int) -> str:
    """The UTC calendar date of a unix time, as ISO `YYYY-MM-DD`."""
    return _date(moment)


def _date(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


def format_duration(seconds: float | None) -> str:
    """A short human duration: `3d 4h`, `5h 12m`, `40m`, `12s`; `-` for None."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    days, rest = divmod(whole, DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


_SPAN = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[hdw])$")
_UNITS = {"h": 3600, "d": DAY, "w": WEEK}


def parse_span(text: str) -> int | None:
    """Seconds in a span like `36h`, `7d`, `12w`; None when `text` is not one."""
    match = _SPAN.match(text.strip())
    if match is None:
        return None
    return int(match.group("n")) * _UNITS[match.group("unit")]


def parse_since(text: str, now: int) -> int:
    """A span before `now` (`90d`, `12w`) or an ISO date `2024-01-31` (00:00 UTC), unix seconds."""
    span = parse_span(text)
    if span is not None:
        return now - span
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is neither a span like 90d / 12w nor a date like 2024-01-31"
        ) from None
    start = int(day.timestamp())
    if start > now:
        raise ConfigError(f"--since {text!r} is in the future")
    return start

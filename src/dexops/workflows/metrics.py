"""The metrics workflow: read git once per need, compute delivery figures, render them.

Git is asked as little as possible: one `for-each-ref` for tags and branches, one
`rev-list` for the whole commit graph with times, and one `log` per environment for its
overlay history with trailers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dexops.domain.config import Environment
from dexops.domain.delivery_metrics import (
    DEFAULT_FAILURE_WINDOW,
    CommitGraph,
    ComponentReleases,
    EnvironmentMetrics,
    OverlayRevision,
    Window,
    attributed_revision,
    component_releases,
    date_of,
    environment_metrics,
    format_duration,
    median,
    percentile,
)
from dexops.domain.workflow_runs import WorkflowStats
from dexops.github_actions import markdown_table
from dexops.workflows.environments import read_history
from dexops.workflows.remote_branches import complete_history
from dexops.workflows.workspace import Workspace

_RECORD = "\x1e"
_FIELD = "\x1f"


@dataclass(frozen=True)
class RepositoryRefs:
    """Tags (name -> creation time) and branch refs of the repository, from one git call."""

    tag_times: dict[str, int]
    refs: frozenset[str]

    def branch_ref(self, branch: str) -> str | None:
        """The ref holding an environment branch: origin's copy first, as Argo CD reads it."""
        for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
            if ref in self.refs:
                return ref
        return None


def read_refs(ws: Workspace) -> RepositoryRefs:
    """All tags with their dates (tagger date, or commit date for lightweight tags)."""
    out = ws.git.run(
        "for-each-ref",
        f"--format=%(refname){_FIELD}%(creatordate:unix)",
        "refs/tags",
        "refs/heads",
        "refs/remotes",
    )
    tag_times: dict[str, int] = {}
    refs: set[str] = set()
    for line in out.splitlines():
        ref, _, moment = line.partition(_FIELD)
        refs.add(ref)
        if ref.startswith("refs/tags/") and moment.strip():
            tag_times[ref.removeprefix("refs/tags/")] = int(moment)
    return RepositoryRefs(tag_times, frozenset(refs))


def read_graph(ws: Workspace) -> CommitGraph:
    """Every commit reachable from a branch or tag, with its parents and committer time."""
    out = ws.git.run("rev-list", "--parents", "--timestamp", "--branches", "--remotes", "--tags")
    parents: dict[str, tuple[str, ...]] = {}
    times: dict[str, int] = {}
    for line in out.splitlines():
        moment, commit, *rest = line.split(" ")
        parents[commit] = tuple(rest)
        times[commit] = int(moment)
    return CommitGraph(parents, times)


def read_overlay_history(ws: Workspace, env: Environment, ref: str) -> list[OverlayRevision]:
    """Every commit on the environment's branch that touched its kustomization, oldest first.

    Read as `history` reads it (one log, one batch of overlay versions), so commits made
    by other tools count by their subject and the tag their overlay holds.
    """
    complete_history(ws.git, [env.branch])
    revisions = read_history(ws, env, ref=ref)
    result: list[OverlayRevision] = []
    previous: str | None = None
    for revision in reversed(revisions):
        result.append(attributed_revision(revision, previous, env.name, first=not result))
        previous = revision.tag if revision.error is None else previous
    return result


@dataclass(frozen=True)
class MetricsReport:
    """Everything `invoke metrics` shows."""

    window: Window
    environments: tuple[EnvironmentMetrics, ...]
    components: tuple[ComponentReleases, ...]
    workflows: tuple[WorkflowStats, ...] | None = None
    missing_branches: tuple[str, ...] = field(default=())
    # Each environment's overlay commits, oldest first: the report draws its timeline from them.
    histories: Mapping[str, Sequence[OverlayRevision]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The JSON document of `invoke metrics --json`."""
        return {
            "window": {"start": date_of(self.window.start), "end": date_of(self.window.end)},
            "environments": [e.as_json() for e in self.environments],
            "components": [c.as_json() for c in self.components],
            "workflows": None if self.workflows is None else [w.as_json() for w in self.workflows],
        }


def delivery_metrics(
    ws: Workspace,
    *,
    window: Window,
    environments: Sequence[str] = (),
    failure_window: int = DEFAULT_FAILURE_WINDOW,
) -> MetricsReport:
    """Compute the delivery figures of the chosen environments (all when none) and components."""
    chosen = (
        [ws.config.environment(name) for name in environments]
        if environments
        else ws.config.promotion_order()
    )
    refs = read_refs(ws)
    graph = read_graph(ws)
    histories: dict[str, list[OverlayRevision]] = {}
    missing = []
    # Every environment's overlay commits are dexops' own bookkeeping, never changes.
    all_envs = ws.config.promotion_order()
    for env in all_envs:
        ref = refs.branch_ref(env.branch)
        if ref is None:
            missing.append(env.name)
            continue
        histories[env.name] = read_overlay_history(ws, env, ref)
    skip = frozenset(
        rev.commit for revs in histories.values() for rev in revs if rev.action is not None
    )
    per_env = tuple(
        environment_metrics(
            env.name,
            histories.get(env.name, []),
            graph,
            window,
            failure_window=failure_window,
            skip=skip,
        )
        for env in chosen
    )
    components = tuple(
        component_releases(c.name, c.tag_prefix, refs.tag_times, window)
        for c in ws.config.components.values()
    )
    return MetricsReport(
        window,
        per_env,
        components,
        missing_branches=tuple(m for m in missing if m in {e.name for e in chosen}),
        histories=histories,
    )


def window_text(window: Window) -> str:
    """The window as dates: `2024-01-01 to 2024-03-31`."""
    return f"{date_of(window.start)} to {date_of(window.end)}"


def notes(report: MetricsReport) -> list[str]:
    """What the figures leave out: commits not attributed, an empty window and why."""
    lines = []
    for env in report.environments:
        if env.unattributed:
            reasons = "; ".join(f"{n} {why}" for why, n in sorted(env.unattributed.items()))
            lines.append(
                f"{env.environment}: {sum(env.unattributed.values())} overlay commit(s) in "
                f"{window_text(report.window)} counted as no deployment: {reasons}"
            )
        if not env.count and env.last_deployment is not None:
            lines.append(
                f"{env.environment}: no deployment in {window_text(report.window)}; the last "
                f"one was on {date_of(env.last_deployment)} (--since {date_of(env.last_deployment)}"
                " to include it)"
            )
        elif not env.count:
            lines.append(f"{env.environment}: never deployed by a recorded or known commit")
    return lines


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def environment_rows(report: MetricsReport) -> list[list[object]]:
    """One table row per environment."""
    rows: list[list[object]] = []
    for env in report.environments:
        lead = env.lead_times
        rows.append(
            [
                env.environment,
                env.count,
                f"{env.per_day:.2f}",
                f"{env.per_week:.2f}",
                format_duration(median(lead)),
                format_duration(percentile(lead, 90)),
                _rate(env.change_failure_rate),
                format_duration(median(env.restore_times)),
            ]
        )
    return rows


ENVIRONMENT_HEADERS = (
    "environment",
    "deploys",
    "per day",
    "per week",
    "lead time p50",
    "lead time p90",
    "change failure",
    "time to restore",
)
COMPONENT_HEADERS = ("component", "releases", "median between", "pre-releases", "latest")
WORKFLOW_HEADERS = ("workflow", "runs", "pass rate", "median duration")


def component_rows(report: MetricsReport) -> list[list[object]]:
    """One table row per component."""
    return [
        [
            c.component,
            c.count,
            format_duration(median(c.intervals)),
            _rate(c.prerelease_share),
            c.releases[-1][0] if c.releases else "-",
        ]
        for c in report.components
    ]


def workflow_rows(report: MetricsReport) -> list[list[object]]:
    """One table row per GitHub Actions workflow."""
    return [
        [w.workflow, w.completed, _rate(w.pass_rate), format_duration(w.median_duration)]
        for w in report.workflows or ()
    ]


def weekly_chart(env: EnvironmentMetrics) -> str:
    """A Mermaid `xychart-beta` bar chart of the environment's deployments per week."""
    weeks = env.weekly()
    labels = ", ".join(f'"{week[5:]}"' for week, _ in weeks)
    counts = ", ".join(str(n) for _, n in weeks)
    top = max([n for _, n in weeks] + [1])
    return (
        "```mermaid\n"
        "xychart-beta\n"
        f'    title "Deployments per week: {env.environment}"\n'
        f"    x-axis [{labels}]\n"
        f'    y-axis "deployments" 0 --> {top}\n'
        f"    bar [{counts}]\n"
        "```\n"
    )


def summary_markdown(report: MetricsReport) -> str:
    """The Markdown of `--summary`: tables and one weekly chart per environment."""
    start = datetime.fromtimestamp(report.window.start, UTC).date().isoformat()
    end = datetime.fromtimestamp(report.window.end, UTC).date().isoformat()
    parts = [f"## Delivery metrics {start} to {end}\n"]
    parts.append(markdown_table(ENVIRONMENT_HEADERS, environment_rows(report)))
    parts += [weekly_chart(env) for env in report.environments if env.window.days >= 1]
    parts.append("### Releases\n")
    parts.append(markdown_table(COMPONENT_HEADERS, component_rows(report)))
    if report.workflows is not None:
        parts.append("### CI workflows\n")
        parts.append(markdown_table(WORKFLOW_HEADERS, workflow_rows(report)))
    return "\n".join(parts)

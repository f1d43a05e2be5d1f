"""`metrics`: delivery figures from git (and CI figures from GitHub when a token is set)."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    read_only=True,
    help={
        "env": "only this environment (default: every configured one)",
        "since": "start of the period: a span like 90d / 12w, or a date like 2024-01-31",
        "failure_window": "a rollback within this span after a deployment marks it failed (7d)",
        "json": "print JSON instead of tables",
        "summary": "write Markdown with a weekly chart to $GITHUB_STEP_SUMMARY (else stdout)",
        "repo": "target repository root",
    },
)
def metrics(
    c: Context,
    env: str | None = None,
    since: str = "90d",
    failure_window: str = "7d",
    json: bool = False,
    summary: bool = False,
    repo: str | None = None,
) -> None:
    """Deployment frequency, lead time, change failure rate, time to restore, releases, CI."""
    import time

    from dexops import console, github_actions
    from dexops.adapters.github import github_from_env
    from dexops.domain.delivery_metrics import Window, parse_since, parse_span
    from dexops.domain.workflow_runs import workflow_stats
    from dexops.workflows import metrics as flow
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    now = int(time.time())
    window = Window(parse_since(since, now), now)
    failure = parse_span(failure_window)
    if failure is None:
        from dexops.errors import ConfigError

        raise ConfigError(f"--failure-window {failure_window!r} is not a span like 36h, 7d, 2w")
    report = flow.delivery_metrics(
        ws, window=window, environments=[env] if env else (), failure_window=failure
    )
    github = github_from_env(ws.git)
    if github is not None:
        from dataclasses import replace

        report = replace(
            report, workflows=tuple(workflow_stats(github.workflow_runs_since(window.start)))
        )
        if github.truncated:
            console.warn("GitHub lists at most 1,000 runs per query; older runs were left out")
    for name in report.missing_branches:
        console.warn(f"environment {name}: its branch is not in this clone; fetch it for figures")
    for line in flow.notes(report):
        console.warn(line)
    if json:
        console.emit_json(report.as_json())
    elif not summary:
        console.table(
            flow.ENVIRONMENT_HEADERS,
            flow.environment_rows(report),
            title=f"Deployments {flow.window_text(report.window)}",
        )
        console.table(flow.COMPONENT_HEADERS, flow.component_rows(report), title="Releases")
        if report.workflows is not None:
            console.table(flow.WORKFLOW_HEADERS, flow.workflow_rows(report), title="CI workflows")
    if summary:
        markdown = flow.summary_markdown(report)
        if github_actions.run_context().step_summary:
            github_actions.add_summary(markdown)
        elif not json:
            console.say(markdown.rstrip("\n"))

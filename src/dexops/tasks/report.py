"""`report --html FILE`: one self-contained page of environments, timeline and metrics."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "html": "write the page to this file",
        "since": "start of the period: a span like 90d / 12w, or a date like 2024-01-31",
        "failure_window": "a rollback within this span after a deployment marks it failed (7d)",
        "dry_run": "say what would be written; write nothing",
        "repo": "target repository root",
    }
)
def report(
    c: Context,
    html: str | None = None,
    since: str = "90d",
    failure_window: str = "7d",
    dry_run: bool = False,
    repo: str | None = None,
) -> None:
    """Environments (tag, digest, since, hold, drift), a timeline, releases, metrics as charts."""
    import time
    from pathlib import Path

    from dexops import console
    from dexops.domain.delivery_metrics import parse_since, parse_span
    from dexops.errors import ConfigError
    from dexops.workflows.workspace import Workspace

    if not html:
        raise ConfigError("report needs --html FILE")
    start = parse_since(since, int(time.time()))
    failure = parse_span(failure_window)
    if failure is None:
        raise ConfigError(f"--failure-window {failure_window!r} is not a span like 36h, 7d, 2w")
    ws = Workspace.open(repo)
    path = Path(html).resolve()
    if path.is_dir():
        raise ConfigError(f"--html {html!r} is a directory; name a file")
    if dry_run:
        console.would(f"write the report to {path}")
        return
    from dexops.workflows.report import write_report

    page = write_report(ws, path, window_start=start, failure_window=failure)
    console.warn_each(page.warnings)
    console.say(f"report: wrote {path} ({len(page.html.encode()) // 1024} KiB)")

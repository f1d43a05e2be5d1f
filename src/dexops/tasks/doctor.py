"""`doctor`: every problem a pipeline run would meet, found at once; nothing is changed."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "json": "print the rows as JSON instead of a table",
        "repo": "target repository root",
    }
)
def doctor(c: Context, json: bool = False, repo: str | None = None) -> None:
    """Check configuration, paths, tools, tokens, Argo CD and the clone; exit 1 if a row fails."""
    from dexops import console
    from dexops.domain.checkup import worst
    from dexops.workflows import doctor as flow
    from dexops.workflows.workspace import repository_root

    root = repository_root(repo)
    findings = flow.examine(root)
    status = worst(findings)
    if json:
        console.emit_json({"status": status, "checks": [f.as_json() for f in findings]})
    else:
        rows = [(f.area, f.subject, f.status, f.detail) for f in findings]
        console.table(flow.HEADERS, rows, title=f"dexops doctor: {root}")
    failed = sum(f.status == "fail" for f in findings)
    if failed:
        raise flow.CheckupFailedError(f"doctor: {failed} of {len(findings)} checks failed")

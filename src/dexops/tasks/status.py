"""`status`: every environment's image, hold, drift and Argo CD state."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    read_only=True,
    help={
        "env": "environment to show (repeatable; default: all)",
        "json": "print JSON",
        "repo": "target repository root",
    },
    iterable=["env"],
)
def status(
    c: Context, env: list[str] | None = None, json: bool = False, repo: str | None = None
) -> None:
    """Show each environment's image, deployment, hold, drift and Argo CD state."""
    from dexops import console
    from dexops.workflows.status import environment_status
    from dexops.workflows.workspace import Workspace

    report = environment_status(Workspace.open(repo), env or None)
    console.warn_each(report.warnings)
    rows = report.rows
    if json:
        console.emit_json([row.as_json() for row in rows])
        return
    argo = any(r.sync is not None for r in rows)
    headers = ["env", "branch", "tag", "digest", "deployed", "commit", "kind", "hold", "drift"]
    if argo:
        headers += ["sync", "health"]
    table = []
    for r in rows:
        cells: list[object] = [
            r.env,
            r.branch,
            r.tag or "-",
            (r.digest or "-")[:19],
            r.deployed_at or "-",
            (r.commit or "-")[:8],
            r.kind or "-",
            r.hold or "-",
            f"{r.drift} vs {r.source}" if r.drift and r.source else "-",
        ]
        if argo:
            cells += [r.sync or "-", r.health or "-"]
        table.append(cells)
    console.table(headers, table)

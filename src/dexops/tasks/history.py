"""`history`: the image tags an environment ran, newest first."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    read_only=True,
    help={
        "env": "environment whose overlay history to show",
        "limit": "show at most this many entries (default 20; 0 for all)",
        "all": "list every revision of the overlay, not only image changes",
        "json": "print JSON",
        "repo": "target repository root",
    },
)
def history(
    c: Context,
    env: str,
    limit: int = 20,
    all: bool = False,
    json: bool = False,
    repo: str | None = None,
) -> None:
    """Show the image tags ENV's overlay held on its branch, newest first."""
    from dexops import console
    from dexops.workflows.environments import fetch, read_history
    from dexops.workflows.workspace import Workspace

    if limit < 0:
        from dexops.errors import DexopsError

        raise DexopsError(f"--limit must be 0 (all) or more, not {limit}")
    ws = Workspace.open(repo)
    environment = ws.config.environment(env)
    fetch(ws, [environment])
    revisions = read_history(ws, environment)
    # Renames are shown beside deployments: the name the image ran under changed there.
    shown = revisions if all else [r for r in revisions if (r.changed and r.tag) or r.renamed_from]
    if limit > 0:
        shown = shown[:limit]
    if json:
        console.emit_json([r.as_json() for r in shown])
        return
    console.table(
        ["date", "commit", "kind", "tag", "digest", "author", "subject", "note"],
        [
            [
                r.date,
                r.commit[:8],
                r.kind,
                r.tag or "-",
                (r.digest or "-")[:19],
                r.author,
                r.subject[:60],
                f"renamed from {r.renamed_from}" if r.renamed_from else "",
            ]
            for r in shown
        ],
        title=f"{env}: {environment.kustomization} on origin/{environment.branch}",
    )

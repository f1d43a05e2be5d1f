"""`init`: configure dexops for the repository it finds (table, tasks.py, nox, workflows)."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "dry_run": "show the diff of every file init would write; write nothing",
        "repo": "target repository root (default: the working directory)",
    }
)
def init(c: Context, dry_run: bool = False, repo: str | None = None) -> None:
    """Write [tool.dexops], tasks.py, noxfile.py and workflows for the repository's shape."""
    import os
    from pathlib import Path

    from dexops import console
    from dexops.errors import ConfigError
    from dexops.workflows import init as flow

    root = Path(repo or os.environ.get("DEXOPS_REPO") or ".").resolve()
    if not root.is_dir():
        raise ConfigError(f"repository {str(repo)!r} is not a directory")
    plan = flow.plan_init(root)
    console.say(f"init: {root} looks like a {plan.shape} repository")
    for change in plan.changes:
        if change.action == "kept":
            console.warn(f"init: leaving {change.path} alone: {change.reason}")
        elif change.action == "unchanged":
            console.say(f"init: {change.path} is up to date")
        elif dry_run:
            console.would(f"{change.action} {change.path}")
            console.say(change.diff().rstrip("\n"))
        else:
            console.say(f"init: {change.action}d {change.path}")
    if not dry_run:
        flow.apply_init(root, plan)

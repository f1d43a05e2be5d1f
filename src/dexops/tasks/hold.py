"""`hold.*` tasks: release an environment's rollback hold."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "env": "environment whose rollback hold to release",
        "dry_run": "say what would be released, change nothing",
        "repo": "target repository root",
    }
)
def release(c: Context, env: str, dry_run: bool = False, repo: str | None = None) -> None:
    """Release ENV's rollback hold so deploy.update and promote may change it again."""
    from dexops import console
    from dexops.workflows.rollback import release_hold
    from dexops.workflows.workspace import Workspace

    result = release_hold(Workspace.open(repo), env=env, dry_run=dry_run)
    record = result.record
    if result.outcome == "not-held" or record is None:
        console.say(f"{env} is not on hold")
    elif result.outcome == "would-release":
        console.would(f"release the hold set by {record.commit[:8]} on {env}")
    else:
        console.say(f"released the hold on {env} ({result.commit})")


def collection() -> Collection:
    """The `hold` collection."""
    return Collection("hold", release)

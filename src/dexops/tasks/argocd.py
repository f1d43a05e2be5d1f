"""`argocd.*` tasks: wait for a pushed commit to run Healthy, and trigger a sync."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "env": "environment whose Argo CD application to wait for",
        "timeout": "SECONDS to wait before giving up (a number; default 600)",
        "interval": "SECONDS between polls (a number; default 5)",
        "revision": "commit to wait for (default: tip of origin/<env branch> after a fetch)",
        "pushed_at": "ISO 8601 time of the push (default: the commit's committer date)",
        "healthy_polls": "consecutive Healthy polls needed (default 3)",
        "repo": "target repository root",
    }
)
def wait(
    c: Context,
    env: str,
    timeout: float = 600.0,
    interval: float = 5.0,
    revision: str | None = None,
    pushed_at: str | None = None,
    healthy_polls: int = 3,
    repo: str | None = None,
) -> None:
    """Wait for ENV's Argo CD app to run the pushed commit Healthy (see docs/exit-codes.md)."""
    from dexops import console, github_actions
    from dexops.workflows.argocd import sigterm_raises, wait_for_environment
    from dexops.workflows.workspace import Workspace

    with sigterm_raises(f"argocd.wait --env {env}: nothing was changed (it only reads)"):
        result = wait_for_environment(
            Workspace.open(repo),
            env,
            timeout=timeout,
            interval=interval,
            healthy_polls=healthy_polls,
            revision=revision,
            pushed_at=pushed_at,
        )
    console.say(
        f"{result.app} runs {result.commit[:12]} Synced and Healthy "
        f"({result.polls} polls, {result.seconds:.0f}s)"
    )
    github_actions.set_output("revision", result.commit)
    github_actions.set_output("health", result.state.health_status)


@task(
    help={
        "env": "environment whose Argo CD application to sync",
        "prune": "delete resources that are no longer in git",
        "dry_run": "show the request, send nothing",
        "repo": "target repository root",
    }
)
def sync(
    c: Context, env: str, prune: bool = False, dry_run: bool = False, repo: str | None = None
) -> None:
    """Ask Argo CD to sync ENV's application (reports an operation already running)."""
    from dexops import console
    from dexops.workflows.argocd import sigterm_raises, trigger_sync
    from dexops.workflows.workspace import Workspace

    with sigterm_raises(f"argocd.sync --env {env} before its request: nothing was done"):
        outcome = trigger_sync(Workspace.open(repo), env, prune=prune, dry_run=dry_run)
    state = outcome.state
    if outcome.action == "running":
        console.say(
            f"{outcome.app}: an operation is already {state.operation_phase}; no new sync started"
        )
    elif outcome.action == "started":
        console.say(
            f"{outcome.app}: sync started (operation {state.operation_phase or 'requested'}); "
            f"`invoke argocd.wait --env {env}` follows it"
        )
    else:
        console.say(f"{outcome.app}: now sync={state.sync_status} health={state.health_status}")


def collection() -> Collection:
    """The `argocd` collection."""
    return Collection("argocd", wait, sync)

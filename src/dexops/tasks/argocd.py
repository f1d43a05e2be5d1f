"""`argocd.*` tasks (wait, sync) and the post-deploy smoke check `deploy.verify`."""

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
    """Wait for ENV's Argo CD app to run the pushed commit Healthy (exits 20/21/22 if not)."""
    from dexops import actions, console
    from dexops.workflows.argocd import sigterm_raises, wait_for_environment
    from dexops.workspace import Workspace

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
    actions.set_output("revision", result.commit)
    actions.set_output("health", result.state.health_status)


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
    from dexops.workspace import Workspace

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


@task(
    help={
        "env": "environment to check",
        "url": "URL to GET (default: the environment's health-url)",
        "status": "HTTP status that counts as healthy (default 200)",
        "timeout": "SECONDS to keep trying (a number; default 120)",
        "interval": "SECONDS between attempts (a number; default 5)",
        "rollback_on_failure": "roll the environment back when the check fails",
        "skip_registry_check": "roll back without checking the registry has the target image",
        "dry_run": "check, but only describe the rollback a failure would do",
        "repo": "target repository root",
    }
)
def verify(
    c: Context,
    env: str,
    url: str | None = None,
    status: int = 200,
    timeout: float = 120.0,
    interval: float = 5.0,
    rollback_on_failure: bool = False,
    skip_registry_check: bool = False,
    dry_run: bool = False,
    repo: str | None = None,
) -> None:
    """Smoke-check ENV's health URL (exit 23 on failure, 24 if the rollback fails too)."""
    from dexops import console
    from dexops.workflows.argocd import sigterm_raises
    from dexops.workflows.verify import rollback_action, verify_environment
    from dexops.workspace import Workspace

    ws = Workspace.open(repo)
    environment = ws.config.environment(env)
    rollback = (
        rollback_action(ws, env, dry_run=dry_run, skip_registry_check=skip_registry_check)
        if rollback_on_failure
        else None
    )
    with sigterm_raises(f"deploy.verify --env {env}: nothing was rolled back"):
        result = verify_environment(
            environment,
            url=url,
            expect_status=status,
            timeout=timeout,
            interval=interval,
            rollback=rollback,
        )
    console.say(f"{env}: {result.url} answered {result.last} ({result.attempts} attempts)")


def collection() -> Collection:
    """The `argocd` collection."""
    return Collection("argocd", wait, sync)

"""`deploy.*` tasks: set-image (working tree), update (the CD step), verify (smoke checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task

if TYPE_CHECKING:
    from dexops.workflows.deploy import UpdateResult


@task(
    help={
        "env": "environment whose overlay to edit",
        "image_tag": "image tag to set (newTag)",
        "digest": "also pin this digest (sha256:…); without it a pinned digest is removed",
        "create": "add an images: entry for the image when the overlay has none",
        "dry_run": "show the diff, write nothing",
        "repo": "target repository root",
    }
)
def set_image(
    c: Context,
    env: str,
    image_tag: str,
    digest: str | None = None,
    create: bool = False,
    dry_run: bool = False,
    repo: str | None = None,
) -> None:
    """Set ENV's image in its overlay in the working tree and show the diff (no commit)."""
    from dexops import console
    from dexops.workflows.deploy import apply_set_image, plan_set_image, render_warnings
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    plan = plan_set_image(ws, env, tag=image_tag, digest=digest, create=create)
    if plan.before == plan.after:
        console.say(f"{env}: {plan.env.kustomization} already holds {image_tag}")
        return
    console.say(plan.diff.rstrip("\n"))
    if dry_run:
        console.would(f"write {plan.env.kustomization}")
        return
    console.warn_each(render_warnings())
    apply_set_image(ws, plan)
    console.say(f"{env}: {plan.env.kustomization} now holds {image_tag} (not committed)")


@task(
    help={
        "branch": "branch whose environments to update (each environment's `branch`)",
        "image_tag": "image tag to deploy",
        "digest": "also pin this digest (sha256:…)",
        "env": "only this environment of the branch (repeatable)",
        "push": "push to origin (retrying lost races; a PR when the branch is protected)",
        "auto_merge": "enable auto-merge on a pull request opened for a protected branch",
        "dry_run": "show the diffs, change nothing",
        "repo": "target repository root",
        "plan": "a `pipeline.plan --output` file; refuse a deploy it did not decide",
    },
    iterable=["env"],
)
def update(
    c: Context,
    branch: str,
    image_tag: str,
    digest: str | None = None,
    env: list[str] | None = None,
    push: bool = False,
    auto_merge: bool = False,
    dry_run: bool = False,
    repo: str | None = None,
    plan: str | None = None,
) -> None:
    """The CD step: point every environment on BRANCH at the image tag, commit, push."""
    from dexops import console, github_actions
    from dexops.workflows.deploy import apply_update, plan_update, render_warnings
    from dexops.workflows.environments import hold_message
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    if plan is not None:
        from dexops.workflows.pipeline import require_planned_deploy

        require_planned_deploy(ws, plan, branch, image_tag)
    update_plan = plan_update(ws, branch=branch, tag=image_tag, digest=digest, only=env or None)
    for name in update_plan.current:
        console.say(f"{name}: already runs {image_tag} on origin/{branch}")
    for record in update_plan.held:
        console.warn(f"not updated: {hold_message(record)}")
    for change in update_plan.updates:
        console.say(change.diff.rstrip("\n"))
    if dry_run:
        for change in update_plan.updates:
            console.would(
                f"commit 'chore: update {change.env.name} image to {image_tag} [skip ci]' "
                f"on {branch}" + (" and push it" if push else "")
            )
        return
    console.warn_each(render_warnings() if update_plan.updates else ())
    result = apply_update(ws, update_plan, push=push, auto_merge=auto_merge)
    github_actions.set_output("outcome", result.outcome)
    github_actions.set_output("commit", result.commit or "")
    _report(result, branch, image_tag)


def _report(result: UpdateResult, branch: str, image_tag: str) -> None:
    """Say what `deploy.update` did."""
    from dexops import console

    if result.outcome == "pushed":
        raced = (
            f" (after {result.attempts} attempts: {branch} moved)" if result.attempts > 1 else ""
        )
        console.say(f"pushed {result.commit} to {branch}: {', '.join(result.updated)}{raced}")
        if result.local_left:
            console.warn(
                f"local branch {branch} ({result.local_left[:12]}) has commits origin/{branch} "
                f"lacks; it was left as is (compare with: git log {branch}...origin/{branch})"
            )
    elif result.outcome == "committed" and result.earlier:
        console.say(
            f"already committed locally as {result.commit} on {branch} "
            "(an earlier run without --push; push it with --push)"
        )
    elif result.outcome == "committed":
        console.say(f"committed {result.commit} on {branch} (not pushed; use --push)")
    elif result.outcome == "proposed":
        console.say(f"{branch} refused a direct push (protected); proposed instead:")
        for proposal in result.proposals:
            console.say(f"  {proposal.describe()}")
    else:
        console.say(f"nothing to do: origin/{branch} already runs {image_tag}")


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
    """Smoke-check ENV's health URL (SMOKE_FAILED, or ROLLBACK_FAILED)."""
    from dexops import console
    from dexops.workflows.argocd import sigterm_raises
    from dexops.workflows.verify import (
        RollingBack,
        SmokeProgress,
        rollback_after_failure,
        verify_environment,
    )
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    environment = ws.config.environment(env)

    def rollback() -> str:
        done = rollback_after_failure(
            ws, env, dry_run=dry_run, skip_registry_check=skip_registry_check
        )
        console.warn_each(done.warnings)
        if done.preview is not None:
            console.say(done.preview.diff.rstrip("\n"))
            console.would(
                f"commit `fix: rollback {env} to {done.preview.tag}` with a hold on "
                f"{done.preview.state.env.branch} and push it"
            )
        return done.line

    def progress(event: SmokeProgress) -> None:
        if isinstance(event, RollingBack):
            console.warn(f"{event.failed}; rolling back")
        elif event.passed:
            console.say(
                f"[{event.elapsed:5.0f}s] {event.url}: {event.last} (attempt {event.attempt}) "
                "— passed"
            )
        else:
            console.say(
                f"[{event.elapsed:5.0f}s] {event.url}: {event.last}, expected {event.expected} "
                f"(attempt {event.attempt})"
            )

    with sigterm_raises(f"deploy.verify --env {env}: nothing was rolled back"):
        result = verify_environment(
            environment,
            url=url,
            expect_status=status,
            timeout=timeout,
            interval=interval,
            rollback=rollback if rollback_on_failure else None,
            on_progress=progress,
        )
    console.say(f"{env}: {result.url} answered {result.last} ({result.attempts} attempts)")


def collection() -> Collection:
    """The `deploy` collection."""
    return Collection("deploy", set_image, update, verify)

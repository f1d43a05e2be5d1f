"""`promote`: put the image one environment runs into the next one."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task
from dexops.tasks.confirm import confirm
from dexops.tasks.overlay_change import CHANGE_HELP, tell_change


@task(
    help={
        "from_env": "source environment (default: the target's promote-from)",
        "to_env": "target environment (default: the one after the furthest that runs --image-tag)",
        "image_tag": "tag to promote (default: what the source runs)",
        "force": (
            "promote a tag the source does not run, from another source, "
            "or over commits the target runs that the image lacks"
        ),
        "auto_merge": "enable auto-merge on the pull request",
        "direct": "commit and push to the target's branch instead of opening a PR",
        "yes": "do not ask for confirmation on a terminal",
        "dry_run": "check the gates and show the change, change nothing",
        **CHANGE_HELP,
    }
)
def promote(
    c: Context,
    to_env: str | None = None,
    from_env: str | None = None,
    image_tag: str | None = None,
    force: bool = False,
    auto_merge: bool = False,
    direct: bool = False,
    skip_registry_check: bool = False,
    yes: bool = False,
    dry_run: bool = False,
    repo: str | None = None,
) -> None:
    """Promote an image to the next environment (--to-env or the chain's next; a PR by default)."""
    from dexops import console
    from dexops.workflows.deploy import render_warnings
    from dexops.workflows.promote import apply_promotion, plan_promotion
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    plan = plan_promotion(
        ws,
        from_env=from_env,
        to_env=to_env,
        tag=image_tag,
        force=force,
        skip_registry_check=skip_registry_check,
    )
    console.warn_each(plan.warnings)
    to_env = plan.target.env.name
    if plan.unchanged:
        console.say(f"{to_env} already runs {plan.tag}; nothing to promote")
        return
    console.say(f"promote {plan.tag}: {plan.source.env.name} -> {to_env}")
    console.say(plan.diff.rstrip("\n"))
    where = f"push it to {plan.target.env.branch}" if direct else f"open a PR from {plan.branch}"
    if dry_run:
        console.would(f"commit '{plan.title}' and {where}")
        return
    confirm(f"Promote {plan.tag} to {to_env} ({where})?", yes=yes)
    console.warn_each(render_warnings())
    result = apply_promotion(ws, plan, direct=direct, auto_merge=auto_merge)
    tell_change(
        result,
        branch=plan.target.env.branch,
        env=to_env,
        tag=plan.tag,
        unchanged=f"{to_env} already runs {plan.tag}; nothing to promote",
    )

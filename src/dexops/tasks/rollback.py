"""`rollback`: put an environment back on an earlier image, and hold it there."""

from __future__ import annotations

from invoke.context import Context

from dexops import invocation
from dexops.tasks._edge import task
from dexops.tasks.confirm import confirm
from dexops.tasks.overlay_change import CHANGE_HELP, tell_change


@task(
    help={
        "env": "environment to roll back",
        "to": "tag to roll back to (default: the previous distinct tag of its history)",
        "steps": "go back this many distinct tags (default 1)",
        "again": "roll back further although ENV already runs a held rollback's target",
        "hold": "hold the environment so automation does not undo the rollback (default)",
        "emergency": "also print (and with --yes run) kubectl set image, for when Argo CD is down",
        "pr": "open a pull request instead of pushing to the branch",
        "auto_merge": "enable auto-merge on that pull request",
        "yes": "do not ask for confirmation; with --emergency, run kubectl",
        "dry_run": "pick the target and show the change, change nothing",
        **CHANGE_HELP,
    }
)
def rollback(
    c: Context,
    env: str,
    to: str | None = None,
    steps: int | None = None,
    again: bool = False,
    hold: bool = True,
    emergency: bool = False,
    pr: bool = False,
    auto_merge: bool = False,
    skip_registry_check: bool = False,
    yes: bool = False,
    dry_run: bool = False,
    repo: str | None = None,
) -> None:
    """Roll ENV back to an earlier image and (by default) hold it there."""
    from dexops import console
    from dexops.workflows.deploy import render_warnings
    from dexops.workflows.rollback import apply_rollback, emergency_commands, plan_rollback
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    plan = plan_rollback(
        ws,
        env=env,
        to=to,
        steps=steps,
        again=again,
        hold=hold,
        skip_registry_check=skip_registry_check,
    )
    console.warn_each(plan.warnings)
    commands = emergency_commands(ws, plan) if emergency else []
    if plan.held is not None:
        console.say(
            f"{env} is already rolled back to {plan.tag} (held since {plan.held.commit[:8]}); "
            "nothing to roll back in git (pass --again to roll back further)"
        )
    elif plan.unchanged:
        console.say(f"{env} already runs {plan.tag}; nothing to roll back in git")
    else:
        console.say(f"rollback {env}: {plan.state.tag} -> {plan.tag}" + (" (hold)" if hold else ""))
        console.say(plan.diff.rstrip("\n"))
    for command in commands:
        console.say("  " + " ".join(command))
    if dry_run:
        if not plan.unchanged:
            console.would(
                f"commit 'fix: rollback {env} to {plan.tag}' and "
                + ("open a pull request" if pr else f"push it to {plan.state.env.branch}")
            )
        if commands:
            console.would("run the kubectl commands above")
        return
    if not plan.unchanged:
        confirm(f"Roll {env} back to {plan.tag}?", yes=yes)
    if commands and not yes:
        console.say("kubectl commands not run (pass --yes to run them)")
    console.warn_each(render_warnings() if not plan.unchanged else ())
    result = apply_rollback(
        ws,
        plan,
        pr=pr,
        auto_merge=auto_merge,
        kubectl=commands if yes else (),
        on_output=console.say,
    )
    tell_change(result, branch=plan.state.env.branch, env=env, tag=plan.tag)
    if result.outcome == "pushed" and hold:
        release = invocation.command(f"hold.release --env {env}")
        console.say(f"{env} is on hold; release it with: {release}")

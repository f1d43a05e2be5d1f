"""GitOps tasks: `promote`, `rollback`, `status`, `history` and the `hold` collection."""

from __future__ import annotations

import sys

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task


def _confirm(question: str, *, yes: bool) -> None:
    """Ask on a terminal unless --yes; without a terminal never wait for input."""
    from dexops.errors import DexopsError

    if yes or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    try:
        answer = input(f"{question} [y/N] ").strip().lower()
    except EOFError:  # Ctrl-D at the prompt is a "no", not a traceback
        sys.stdout.write("\n")
        answer = ""
    if answer not in ("y", "yes"):
        raise DexopsError("not confirmed; nothing was changed (pass --yes to skip the question)")


@task(
    help={
        "from_env": "source environment (default: the target's promote-from)",
        "to_env": "target environment",
        "image_tag": "tag to promote (default: what the source runs)",
        "force": "promote a tag the source does not run, or from another source",
        "auto_merge": "enable auto-merge on the pull request",
        "direct": "commit and push to the target's branch instead of opening a PR",
        "skip_registry_check": "do not ask the registry whether the image exists",
        "yes": "do not ask for confirmation on a terminal",
        "dry_run": "check the gates and show the change, change nothing",
        "repo": "target repository root",
    }
)
def promote(
    c: Context,
    to_env: str,
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
    """Promote the image the source environment runs to TO_ENV (a pull request by default)."""
    from dexops import actions, console
    from dexops.workflows.promote import apply_promotion, plan_promotion
    from dexops.workspace import Workspace

    ws = Workspace.open(repo)
    plan = plan_promotion(
        ws,
        from_env=from_env,
        to_env=to_env,
        tag=image_tag,
        force=force,
        skip_registry_check=skip_registry_check,
    )
    if plan.unchanged:
        console.say(f"{to_env} already runs {plan.tag}; nothing to promote")
        return
    console.say(f"promote {plan.tag}: {plan.source.env.name} -> {to_env}")
    console.say(plan.diff.rstrip("\n"))
    where = f"push it to {plan.target.env.branch}" if direct else f"open a PR from {plan.branch}"
    if dry_run:
        console.would(f"commit '{plan.title}' and {where}")
        return
    _confirm(f"Promote {plan.tag} to {to_env} ({where})?", yes=yes)
    result = apply_promotion(ws, plan, direct=direct, auto_merge=auto_merge)
    actions.set_output("outcome", result.outcome)
    if result.outcome == "pushed":
        actions.set_output("commit", result.commit or "")
        console.say(f"pushed {result.commit} to {plan.target.env.branch}: {to_env} -> {plan.tag}")
    elif result.proposal is not None:
        console.say(result.proposal.describe())
    else:
        console.say(f"{to_env} already runs {plan.tag}; nothing to promote")


def _steps(value: str | None) -> int | None:
    """`--steps N` as a number; None when the flag was not given."""
    from dexops.workflows.promote import GateError

    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise GateError(f"--steps must be a whole number, not {value!r}") from None


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
        "skip_registry_check": "do not ask the registry whether the image exists",
        "yes": "do not ask for confirmation; with --emergency, run kubectl",
        "dry_run": "pick the target and show the change, change nothing",
        "repo": "target repository root",
    }
)
def rollback(
    c: Context,
    env: str,
    to: str | None = None,
    steps: str | None = None,
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
    from dexops import actions, console
    from dexops.workflows.rollback import apply_rollback, emergency_commands, plan_rollback
    from dexops.workspace import Workspace

    count = _steps(steps)
    ws = Workspace.open(repo)
    plan = plan_rollback(
        ws,
        env=env,
        to=to,
        steps=count,
        again=again,
        hold=hold,
        skip_registry_check=skip_registry_check,
    )
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
        _confirm(f"Roll {env} back to {plan.tag}?", yes=yes)
    if commands and not yes:
        console.say("kubectl commands not run (pass --yes to run them)")
    result = apply_rollback(ws, plan, pr=pr, auto_merge=auto_merge, kubectl=commands if yes else ())
    actions.set_output("outcome", result.outcome)
    if result.outcome == "pushed":
        actions.set_output("commit", result.commit or "")
        console.say(f"pushed {result.commit} to {plan.state.env.branch}: {env} -> {plan.tag}")
        if hold:
            console.say(f"{env} is on hold; release it with: invoke hold.release --env {env}")
    elif result.proposal is not None:
        console.say(result.proposal.describe())


@task(
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
    from dexops.workspace import Workspace

    rows = environment_status(Workspace.open(repo), env or None)
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
            f"{r.drift} {r.source}" if r.drift and r.source else "-",
        ]
        if argo:
            cells += [r.sync or "-", r.health or "-"]
        table.append(cells)
    console.table(headers, table)


@task(
    help={
        "env": "environment whose overlay history to show",
        "limit": "show at most this many entries (default 20; 0 for all)",
        "all": "list every revision of the overlay, not only image changes",
        "json": "print JSON",
        "repo": "target repository root",
    }
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
    from dexops.deploy_history import deployments
    from dexops.workflows.environments import fetch, read_history
    from dexops.workspace import Workspace

    if limit < 0:
        from dexops.errors import DexopsError

        raise DexopsError(f"--limit must be 0 (all) or more, not {limit}")
    ws = Workspace.open(repo)
    environment = ws.config.environment(env)
    fetch(ws, [environment])
    revisions = read_history(ws, environment)
    shown = revisions if all else deployments(revisions)
    if limit > 0:
        shown = shown[:limit]
    if json:
        console.emit_json([r.as_json() for r in shown])
        return
    console.table(
        ["date", "commit", "kind", "tag", "digest", "author", "subject"],
        [
            [
                r.date,
                r.commit[:8],
                r.kind,
                r.tag or "-",
                (r.digest or "-")[:19],
                r.author,
                r.subject[:60],
            ]
            for r in shown
        ],
        title=f"{env}: {environment.kustomization} on origin/{environment.branch}",
    )


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
    from dexops.workspace import Workspace

    result = release_hold(Workspace.open(repo), env=env, dry_run=dry_run)
    record = result.record
    if result.outcome == "not-held" or record is None:
        console.say(f"{env} is not on hold")
    elif result.outcome == "would-release":
        console.would(f"release the hold set by {record.commit[:8]} on {env}")
    else:
        console.say(f"released the hold on {env} ({result.commit})")


def install(ns: Collection) -> None:
    """Add the top-level GitOps tasks and the `hold` collection to a namespace."""
    for body in (promote, rollback, status, history):
        ns.add_task(body)
    ns.add_collection(Collection("hold", release))

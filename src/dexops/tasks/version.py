"""`version.*` tasks: show, changed, bump."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task


@task(
    read_only=True, help={"json": "print JSON instead of a table", "repo": "target repository root"}
)
def show(c: Context, json: bool = False, repo: str | None = None) -> None:
    """Show each component's version, latest tag, and commits since it."""
    from dexops import console
    from dexops.workflows.versions import version_status
    from dexops.workflows.workspace import Workspace

    rows = version_status(Workspace.open(repo))
    if json:
        console.emit_json([row.as_json() for row in rows])
        return
    console.table(
        ["component", "kind", "version", "latest tag", "tag at HEAD", "commits since tag"],
        [
            [
                r.component,
                r.kind,
                r.version,
                r.latest_tag or "-",
                "yes" if r.tag_at_head else "no",
                "-" if r.commits_since_tag is None else r.commits_since_tag,
            ]
            for r in rows
        ],
    )


@task(
    read_only=True,
    help={
        "base": "compare against this revision (default: HEAD~1, or the event's base in Actions)",
        "json": "print JSON",
        "repo": "target repository root",
    },
)
def changed(
    c: Context, base: str | None = None, json: bool = False, repo: str | None = None
) -> None:
    """List components whose version differs between BASE and HEAD."""
    from dexops import console, github_actions
    from dexops.workflows.versions import version_changes
    from dexops.workflows.workspace import Workspace

    chosen, changes = version_changes(Workspace.open(repo), base)
    changed_names = [ch.component for ch in changes if ch.changed]
    github_actions.set_output("changed", changed_names)
    github_actions.set_output("any", "true" if changed_names else "false")
    if json:
        console.emit_json(
            {"base": chosen, "changes": [ch.as_json() for ch in changes], "changed": changed_names}
        )
        return
    console.table(
        ["component", f"at {chosen or '(none)'}", "at HEAD", "changed"],
        [
            [ch.component, ch.before or "-", ch.after, "yes" if ch.changed else "no"]
            for ch in changes
        ],
    )


@task(
    positional=["component"],
    help={
        "part": "major | minor | patch | pre | release",
        "to": "set this exact version instead of --part",
        "commit": "commit the change (default); --no-commit only edits the file",
        "dry_run": "show the diff, change nothing",
        "repo": "target repository root",
    },
)
def bump(
    c: Context,
    component: str,
    part: str | None = None,
    to: str | None = None,
    commit: bool = True,
    dry_run: bool = False,
    repo: str | None = None,
) -> None:
    """Bump COMPONENT's version (PEP 440) in the file that holds it, keeping its format."""
    from dexops import console
    from dexops.domain.versioning import BUMP_PARTS
    from dexops.errors import VersionError
    from dexops.workflows.bump import apply_bump, commit_bump, plan_bump
    from dexops.workflows.workspace import Workspace

    if part is not None and part not in BUMP_PARTS:
        raise VersionError(f"unknown --part {part!r}; use one of {', '.join(BUMP_PARTS)}")
    ws = Workspace.open(repo)
    plan = plan_bump(ws, component, part=part, to=to)
    console.say(plan.diff.rstrip("\n"))
    if dry_run:
        shown = ", ".join(plan.files)
        console.would(f"write {shown}" + (" and commit it" if commit else ""))
        return
    if commit:
        commit_bump(ws, plan)
        console.say(f"{plan.component}: {plan.current} -> {plan.new} (committed)")
    else:
        apply_bump(ws, plan)
        shown = ", ".join(plan.files)
        console.say(f"{plan.component}: {plan.current} -> {plan.new} ({shown} edited)")


def collection() -> Collection:
    """The `version` collection."""
    return Collection("version", show, changed, bump)

"""`release.*` tasks: one per configured component, and `release.all`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dexops.workflows.release import ReleaseRun

HELP = {
    "dry_run": "print the tag, commit, notes, files to record, git commands and HTTP calls; "
    "build and change nothing",
    "json": "print a JSON report",
    "repo": "target repository root",
    "plan": "a `pipeline.plan --output` file; refuse to act if the repository no longer matches it",
}


def _run(
    name: str | None, *, dry_run: bool, json: bool, repo: str | None, plan: str | None = None
) -> None:
    from dexops.workflows.release import release_components
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    if plan is not None:
        from dexops.workflows.pipeline import require_planned

        require_planned(ws, plan, "releases", name, "release", also=("released",))
    run = release_components(ws, name, dry_run=dry_run)
    if json:
        from dexops import console

        console.emit_json(run.as_json())
    else:
        _print(run)
    if not dry_run:
        _report_to_actions(run)


def _print(run: ReleaseRun) -> None:
    from dexops import console

    for line in run.skipped:
        console.say(line)
    if not run.plans:
        console.say("nothing to release: every component's version is already tagged")
    elif run.dry_run:
        _print_plan(run)
    else:
        _print_results(run)


def _print_plan(run: ReleaseRun) -> None:
    from dexops import console

    for plan in run.plans:
        state = "already on origin" if plan.released else "new"
        if plan.local_tag is not None and not plan.released:
            state = "exists locally, not on origin"
        console.say(f"release {plan.title}")
        console.say(f"  tag:      {plan.tag} ({state})")
        console.say(f"  commit:   {plan.commit} ({plan.branch})")
        console.say(f"  previous: {plan.previous or '(none)'}")
        console.say(f"  notes ({plan.notes_source}):")
        for line in plan.notes.splitlines():
            console.say(f"    {line}".rstrip())
        record = run.records.get(plan.tag)
        if record is not None:
            console.say(f"  records:  {record.reason}")
            if record.build:
                console.would(
                    f"build {record.project} {record.version} from {record.commit[:12]} in a "
                    "temporary folder (not built by this dry run)"
                )
            if record.build and plan.create_tag:
                console.would(
                    f"record the sha256 of {', '.join(record.files)} in the tag {plan.tag}"
                )
            if record.assets:
                console.would(f"attach {', '.join(record.assets)} to the GitHub release")
    for command in run.commands:
        console.would(f"run: git {' '.join(command)}")
    for call in run.calls:
        console.would(f"call: {call}")
    if run.target.forge is None:
        console.would("not create GitHub releases: no GITHUB_TOKEN or GH_TOKEN")


def _print_results(run: ReleaseRun) -> None:
    from dexops import console

    for result in run.results:
        plan = result.plan
        if result.tag_created:
            console.say(f"{plan.title}: created tag {plan.tag} on {plan.commit[:12]}")
        elif plan.released:
            console.say(f"{plan.title}: {plan.tag} is already on origin at HEAD; nothing to push")
        else:
            console.say(f"{plan.title}: tag {plan.tag} already exists at HEAD")
        if result.tag_pushed:
            also = f" with {plan.branch}" if result.branch_pushed else ""
            console.say(f"{plan.title}: pushed {plan.tag}{also} to origin")
        if plan.digests and result.tag_created:
            console.say(f"{plan.title}: the tag records the sha256 of {', '.join(plan.digests)}")
        if result.release_created:
            console.say(f"{plan.title}: created GitHub release {result.release_url}")
        if result.assets_attached:
            console.say(f"{plan.title}: attached {', '.join(result.assets_attached)}")
        for message in result.messages:
            console.say(f"{plan.title}: {message}")


def _report_to_actions(run: ReleaseRun) -> None:
    from dexops import github_actions

    if not github_actions.active():
        return
    results = run.results
    if len(results) == 1:
        only = results[0]
        github_actions.set_output("tag", only.plan.tag)
        github_actions.set_output("version", str(only.plan.version))
        github_actions.set_output("created", "true" if only.created else "false")
        github_actions.set_output("release-url", only.release_url or "")
    github_actions.set_output("tags", [r.plan.tag for r in results])
    github_actions.set_output("any-created", "true" if any(r.created for r in results) else "false")
    rows = [
        [
            r.plan.component,
            r.plan.version,
            f"`{r.plan.tag}`",
            "created" if r.created else "already released",
            r.release_url or "(annotated tag)",
        ]
        for r in results
    ]
    summary = "### Releases\n\n" + github_actions.markdown_table(
        ["component", "version", "tag", "state", "GitHub release"], rows
    )
    for r in results:
        summary += f"\n#### {r.plan.title}\n\n{r.plan.notes}\n"
    github_actions.add_summary(summary)


@task(help=HELP)
def all_(
    c: Context,
    dry_run: bool = False,
    json: bool = False,
    repo: str | None = None,
    plan: str | None = None,
) -> None:
    """Release every component whose version has no tag yet (one atomic push)."""
    _run(None, dry_run=dry_run, json=json, repo=repo, plan=plan)


def _component_task(name: str) -> Any:  # noqa: ANN401 - an invoke Task
    def body(
        c: Context,
        dry_run: bool = False,
        json: bool = False,
        repo: str | None = None,
        plan: str | None = None,
    ) -> None:
        _run(name, dry_run=dry_run, json=json, repo=repo, plan=plan)

    body.__name__ = name
    body.__doc__ = f"Tag {name}'s version, push the tag and create its GitHub release."
    return task(help=HELP)(body)


def collection(repo: str | None = None) -> Collection:
    """The `release` collection: `all`, plus one task per component of `repo`'s configuration."""
    return named_collection(component_names(repo))


def component_names(repo: str | None) -> list[str]:
    """The components of `repo`'s configuration; none where it cannot be read."""
    from dexops.errors import DexopsError
    from dexops.workflows.workspace import Workspace

    try:
        config = Workspace.open(repo).config
    except DexopsError:
        # `invoke --list` must work anywhere; `release.all` reports the error when run.
        return []
    return list(config.components)


def named_collection(components: Iterable[str]) -> Collection:
    """The `release` collection: `all`, plus one task per name of `components`."""
    from dexops.domain.config import task_name

    coll = Collection("release")
    coll.add_task(all_, name="all")
    for name in components:
        if name != "all":
            # A dot would make invoke read the name as a sub-collection.
            coll.add_task(_component_task(name), name=task_name(name))
    return coll

"""`publish.<component>` tasks: one per library component of the configuration."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dexops.adapters.package_index import UploadProgress
    from dexops.workflows.publish import PublishPlan

HELP = {
    "tag": "the release tag to publish (default: the component's tag at HEAD)",
    "dry_run": "build, check and read the indexes; show each index's decision; upload nothing",
    "json": "print the plan as JSON",
    "build_only": "build, check, read the indexes and leave the missing files for another "
    "uploader (trusted publishing) in OUT/<index>/; upload nothing",
    "out": "with --build-only: where to leave the files (default: dist/<component>)",
    "repo": "target repository root",
    "plan": "a `pipeline.plan --output` file; refuse a publish it did not decide",
}


def _run(
    name: str,
    *,
    tag: str | None,
    dry_run: bool,
    json: bool,
    build_only: bool,
    out: str | None,
    repo: str | None,
    pipeline_plan: str | None = None,
) -> None:
    from pathlib import Path

    from dexops import console
    from dexops.workflows.publish import plan_and_publish
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    if pipeline_plan is not None:
        from dexops.workflows.pipeline import require_planned

        require_planned(ws, pipeline_plan, "publishes", name, "publish")
    # With --json stdout is the plan alone: the progress goes to stderr.
    with _UploadsShown(name, stderr=json) as shown:
        plan = plan_and_publish(
            ws,
            name,
            tag=tag,
            dry_run=dry_run,
            build_only=build_only,
            out=Path(out).resolve() if out else None,
            on_progress=shown,
        )
    _report_to_actions(plan)
    if json:
        console.emit_json(plan.as_json())
    else:
        _print(plan)


class _UploadsShown(contextlib.ExitStack):
    """Show each file's upload as it starts and ends; one `::group::` per index under Actions."""

    def __init__(self, component: str, *, stderr: bool) -> None:
        super().__init__()
        self.component = component
        self.stderr = stderr
        self.index: str | None = None

    def __call__(self, event: UploadProgress) -> None:
        from dexops import console, github_actions
        from dexops.adapters.package_index import UploadStarted
        from dexops.domain.distributions import size_text

        line = (
            f"upload {event.position}/{event.count} to {event.index}: "
            f"{event.filename} ({size_text(event.size)})"
        )
        if isinstance(event, UploadStarted):
            if event.index != self.index:
                self.close()  # the previous index's group
                self.index = event.index
                title = f"publish {self.component}: upload to {event.index}"
                self.enter_context(github_actions.group(title, stdout=not self.stderr))
            console.progress(f"{line} …", stderr=self.stderr)
        else:
            console.progress(f"{line} done in {event.seconds:.1f}s", stderr=self.stderr)


def _print(plan: PublishPlan) -> None:
    from dexops import console
    from dexops.workflows.package import TABLE_HEADERS

    tag = plan.tag
    if tag is not None:
        console.say(f"{plan.component} {tag.version} (tag {tag.name} at {tag.commit[:12]})")
    if plan.decision == "skip":
        console.say(f"skip: {plan.reason}")
        return
    if plan.report is not None:
        console.table(TABLE_HEADERS, plan.report.rows())
    for target in plan.targets:
        label = f"{target.index.name} ({target.index.role})"
        if target.action == "not-eligible":
            console.say(f"{label}: not published: {target.reason}")
            continue
        for comparison in target.files:
            name = comparison.file.filename
            if comparison.status == "present":
                console.say(f"{label}: skip {name}: already there, same sha256")
            elif name in target.uploaded:
                console.say(f"{label}: uploaded {name}")
            elif plan.build_only:
                where = target.dist_dir or "(dry run: not copied)"
                console.say(f"{label}: {name} left for upload in {where}")
            else:
                console.would(f"upload {name} to {label} at {target.index.upload_url}")
    console.say(f"publish: {plan.reason}")


def _report_to_actions(plan: PublishPlan) -> None:
    from dexops import github_actions

    github_actions.set_output("decision", plan.decision)
    github_actions.set_output("reason", plan.reason)
    github_actions.set_output("tag", plan.tag.name if plan.tag else "")
    github_actions.set_output("version", str(plan.tag.version) if plan.tag else "")
    github_actions.set_output("stable", "true" if plan.stable else "false")
    for target in plan.targets:
        role = target.index.role
        github_actions.set_output(
            f"{role}-upload", "true" if target.action == "upload" else "false"
        )
        github_actions.set_output(f"{role}-dist-dir", str(target.dist_dir or ""))
    github_actions.set_output("plan", plan.as_json())
    rows = [[t.index.name, t.index.role, t.action, t.reason] for t in plan.targets] or [
        ["-", "-", plan.decision, plan.reason]
    ]
    title = f"### Publish {plan.component} {plan.tag.version if plan.tag else ''}".rstrip()
    decision = f"**{plan.decision}**: {plan.reason}\n\n"
    github_actions.add_summary(
        f"{title}\n\n{decision}"
        + github_actions.markdown_table(["index", "role", "action", "reason"], rows)
    )


def _component_task(name: str) -> Any:  # noqa: ANN401 - an invoke Task
    def body(
        c: Context,
        tag: str | None = None,
        dry_run: bool = False,
        json: bool = False,
        build_only: bool = False,
        out: str | None = None,
        repo: str | None = None,
        plan: str | None = None,
    ) -> None:
        _run(
            name,
            tag=tag,
            dry_run=dry_run,
            json=json,
            build_only=build_only,
            out=out,
            repo=repo,
            pipeline_plan=plan,
        )

    body.__name__ = name
    body.__doc__ = (
        f"Publish {name}'s release tag: test index first, production for stable versions."
    )
    return task(help=HELP)(body)


def component_names(repo: str | None) -> list[str]:
    """Library components of the target repository, read leniently.

    A configuration that does not validate still names its libraries, so running
    `publish.<name>` reports the configuration error instead of "no such task".
    """
    import os
    import tomllib
    from pathlib import Path

    from dexops.errors import DexopsError
    from dexops.workflows.workspace import REPO_ENV, Workspace, find_root

    try:
        return [c.name for c in Workspace.open(repo).config.libraries()]
    except DexopsError:
        pass
    try:
        named = repo or os.environ.get(REPO_ENV)
        root = Path(named).resolve() if named else find_root(Path.cwd().resolve())
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        components = data["tool"]["dexops"]["components"]
        return [
            name
            for name, table in components.items()
            if isinstance(table, dict) and table.get("kind") == "library"
        ]
    except (DexopsError, OSError, ValueError, KeyError, TypeError, AttributeError):
        # `invoke --list` must work anywhere; there is simply nothing to publish here.
        return []


def collection(repo: str | None = None) -> Collection:
    """The `publish` collection: one task per library component of `repo`'s configuration."""
    return named_collection(component_names(repo))


def named_collection(components: Iterable[str]) -> Collection:
    """The `publish` collection: one task per name of `components`."""
    from dexops.domain.config import task_name

    coll = Collection("publish")
    for name in components:
        # A dot would make invoke read the name as a sub-collection.
        coll.add_task(_component_task(name), name=task_name(name))
    return coll

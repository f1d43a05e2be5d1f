"""`pipeline.plan`: the whole pipeline's decisions for the pushed commit, computed once."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "base": "compare against this revision (default: HEAD~1, or the event's base in Actions)",
        "branch": "the branch being built (default: the checked-out one, or the Actions ref)",
        "json": "print the plan as JSON (the release and publish matrices included)",
        "output": "also write the JSON plan to this file, for `--plan` of the apply tasks",
        "repo": "target repository root",
    }
)
def plan(
    c: Context,
    base: str | None = None,
    branch: str | None = None,
    json: bool = False,
    output: str | None = None,
    repo: str | None = None,
) -> None:
    """Plan releases, publishes, image builds and environment updates for HEAD."""
    import json as jsonlib
    from pathlib import Path

    from dexops import console, github_actions
    from dexops.workflows.pipeline import plan_pipeline, summary_markdown
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    made = plan_pipeline(ws, base=base or None, branch=branch)
    document = made.as_json()
    if output:
        Path(output).write_text(jsonlib.dumps(document, indent=2) + "\n", encoding="utf-8")
    for name, value in made.outputs().items():
        github_actions.set_output(name, value)
    github_actions.add_summary(summary_markdown(made))
    if json:
        console.emit_json(document)
        return
    console.say(
        f"plan for {made.commit[:8]} on {made.branch or 'a detached HEAD'} "
        f"(digest {made.digest[:12]})"
    )
    console.table(
        ["component", "version", "tag", "release"],
        [[r.component, r.version, r.tag, f"{r.action}: {r.reason}"] for r in made.releases],
        title="releases",
    )
    if made.publishes:
        console.table(
            ["component", "tag", "publish", "test index", "production index"],
            [
                [
                    p.component,
                    p.tag,
                    f"{p.action}: {p.reason}",
                    p.test_index or "-",
                    p.production_index or "-",
                ]
                for p in made.publishes
            ],
            title="publishing",
        )
    if made.images:
        console.table(
            ["component", "tags", "build"],
            [[i.component, ", ".join(i.tags), f"{i.action}: {i.reason}"] for i in made.images],
            title="images",
        )
    if made.environments:
        console.table(
            ["environment", "branch", "runs", "action"],
            [
                [e.environment, e.branch, e.current_tag or "-", f"{e.action}: {e.reason}"]
                for e in made.environments
            ],
            title="environments",
        )


def collection() -> Collection:
    """The `pipeline` collection."""
    return Collection("pipeline", plan)

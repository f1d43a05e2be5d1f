"""What the tasks that change an environment's overlay share (promote, rollback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dexops.workflows.branch_edit import Change

# The help of the flags such a task has that mean the same in each of them.
CHANGE_HELP = {
    "skip_registry_check": "do not ask the registry whether the image exists",
    "repo": "target repository root",
}


def tell_change(
    change: Change, *, branch: str, env: str, tag: str, unchanged: str | None = None
) -> None:
    """Say how the change reached origin, and write it as the step's outputs."""
    from dexops import console, github_actions

    github_actions.set_output("outcome", change.outcome)
    if change.outcome == "pushed":
        github_actions.set_output("commit", change.commit or "")
        console.say(f"pushed {change.commit} to {branch}: {env} -> {tag}")
    elif change.proposal is not None:
        console.say(change.proposal.describe())
    elif unchanged is not None:
        console.say(unchanged)

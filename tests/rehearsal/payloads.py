"""Event payloads shaped like GitHub's, built from the local origin's refs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.rehearsal.model import RunResult
from tests.rehearsal.origin import ZERO_SHA, Origin


def push(origin: Path, ref: str, *, before: str | None = None) -> dict[str, Any]:
    """A push of `ref` (refs/heads/… or refs/tags/…) at its current commit in the origin."""
    repo = Origin(origin)
    after = repo.resolve(ref)
    if after is None:
        raise ValueError(f"{ref} is not in {origin}")
    if before is None:
        before = repo.resolve(f"{after}^") or ZERO_SHA
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO_SHA,
        "deleted": False,
        "head_commit": {"id": after},
        "sender": {"login": "rehearsal-bot"},
    }


def pull_request(
    origin: Path,
    *,
    number: int,
    head: str,
    base: str,
    action: str = "opened",
    labels: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A pull_request event for branch `head` into `base`."""
    repo = Origin(origin)
    head_sha, base_sha = repo.resolve(f"refs/heads/{head}"), repo.resolve(f"refs/heads/{base}")
    if head_sha is None or base_sha is None:
        raise ValueError(f"{head} or {base} is not a branch of {origin}")
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": head, "sha": head_sha},
            "base": {"ref": base, "sha": base_sha},
            "labels": [{"name": label} for label in labels],
            "draft": False,
        },
        "sender": {"login": "rehearsal-bot"},
    }


def workflow_run(
    after: RunResult, *, action: str = "completed", head_branch: str | None = None
) -> dict[str, Any]:
    """The workflow_run event a finished rehearsal would send to the workflows it triggers."""
    branch = head_branch or after.head_branch
    return {
        "action": action,
        "workflow_run": {
            "id": after.run_id,
            "name": after.workflow,
            "event": after.event_name,
            "status": "completed" if action == "completed" else "in_progress",
            "conclusion": after.conclusion if action == "completed" else None,
            "head_branch": branch,
            "head_sha": after.head_sha,
            "path": f".github/workflows/{after.path.name}",
            "run_number": after.run_id - 1000,
        },
        "workflow": {"name": after.workflow, "path": f".github/workflows/{after.path.name}"},
        "sender": {"login": "rehearsal-bot"},
    }


def release(tag: str, *, prerelease: bool = False, action: str = "published") -> dict[str, Any]:
    """A release event for a tag."""
    return {
        "action": action,
        "release": {"tag_name": tag, "name": tag, "prerelease": prerelease, "draft": False},
        "sender": {"login": "rehearsal-bot"},
    }


def dispatch(ref: str = "refs/heads/main", **inputs: Any) -> dict[str, Any]:
    """A workflow_dispatch event on `ref` with inputs."""
    return {"ref": ref, "inputs": inputs, "sender": {"login": "rehearsal-bot"}}

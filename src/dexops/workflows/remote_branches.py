"""Origin's branches as read: fetched into remote-tracking refs, whole even in a shallow clone.

Reading only: the tasks that edit a branch do so through `branch_edit`.
"""

from __future__ import annotations

from dexops.adapters.git import Git, first_line
from dexops.errors import DexopsError, GitError

REMOTE = "origin"


def remote_ref(branch: str) -> str:
    """The remote-tracking ref of a branch."""
    return f"refs/remotes/{REMOTE}/{branch}"


def fetch_branches(git: Git, branches: list[str]) -> None:
    """Fetch branches from origin into their remote-tracking refs (one git process)."""
    for branch in branches:
        git.check_ref_name(branch)
    specs = [f"+refs/heads/{b}:{remote_ref(b)}" for b in dict.fromkeys(branches)]
    done = git.call("fetch", "--quiet", "--no-tags", REMOTE, *specs)
    if done.code != 0:
        missing = [b for b in branches if f"refs/heads/{b}" in done.stderr]
        if "couldn't find remote ref" in done.stderr and missing:
            raise GitError(f"{REMOTE} has no branch {missing[0]!r}")
        git.run("fetch", "--quiet", "--no-tags", REMOTE, *specs)


class ShallowHistoryError(DexopsError):
    """A shallow clone's history could not be completed for a task that reads it."""


def complete_history(git: Git, branches: list[str]) -> None:
    """Make origin's `branches` whole in a shallow clone (`--unshallow`), or refuse.

    A task that reads history (holds, deployments, metrics) never answers from a clone
    cut short: a rollback hold older than the cut would be invisible.
    """
    if not git.is_shallow():
        return
    specs = [f"+refs/heads/{b}:{remote_ref(b)}" for b in dict.fromkeys(branches)]
    done = git.unshallow(REMOTE, specs)
    cut = [b for b in dict.fromkeys(branches) if _cut_short(git, b)]
    if done.code != 0 or cut:
        reason = first_line(done.stderr) or f"origin/{(cut or branches)[0]} is still cut short"
        raise ShallowHistoryError(
            f"this is a shallow clone and its history could not be completed ({reason}); "
            "clone with full history (actions/checkout: fetch-depth: 0)"
        )


def _cut_short(git: Git, branch: str) -> bool:
    """Whether a shallow boundary commit lies in origin's `branch`."""
    return any(git.is_ancestor(c, remote_ref(branch)) for c in git.shallow_boundary())


def decode_text(data: bytes, where: str) -> str:
    """A file's bytes as text; `where` (`<file> on origin/<branch>`) names it when not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DexopsError(f"{where} is not UTF-8") from None


def tip(git: Git, branch: str) -> str:
    """The commit origin's `branch` pointed at when last fetched."""
    commit = git.resolve(remote_ref(branch))
    if commit is None:
        raise GitError(f"{REMOTE} has no branch {branch!r} (fetched: none)")
    return commit

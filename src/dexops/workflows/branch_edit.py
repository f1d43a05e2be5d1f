"""Commits on a branch as the remote has it, made with plumbing: the checkout is never touched.

A `Staging` is a temporary index seeded from the remote tip (`read-tree`); edited files
become blobs (`hash-object -w`), commits are made with `commit-tree`, and the result is
pushed as `<commit>:refs/heads/<branch>`. HEAD, the index, the working tree and local
branches stay as they were whatever happens; the only things left behind on failure are
unreachable objects, which `git gc` collects.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dexops.adapters.git import Git
from dexops.adapters.github import github_from_env
from dexops.errors import DexopsError, GitError, PushRejectedError
from dexops.workflows.remote_branches import REMOTE, decode_text, fetch_branches, remote_ref, tip

if TYPE_CHECKING:
    from dexops.adapters.github import PullRequest

ATTEMPTS = 6
# Identity used when neither git config nor the environment names one (fresh CI runners).
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "dexops",
    "GIT_AUTHOR_EMAIL": "dexops@localhost",
    "GIT_COMMITTER_NAME": "dexops",
    "GIT_COMMITTER_EMAIL": "dexops@localhost",
}

_pause: Callable[[float], None] = time.sleep


def _identity(git: Git) -> dict[str, str]:
    if git.call("var", "GIT_COMMITTER_IDENT").code == 0 and git.ok("var", "GIT_AUTHOR_IDENT"):
        return {}
    return dict(FALLBACK_IDENTITY)


class Staging:
    """A temporary index on top of a commit; commits made here chain on each other."""

    def __init__(self, git: Git, directory: Path, base: str, *, sign: bool = False) -> None:
        self.git = git
        self.directory = directory
        self.base = base
        self.head = base
        self.sign = sign
        self.changed: dict[str, str] = {}
        self._env = {"GIT_INDEX_FILE": str(directory / "index"), **_identity(git)}
        git.run("read-tree", base, env=self._env)

    def text(self, path: str) -> str | None:
        """A file's text as staged (the base commit's, unless written here)."""
        if path in self.changed:
            return self.changed[path]
        blob = self.git.read_objects([f"{self.base}:{path}"]).get(f"{self.base}:{path}")
        if blob is None:
            return None
        return decode_text(blob, f"{path} at commit {self.base[:12]}")

    def write(self, path: str, text: str) -> None:
        """Stage new contents for a file that exists in the base commit (its mode kept)."""
        listing = self.git.run("ls-files", "--stage", "--", path, env=self._env)
        mode = listing.split(" ", 1)[0] if listing else "100644"
        blob = self.git.run("hash-object", "-w", "--stdin", input_text=text)
        # `--cacheinfo` takes a path from git's top level, not from the root as `path` is.
        entry = f"{mode},{blob},{self.git.prefix()}{path}"
        self.git.run("update-index", "--add", "--cacheinfo", entry, env=self._env)
        self.changed[path] = text

    def commit(self, message: str) -> str:
        """Commit the staged tree on top of the last commit made here; return its id."""
        tree = self.git.run("write-tree", env=self._env)
        args = ["commit-tree", tree, "-p", self.head, "-F", "-"]
        if self.sign:
            args.insert(1, "-S")
        self.head = self.git.run(*args, input_text=message, env=self._env)
        return self.head

    def checkout(self, destination: Path) -> Path:
        """Write the staged tree's files under `destination`; return where the root lies in it."""
        destination.mkdir(parents=True, exist_ok=True)
        self.git.run("checkout-index", "--all", f"--prefix={destination}/", env=self._env)
        return destination / self.git.prefix()


@dataclass(frozen=True)
class Landing:
    """What `land` did: the pushed commit (None when nothing was needed) and on which tip."""

    commit: str | None
    base: str
    attempts: int


def moved(git: Git, branch: str, base: str) -> bool:
    """Whether origin's branch has moved away from `base` (a lost race, not a refusal)."""
    try:
        fetch_branches(git, [branch])
    except GitError:
        return False
    return git.resolve(remote_ref(branch)) != base


def land(
    git: Git,
    branch: str,
    build: Callable[[str], str | None],
    *,
    attempts: int = ATTEMPTS,
) -> Landing:
    """Build a commit on origin's tip of `branch` and push it, rebuilding when the push races.

    `build(tip)` returns the commit to push, or None when the tip already is as wanted.
    A refusal that is not a race (a protected branch, a hook) raises `PushRejectedError`.
    """
    fetch_branches(git, [branch])
    for attempt in range(1, attempts + 1):
        base = tip(git, branch)
        commit = build(base)
        if commit is None:
            return Landing(None, base, attempt)
        try:
            git.push(REMOTE, f"{commit}:refs/heads/{branch}")
        except PushRejectedError as exc:
            if not (exc.non_fast_forward or moved(git, branch, base)):
                raise
            if attempt == attempts:
                raise GitError(
                    f"gave up pushing to {branch} after {attempts} attempts: the branch kept moving"
                ) from None
            # Jitter keeps several racing CI jobs from colliding again in lockstep.
            _pause(random.uniform(0.05, 0.3) * attempt)  # noqa: S311 - not cryptographic
            fetch_branches(git, [branch])
            continue
        return Landing(commit, base, attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def push_side_branch(git: Git, name: str, commit: str) -> bool:
    """Push `commit` as origin's branch `name`, replacing what an earlier run left there.

    False (nothing pushed) when the branch already holds the same change: the same tree on
    the same parents, as a re-run makes it with only a new timestamp.
    """
    git.check_ref_name(name)
    fetched = git.call(
        "fetch", "--quiet", "--no-tags", REMOTE, f"+refs/heads/{name}:{remote_ref(name)}"
    )
    existing = git.resolve(remote_ref(name)) if fetched.code == 0 else None
    if existing is not None and _same_change(git, existing, commit):
        return False
    git.push(REMOTE, f"+{commit}:refs/heads/{name}")
    return True


def _same_change(git: Git, one: str, other: str) -> bool:
    """Whether two commits have the same tree and the same parents."""
    shapes = git.run("show", "--no-patch", "--format=%T %P", one, other, "--").splitlines()
    return len(set(shapes)) == 1


@dataclass(frozen=True)
class Proposal:
    """A commit offered as a pull request: the branch pushed and the PR (None without a forge)."""

    branch: str
    base: str
    pull: PullRequest | None
    pushed: bool

    def describe(self) -> str:
        """One line saying what happened."""
        if self.pull is None:
            done = (
                f"pushed branch {self.branch}"
                if self.pushed
                else f"branch {self.branch} already holds this change on {REMOTE}; not pushed again"
            )
            return (
                f"{done}; no GitHub token is set, so open a pull request into {self.base} by hand"
            )
        verb = "opened" if self.pull.created else "already open:"
        pull = self.pull
        return f"pull request {verb} #{pull.number} {pull.url} ({self.branch} -> {self.base})"


def propose(
    git: Git,
    *,
    branch: str,
    base: str,
    commit: Callable[[], str],
    title: str,
    body: str,
    auto_merge: bool,
) -> Proposal:
    """Push `commit()` as `branch` and open a pull request into `base`; an open one is reported.

    The commit is only built and pushed when no pull request from `branch` is open yet, so a
    re-run while the PR waits changes nothing.
    """
    github = github_from_env(git)
    if github is not None:
        existing = github.open_pull_request(branch, base)
        if existing is not None:
            return Proposal(branch, base, existing, pushed=False)
    pushed = push_side_branch(git, branch, commit())
    if github is None:
        return Proposal(branch, base, None, pushed=pushed)
    pull = github.create_pull_request(head=branch, base=base, title=title, body=body)
    if auto_merge:
        github.enable_auto_merge(pull)
    return Proposal(branch, base, pull, pushed=pushed)


ChangeOutcome = Literal["unchanged", "pushed", "proposed"]


@dataclass(frozen=True)
class Change:
    """How one overlay change reached origin (a deploy, promotion or rollback)."""

    outcome: ChangeOutcome
    commit: str | None = None
    proposal: Proposal | None = None


def push_or_propose(
    git: Git,
    branch: str,
    build: Callable[[str], str | None],
    *,
    propose_as: str | None,
    title: str,
    body: str,
    auto_merge: bool,
    nothing_to_do: str,
) -> Change:
    """Land `build`'s commit on `branch` directly, or (`propose_as` a branch) as a pull request.

    A proposal whose commit would change nothing fails with the `nothing_to_do` message.
    """
    if propose_as is None:
        landing = land(git, branch, build)
        if landing.commit is None:
            return Change("unchanged")
        return Change("pushed", landing.commit)

    def commit() -> str:
        made = build(tip(git, branch))
        if made is None:
            raise DexopsError(nothing_to_do)
        return made

    proposal = propose(
        git,
        branch=propose_as,
        base=branch,
        commit=commit,
        title=title,
        body=body,
        auto_merge=auto_merge,
    )
    return Change("proposed", None, proposal)

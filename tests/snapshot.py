"""The "nothing changed" harness: a repository and its bare remote, before and after."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tests.gitrepo import GitRepo


def _tree_digest(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == ".git" and relative.parts[1:2] != ("index",):
            continue
        if path.is_file():
            files[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


@dataclass(frozen=True)
class RepoSnapshot:
    """HEAD, refs, tags, index, working-tree bytes and the remote's refs of a repository."""

    head: str
    symbolic_head: str
    refs: str
    tree: dict[str, str]
    remote_refs: dict[str, str]

    @classmethod
    def take(cls, repo: GitRepo) -> RepoSnapshot:
        """Record the state of `repo` and its origin."""
        symbolic = repo.path / ".git" / "HEAD"
        if not symbolic.is_file():
            # Not a repository (a bad-input case): only the bytes and the remote can change.
            return cls("", "", "", _tree_digest(repo.path), repo.remote_refs())
        return cls(
            head=repo.git("rev-parse", "--verify", "--quiet", "HEAD")
            if repo_has_commits(repo)
            else "",
            symbolic_head=symbolic.read_text(encoding="utf-8"),
            refs=repo.git("for-each-ref", "--format=%(refname) %(objectname)"),
            tree=_tree_digest(repo.path),
            remote_refs=repo.remote_refs(),
        )

    def assert_same(self, repo: GitRepo) -> None:
        """Fail, naming what differs, unless `repo` is exactly as recorded."""
        after = RepoSnapshot.take(repo)
        assert after.symbolic_head == self.symbolic_head, "HEAD moved to another branch"
        assert after.head == self.head, "HEAD commit changed"
        assert after.refs == self.refs, f"local refs changed:\n{self.refs}\n---\n{after.refs}"
        changed = {
            name
            for name in set(self.tree) | set(after.tree)
            if self.tree.get(name) != after.tree.get(name)
        }
        assert not changed, f"working tree or index changed: {sorted(changed)}"
        assert after.remote_refs == self.remote_refs, "the remote's refs changed"


def repo_has_commits(repo: GitRepo) -> bool:
    """Whether the repository has a HEAD commit."""
    try:
        repo.git("rev-parse", "--verify", "--quiet", "HEAD")
    except AssertionError:
        return False
    return True

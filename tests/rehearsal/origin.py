"""The local bare repository that stands in for the GitHub repository of a rehearsal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.rehearsal.errors import RehearsalError

ZERO_SHA = "0" * 40


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git with a fixed locale and no prompts."""
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )
    if check and proc.returncode != 0:
        raise RehearsalError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc


class Origin:
    """A bare repository: refs, commits and the merge refs GitHub makes for pull requests."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        if not (self.path / "HEAD").is_file():
            raise RehearsalError(f"origin {path} is not a bare git repository")

    @property
    def url(self) -> str:
        """A file:// URL, so that shallow fetches are real fetches."""
        return self.path.as_uri()

    def resolve(self, ref: str) -> str | None:
        """The commit a ref or sha names, or None."""
        proc = git(
            "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=self.path, check=False
        )
        return proc.stdout.strip() or None

    def default_branch(self) -> str:
        """The branch the bare repository's HEAD names."""
        branch = git("symbolic-ref", "--short", "HEAD", cwd=self.path).stdout.strip()
        if self.resolve(f"refs/heads/{branch}") is None and self.resolve("refs/heads/main"):
            return "main"  # a bare repository made without init.defaultBranch says master
        return branch

    def changed_files(self, base: str | None, head: str) -> list[str]:
        """Files changed between two commits (against the parent, or every file, without base)."""
        if base is None or base == ZERO_SHA or self.resolve(base) is None:
            parent = self.resolve(f"{head}^")
            if parent is None:
                out = git("ls-tree", "-r", "--name-only", head, cwd=self.path).stdout
                return out.splitlines()
            base = parent
        out = git("diff", "--name-only", f"{base}", f"{head}", cwd=self.path).stdout
        return out.splitlines()

    def merge_base(self, left: str, right: str) -> str:
        """The merge base of two commits (a pull request's three-dot diff starts there)."""
        return git("merge-base", left, right, cwd=self.path).stdout.strip()

    def pull_request_merge(self, number: int, base_sha: str, head_sha: str) -> str:
        """refs/pull/N/merge as GitHub makes it: the head merged into the base; returns its sha."""
        existing = self.resolve(f"refs/pull/{number}/merge")
        if existing is not None:
            return existing
        tree = git("merge-tree", "--write-tree", base_sha, head_sha, cwd=self.path, check=False)
        if tree.returncode != 0:
            raise RehearsalError(f"pull request #{number} does not merge cleanly: {tree.stdout}")
        message = f"Merge {head_sha} into {base_sha}"
        commit = git(
            "commit-tree",
            tree.stdout.split()[0],
            "-p",
            base_sha,
            "-p",
            head_sha,
            "-m",
            message,
            cwd=self.path,
        ).stdout.strip()
        git("update-ref", f"refs/pull/{number}/head", head_sha, cwd=self.path)
        git("update-ref", f"refs/pull/{number}/merge", commit, cwd=self.path)
        return commit

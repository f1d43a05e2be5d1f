"""Component releases end to end: the `dexops` command on real repositories with a bare origin."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import require_tool
from tests.gitrepo import GitRepo, example_repo
from tests.snapshot import RepoSnapshot

pytestmark = pytest.mark.integration


@dataclass
class Run:
    code: int
    out: str
    err: str


def dexops(repo: GitRepo, *argv: str) -> Run:
    """Run the real `dexops` command in the repository, as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "dexops", *argv],
        cwd=repo.path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    require_tool("git", "apt-get install git")
    return example_repo(tmp_path)


def test_bump_release_rerun_and_conflict(repo: GitRepo) -> None:
    bump = dexops(repo, "version.bump", "dataenginex", "--part", "minor")
    assert bump.code == 0, bump.err
    head = repo.head()

    first = dexops(repo, "release.dataenginex")
    assert first.code == 0, first.err
    assert "pushed dataenginex-v0.5.0 with main to origin" in first.out
    assert "the annotated tag dataenginex-v0.5.0 is the release" in first.out
    remote = repo.remote_refs()
    assert remote["refs/heads/main"] == head
    assert repo.origin_git("rev-parse", "dataenginex-v0.5.0^{commit}") == head
    assert repo.origin_git("cat-file", "-t", "refs/tags/dataenginex-v0.5.0") == "tag"

    snapshot = RepoSnapshot.take(repo)
    again = dexops(repo, "release.dataenginex")
    assert again.code == 0, again.err
    assert "already on origin at HEAD; nothing to push" in again.out
    snapshot.assert_same(repo)

    # New library work without a version bump: the tag stands on another commit.
    repo.write("packages/dataenginex/src/dataenginex/late.py", "LATE = True\n")
    repo.commit("feat: late change")
    snapshot = RepoSnapshot.take(repo)
    conflict = dexops(repo, "release.dataenginex")
    assert conflict.code == 1
    assert conflict.err.startswith("error: tag dataenginex-v0.5.0 already exists locally")
    assert conflict.err.count("\n") == 1
    assert "Traceback" not in conflict.err
    snapshot.assert_same(repo)


def test_next_release_notes_start_at_the_previous_tag(repo: GitRepo) -> None:
    assert dexops(repo, "release.careerdex").code == 0
    repo.write("src/careerdex/rank.py", "RANK = 1\n")
    repo.commit("perf(rank): cache scores")
    assert dexops(repo, "version.bump", "careerdex", "--part", "patch").code == 0
    result = dexops(repo, "release.careerdex")
    assert result.code == 0, result.err
    message = repo.git("tag", "--list", "--format=%(contents)", "careerdex-v0.3.6")
    assert message.startswith("careerdex 0.3.6\n\n### Performance\n\n- **rank:** cache scores")
    assert "initial import" not in message


def test_refused_push_leaves_no_local_tag(repo: GitRepo) -> None:
    hook = repo.origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'tags are frozen today' >&2\nexit 1\n", encoding="utf-8")
    hook.chmod(0o755)
    assert dexops(repo, "version.bump", "dataenginex", "--part", "patch").code == 0
    snapshot = RepoSnapshot.take(repo)
    result = dexops(repo, "release.dataenginex")
    assert result.code == 1
    assert result.err.startswith("error: push of refs/tags/dataenginex-v0.4.11")
    assert "deleted the local tag(s) dataenginex-v0.4.11 again" in result.err
    assert result.err.count("\n") == 1
    assert repo.git("tag", "--list", "dataenginex-*") == ""
    snapshot.assert_same(repo)


def test_diverged_origin_rejects_the_whole_push(repo: GitRepo, tmp_path: Path) -> None:
    other = tmp_path / "other"
    repo.git("clone", "--quiet", str(repo.origin), str(other))
    repo.git("commit", "--quiet", "--allow-empty", "-m", "chore: elsewhere", cwd=other)
    repo.git("push", "--quiet", "origin", "main", cwd=other)
    assert dexops(repo, "version.bump", "dataenginex", "--part", "patch").code == 0
    snapshot = RepoSnapshot.take(repo)
    result = dexops(repo, "release.dataenginex")
    assert result.code == 1
    assert "fetch, rebase onto origin and re-run" in result.err
    assert "refs/tags/dataenginex-v0.4.11" not in repo.remote_refs()
    snapshot.assert_same(repo)


def test_head_already_inside_origin_pushes_only_the_tag(repo: GitRepo) -> None:
    tagged = repo.head()
    repo.commit("chore: later work")
    repo.push("main")
    repo.git("checkout", "--quiet", "-b", "release-point", tagged)
    result = dexops(repo, "release.dataenginex")
    assert result.code == 0, result.err
    assert "pushed dataenginex-v0.4.10 to origin" in result.out
    assert "refs/heads/release-point" not in repo.remote_refs()
    assert repo.origin_git("rev-parse", "dataenginex-v0.4.10^{commit}") == tagged


def test_dry_run_changes_nothing(repo: GitRepo) -> None:
    assert dexops(repo, "version.bump", "dataenginex", "--part", "minor").code == 0
    snapshot = RepoSnapshot.take(repo)
    result = dexops(repo, "release.all", "--dry-run")
    assert result.code == 0, result.err
    assert "[dry-run] would run: git push --porcelain --atomic origin" in result.out
    assert "refs/tags/careerdex-v0.3.5:refs/tags/careerdex-v0.3.5" in result.out
    snapshot.assert_same(repo)

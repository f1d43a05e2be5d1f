"""The git adapter's own reading: ref names, one-process reads, side-by-side commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dexops.adapters.git import Git, Tip, valid_ref_name
from dexops.errors import GitError
from tests.gitrepo import GitRepo, init_repo

# Every character git-check-ref-format(1) has a rule for, and some it has none for.
_TRICKY = st.text(alphabet=list("ab1./-_@{}~^:?*[]\\ \t\x01\x7fé"), min_size=0, max_size=12)


def _git_accepts(ref: str) -> bool:
    done = subprocess.run(["git", "check-ref-format", ref], capture_output=True, check=False)
    return done.returncode == 0


@settings(max_examples=300, deadline=None)
@given(_TRICKY)
@example("v1.2.3")
@example("a.lock/b")
@example("a/b.lock")
@example(".hidden")
@example("a..b")
@example("a@{b")
@example("@")
@example("x.")
@example("a//b")
@example("a/")
def test_ref_names_are_judged_as_git_judges_them(name: str) -> None:
    # git would read a bare name with a leading dash as an option, not as a ref.
    for ref in (f"refs/tags/{name}", *([] if name.startswith("-") else [name])):
        assert valid_ref_name(ref) == _git_accepts(ref), ref


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    made = init_repo(tmp_path / "repo", tmp_path / "origin.git")
    made.write("a.txt", "one\n")
    made.commit("first")
    made.git("tag", "-a", "-m", "annotated", "v1")
    made.git("tag", "light")
    return made


def test_head_and_tags_come_from_one_process_with_tags_peeled(repo: GitRepo) -> None:
    head, tags = Git(repo.path).head_and_tags()
    assert head == repo.head()
    assert tags == {"v1": head, "light": head}


def test_head_and_branch_say_what_is_wrong(repo: GitRepo, tmp_path: Path) -> None:
    assert Git(repo.path).head_and_branch() == (repo.head(), repo.git("branch", "--show-current"))
    repo.git("checkout", "--quiet", "--detach")
    with pytest.raises(GitError, match="HEAD is detached"):
        Git(repo.path).head_and_branch()
    empty = init_repo(tmp_path / "empty", tmp_path / "empty-origin.git")
    with pytest.raises(GitError, match="has no commits yet"):
        Git(empty.path).head_and_branch()
    with pytest.raises(GitError, match="has no commits yet"):
        Git(empty.path).head_and_tags()
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match="is not a git repository"):
        Git(plain).head_and_branch()


def test_objects_named_by_commit_are_read_once(repo: GitRepo) -> None:
    git = Git(repo.path)
    commit = repo.head()
    assert git.read_objects([f"{commit}:a.txt", f"{commit}:missing.txt", "HEAD:a.txt"]) == {
        f"{commit}:a.txt": b"one\n",
        "HEAD:a.txt": b"one\n",
    }
    git.executable = None  # no git any more: only what is kept can still be answered
    assert git.show_file(commit, "a.txt") == "one\n"
    assert git.show_file(commit, "missing.txt") is None
    with pytest.raises(Exception, match="git is not installed"):
        git.read_objects(["HEAD:a.txt"])


def test_a_missing_path_with_spaces_is_absent_not_a_parse_error(repo: GitRepo) -> None:
    # cat-file's `<name> missing` repeats the name; a path may hold spaces (one or two).
    repo.write("my overlays/dev/kustomization.yaml", "images: []\n")
    commit = repo.commit("overlay in a spaced directory")
    git = Git(repo.path)
    names = [
        f"{commit}:my overlays/prod/kustomization.yaml",
        f"{commit}:my overlays/dev/kustomization.yaml",
        "HEAD:a b c.txt",
        "HEAD:a.txt",
    ]
    assert git.read_objects(names) == {
        f"{commit}:my overlays/dev/kustomization.yaml": b"images: []\n",
        "HEAD:a.txt": b"one\n",
    }
    tips = git.read_at_tips([("HEAD", "my overlays/prod/kustomization.yaml"), ("HEAD", "a.txt")])
    tip = tips["HEAD"]
    assert tip is not None
    assert tip.files == {"my overlays/prod/kustomization.yaml": None, "a.txt": b"one\n"}


def test_a_name_with_a_newline_is_refused(repo: GitRepo) -> None:
    with pytest.raises(GitError, match="does not name a git object"):
        Git(repo.path).read_objects(["HEAD\nHEAD:a.txt"])
    with pytest.raises(GitError, match="does not name a git object"):
        Git(repo.path).read_at_tips([("HEAD", "a.txt\nHEAD:a.txt")])


def test_tips_and_their_files_are_read_together_and_kept(repo: GitRepo) -> None:
    repo.write("empty.txt", "")
    commit = repo.commit("second")
    git = Git(repo.path)
    wanted = [
        ("refs/heads/main", "a.txt"),
        ("refs/heads/main", "empty.txt"),
        ("refs/heads/main", "missing.txt"),
        ("refs/tags/v1", "a.txt"),  # an annotated tag: its commit
        ("refs/heads/none", "a.txt"),
    ]
    assert git.read_at_tips(wanted) == {
        "refs/heads/main": Tip(commit, {"a.txt": b"one\n", "empty.txt": b"", "missing.txt": None}),
        "refs/tags/v1": Tip(repo.git("rev-parse", "v1^{commit}").strip(), {"a.txt": b"one\n"}),
        "refs/heads/none": None,
    }
    # What was read at a commit is kept as read_objects keeps it: asked again, no git.
    git.executable = None
    assert git.show_file(commit, "a.txt") == "one\n"
    assert git.show_file(commit, "empty.txt") == ""
    assert git.show_file(commit, "missing.txt") is None


def test_tips_outside_a_repository_are_a_git_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match=r"^git cat-file failed: fatal: not a git repository"):
        Git(plain).read_at_tips([("refs/heads/main", "a.txt")])


def test_git_dying_before_the_last_tip_is_asked_is_the_git_error(repo: GitRepo) -> None:
    # A corrupt commit kills cat-file at the first tip; the second request, left buffered,
    # broke the pipe on close and hid why git died behind a bare BrokenPipeError.
    commit = repo.head()
    loose = repo.path / ".git" / "objects" / commit[:2] / commit[2:]
    loose.chmod(0o644)
    loose.write_bytes(b"garbage")
    wanted = [("refs/heads/main", "a.txt"), ("refs/tags/v1", "a.txt")]
    with pytest.raises(GitError, match=r"^git cat-file failed: (error|fatal): "):
        Git(repo.path).read_at_tips(wanted)
    plain = repo.path.parent / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match=r"^git cat-file failed: fatal: not a git repository"):
        Git(plain).read_at_tips([("refs/heads/main", "a.txt"), ("refs/heads/dev", "a.txt")])

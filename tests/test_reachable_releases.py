"""The latest release is the highest tag in HEAD's history: git itself is the oracle."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version
from pytest_httpserver import HTTPServer

from dexops.domain.versioning import latest_release
from dexops.workflows.publish import Changes, ResolvedTag, detect_changes
from dexops.workflows.versions import previous_release, version_status
from dexops.workflows.workspace import Workspace
from tests.conftest import Cli
from tests.gitrepo import GitRepo, init_repo
from tests.snapshot import RepoSnapshot

PYPROJECT = """\
[project]
name = "lib"
version = "9.9.9"

[tool.dexops]
release-branches = ["main", "release/*"]

[tool.dexops.components.lib]
kind = "library"
path = "."
tag-prefix = "v"
"""

# Hand-written spellings (`v1.0RC1`, `v01.0`, `v1.0-1`) beside normalized ones and a tag
# that is no version at all.
SPELLINGS = ["0.9", "1.0", "1.0RC1", "01.0", "1.0-1", "1.0.1", "1.1", "1.2.dev3", "2.0.0", "x"]
BRANCHES = ["main", "release/1", "feature"]

Op = tuple[str, int, bool]
OPS = st.lists(
    st.tuples(
        st.sampled_from(["commit", "commit", "tag", "merge", "squash"]),
        st.integers(min_value=0, max_value=len(SPELLINGS) - 1),
        st.booleans(),
    ),
    min_size=1,
    max_size=14,
)


def _library_repo(root: Path) -> GitRepo:
    repo = init_repo(root / "work", root / "origin.git")
    repo.write("pyproject.toml", PYPROJECT)
    repo.commit("feat: start")
    return repo


def _build(repo: GitRepo, ops: list[Op]) -> None:
    """Replay `ops`: commits, tags (lightweight or annotated), merges and squash merges."""
    made = {"main"}
    n = 0
    for kind, pick, flag in ops:
        n += 1
        branch = BRANCHES[pick % len(BRANCHES)]
        if kind == "commit":
            if branch not in made:
                repo.git("checkout", "--quiet", "-b", branch)
                made.add(branch)
            else:
                repo.git("checkout", "--quiet", branch)
            repo.write(f"f{n}.txt", f"{n}\n")
            repo.commit(f"change {n}")
        elif kind == "tag":
            name = f"v{SPELLINGS[pick]}"
            if repo.git("tag", "--list", name):
                continue
            repo.git("tag", *(["-a", "-m", name] if flag else []), name)
        elif branch in made and repo.git("rev-parse", "--abbrev-ref", "HEAD") != branch:
            if kind == "merge":
                repo.git("merge", "--quiet", "--no-ff", "--no-edit", branch)
            else:  # a squash merge: the other branch's tags stay out of this history
                repo.git("merge", "--quiet", "--squash", branch)
                repo.commit(f"squash {branch}")


def _pep440(name: str) -> Version | None:
    try:
        return Version(name[1:]) if name[1:2].isdigit() else None
    except InvalidVersion:
        return None


def _oracle(repo: GitRepo, *, excluding_head: bool) -> str | None:
    """The highest PEP 440 `v` tag `git tag --merged HEAD` lists (none on HEAD if asked)."""
    names = repo.git("tag", "--merged", "HEAD", "--list", "v*").splitlines()
    if excluding_head:
        at_head = set(repo.git("tag", "--points-at", "HEAD").splitlines())
        names = [n for n in names if n not in at_head]
    versions = [(v, n) for n in names if (v := _pep440(n)) is not None]
    return max(versions)[1] if versions else None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, checkout=st.sampled_from(BRANCHES))
def test_latest_release_is_the_highest_tag_git_says_is_reachable(
    ops: list[Op], checkout: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = _library_repo(Path(tmp))
        _build(repo, ops)
        if repo.git("branch", "--list", checkout):
            repo.git("checkout", "--quiet", checkout)
        ws = Workspace.open(str(repo.path))
        head = repo.head()
        reachable = repo.git("tag", "--merged", "HEAD").splitlines()
        (row,) = version_status(ws)
        assert row.latest_tag == _oracle(repo, excluding_head=False)
        if row.latest_tag is not None:
            assert row.tag_at_head == (repo.git("rev-parse", f"{row.latest_tag}^{{}}") == head)
            # git describe's nearest tag is in the same history and never a higher version.
            nearest = repo.git("describe", "--tags", "--abbrev=0", "--match", "v[0-9]*")
            assert nearest in reachable
            version = _pep440(nearest)
            assert version is None or version <= Version(row.latest_tag[1:].lower())
        previous = previous_release(ws, ws.config.component("lib"), head)
        assert (previous.name if previous else None) == _oracle(repo, excluding_head=True)
        at_head = [n for n in repo.git("tag", "--points-at", "HEAD").splitlines() if _pep440(n)]
        if at_head:
            tag = ResolvedTag(at_head[0], Version(at_head[0][1:]), head)
            every = ws.git.tags_with_commits()
            changes = detect_changes(ws, ws.config.component("lib"), tag, every)
            assert changes.previous == _oracle(repo, excluding_head=True)


def test_latest_release_leaves_out_the_release_being_made() -> None:
    tags = {"v1.0": "a", "v2.0": "b", "w3.0": "a"}
    found = latest_release("v", tags, excluding_commit="b")
    assert found is not None
    assert found.name == "v1.0"


@pytest.fixture
def maintenance_repo(tmp_path: Path) -> GitRepo:
    """1.0.0 on main, a release/1 line from it, then 2.0.0 on main; HEAD on release/1."""
    repo = _library_repo(tmp_path)
    repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", "1.0.0"))
    repo.commit("chore: 1.0.0")
    repo.git("tag", "v1.0.0")
    repo.git("branch", "release/1")
    repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", "2.0.0"))
    repo.commit("chore: 2.0.0")
    repo.git("tag", "-a", "-m", "2.0.0", "v2.0.0")
    repo.push("main", "release/1", "--tags")
    repo.git("checkout", "--quiet", "release/1")
    repo.write("lib.py", "FIX = 1\n")
    repo.commit("fix: backport")
    return repo


def test_show_on_a_maintenance_line_names_its_own_latest_release(
    maintenance_repo: GitRepo, cli: Cli
) -> None:
    result = cli("version.show", "--json", cwd=maintenance_repo.path)
    assert result.code == 0, result.err
    (row,) = json.loads(result.out)
    assert row["latest_tag"] == "v1.0.0"  # not v2.0.0, which is not in this history
    assert row["commits_since_tag"] == 1


def test_release_on_a_maintenance_line_follows_its_own_latest(
    maintenance_repo: GitRepo, cli: Cli
) -> None:
    maintenance_repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", "1.0.1"))
    maintenance_repo.commit("chore: 1.0.1")
    result = cli("release.lib", "--dry-run", "--json", cwd=maintenance_repo.path)
    assert result.code == 0, result.err
    (plan,) = json.loads(result.out)["releases"]
    assert plan["previous"] == "v1.0.0"
    assert "fix: backport" not in plan["notes"] or "2.0.0" not in plan["notes"]


def test_release_not_above_the_lines_latest_is_refused_and_changes_nothing(
    maintenance_repo: GitRepo, cli: Cli
) -> None:
    maintenance_repo.git("checkout", "--quiet", "main")
    maintenance_repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", "1.5.0"))
    maintenance_repo.commit("chore: 1.5.0")
    snapshot = RepoSnapshot.take(maintenance_repo)
    result = cli("release.lib", cwd=maintenance_repo.path)
    assert result.code != 0
    assert result.err == (
        "error: lib 1.5.0 is not above v2.0.0, the latest release in the history it is made "
        "on; bump the version\n"
    )
    assert RepoSnapshot.take(maintenance_repo) == snapshot


def test_release_from_a_feature_branch_creates_no_tag_and_pushes_nothing(
    maintenance_repo: GitRepo, cli: Cli
) -> None:
    maintenance_repo.git("checkout", "--quiet", "-b", "feature/x", "main")
    maintenance_repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", "2.1.0"))
    maintenance_repo.commit("chore: 2.1.0")
    snapshot = RepoSnapshot.take(maintenance_repo)
    for argv in (("release.lib",), ("release.all",)):
        result = cli(*argv, cwd=maintenance_repo.path)
        assert result.code != 0
        assert result.err.startswith(
            "error: lib 2.1.0 is not on a release branch (feature/x); releases are made from "
            "main, release/* (tool.dexops.release-branches)"
        )
        assert result.err.count("\n") == 1
    assert RepoSnapshot.take(maintenance_repo) == snapshot
    assert "refs/heads/feature/x" not in maintenance_repo.remote_refs()


def test_plan_refuses_what_release_refuses(maintenance_repo: GitRepo, cli: Cli) -> None:
    maintenance_repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", "0.9.0"))
    maintenance_repo.commit("chore: 0.9.0")
    result = cli("pipeline.plan", "--json", cwd=maintenance_repo.path)
    assert result.code == 0, result.err
    (item,) = json.loads(result.out)["releases"]
    assert item["action"] == "refused"
    assert item["reason"].startswith("lib 0.9.0 is not above v1.0.0")


def test_publish_refuses_a_tag_made_off_the_release_branches(
    maintenance_repo: GitRepo, cli: Cli
) -> None:
    maintenance_repo.git("checkout", "--quiet", "-b", "feature/y", "main")
    maintenance_repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", "3.0.0"))
    maintenance_repo.commit("chore: 3.0.0")
    maintenance_repo.git("tag", "v3.0.0")
    result = cli("publish.lib", "--tag", "v3.0.0", "--dry-run", cwd=maintenance_repo.path)
    assert result.code != 0
    assert result.err.startswith("error: v3.0.0: lib 3.0.0 is not on a release branch (feature/y)")


def test_non_normalized_tags_keep_every_task_working(
    tmp_path: Path, cli: Cli, httpserver: HTTPServer
) -> None:
    repo = _library_repo(tmp_path)
    for spelling, annotated in (("v1.0RC1", True), ("v01.0", False), ("v1.0-1", True)):
        repo.write("pyproject.toml", PYPROJECT.replace("9.9.9", spelling[1:]))
        repo.write("lib.py", f"V = {spelling!r}\n")
        repo.commit(f"chore: {spelling}")
        repo.git("tag", *(["-a", "-m", spelling] if annotated else []), spelling)
    repo.push("main", "--tags")
    show = cli("version.show", "--json", cwd=repo.path)
    assert show.code == 0, show.err
    assert json.loads(show.out)[0]["latest_tag"] == "v1.0-1"  # 1.0.post1, as git spells it
    assert json.loads(show.out)[0]["tag_at_head"] is True
    # Releasing the version at HEAD finds its tag however it is spelled: nothing new.
    release = cli("release.lib", "--dry-run", "--json", cwd=repo.path)
    assert release.code == 0, release.err
    (plan,) = json.loads(release.out)["releases"]
    assert (plan["tag"], plan["previous"]) == ("v1.0-1", "v01.0")
    ws = Workspace.open(str(repo.path))
    tag = ResolvedTag("v1.0-1", Version("1.0.post1"), repo.head())
    changes = detect_changes(ws, ws.config.component("lib"), tag, ws.git.tags_with_commits())
    assert changes == Changes("v01.0", ["lib.py", "pyproject.toml"])
    # pipeline.plan asks the index which files it lacks: a local one that has none.
    httpserver.expect_request("/simple/lib/").respond_with_data("", status=404)
    index = (
        f'[tool.dexops.indexes.local]\nrole = "test"\nupload-url = "{httpserver.url_for("/")}"\n'
        f'simple-url = "{httpserver.url_for("/simple/")}"\n'
    )
    repo.write("pyproject.toml", (repo.path / "pyproject.toml").read_text() + index)
    plan_out = cli("pipeline.plan", "--json", cwd=repo.path)
    assert plan_out.code == 0, plan_out.err
    assert json.loads(plan_out.out)["releases"][0]["action"] == "released"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("[]", "must name a branch (or be left out)"),
        ('"main"', "must be a list of non-empty strings, not 'main'"),
        ('["release/ x"]', "entry 'release/ x' is not a branch name or glob"),
        ('["-main"]', "entry '-main' is not a branch name or glob"),
        ('["refs/heads/main"]', "entry 'refs/heads/main' is not a branch name or glob"),
    ],
)
def test_bad_release_branches_are_one_error_naming_the_key(
    tmp_path: Path, cli: Cli, value: str, problem: str
) -> None:
    repo = _library_repo(tmp_path)
    text = PYPROJECT.replace(
        'release-branches = ["main", "release/*"]', f"release-branches = {value}"
    )
    repo.write("pyproject.toml", text)
    result = cli("version.show", cwd=repo.path)
    assert result.code != 0
    assert result.err == (
        f"error: {repo.path / 'pyproject.toml'}: tool.dexops.release-branches {problem}\n"
    )

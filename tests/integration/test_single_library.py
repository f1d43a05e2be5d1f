"""The single-library example: one library at the root, plain `v` tags, released on tag push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import Cli
from tests.fixtures_github import GitHubFake
from tests.fixtures_pypi import PypiServers
from tests.gitrepo import GitRepo, example_repo
from tests.snapshot import RepoSnapshot

pytestmark = pytest.mark.integration

VERSION_FILES = ("pyproject.toml", "src/slugkit/__init__.py", "uv.lock")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """The example committed on main, with a bare origin."""
    return example_repo(tmp_path, "single-library")


def _versions(repo: GitRepo) -> tuple[str, str, str]:
    """The version as pyproject.toml, `__version__` and uv.lock's slugkit entry declare it."""
    import tomllib

    pyproject = tomllib.loads((repo.path / "pyproject.toml").read_text())["project"]["version"]
    module = (repo.path / "src/slugkit/__init__.py").read_text()
    (dunder,) = (ln.split('"')[1] for ln in module.splitlines() if ln.startswith("__version__"))
    lock = tomllib.loads((repo.path / "uv.lock").read_text())["package"]
    (locked,) = (p["version"] for p in lock if p["name"] == "slugkit")
    return pyproject, dunder, locked


def test_version_bump_moves_every_declaration_in_one_commit(cli: Cli, repo: GitRepo) -> None:
    shown = cli("version.show", "--json", cwd=repo.path)
    assert shown.code == 0, shown.err
    # release.yml's build job compares the pushed tag with `.[0].version`.
    (row,) = json.loads(shown.out)
    assert (row["component"], row["kind"], row["version"], row["latest_tag"]) == (
        "slugkit",
        "library",
        "1.2.0",
        None,
    )
    before = repo.head()

    bumped = cli("version.bump", "slugkit", "--part", "minor", cwd=repo.path)

    assert bumped.code == 0, bumped.err
    assert _versions(repo) == ("1.3.0", "1.3.0", "1.3.0")
    assert repo.git("rev-parse", "HEAD~1") == before
    changed = repo.git("diff", "--name-only", "HEAD~1", "HEAD").splitlines()
    assert sorted(changed) == sorted(VERSION_FILES)
    assert repo.git("status", "--porcelain") == ""


def test_release_dry_run_plans_a_plain_v_tag(cli: Cli, repo: GitRepo) -> None:
    snapshot = RepoSnapshot.take(repo)

    result = cli("release.slugkit", "--dry-run", cwd=repo.path)

    assert result.code == 0, result.err
    assert "tag:      v1.2.0 (new)" in result.out
    assert "`slugify(separator=...)` joins words with any separator." in result.out
    assert "would record the sha256 of slugkit-1.2.0.tar.gz, slugkit-1.2.0-*.whl" in result.out
    snapshot.assert_same(repo)


def test_package_validate_builds_the_root_library(cli: Cli, repo: GitRepo, tmp_path: Path) -> None:
    out = tmp_path / "dist"

    result = cli("package.validate", "slugkit", "--out", str(out), "--json", cwd=repo.path)

    assert result.code == 0, result.err
    (report,) = json.loads(result.out)
    assert report["problems"] == []
    # release.yml uploads this folder to PyPI: the sdist and the wheel, nothing else.
    names = sorted(p.name for p in (out / "slugkit").iterdir())
    assert names == ["slugkit-1.2.0-py3-none-any.whl", "slugkit-1.2.0.tar.gz"]


def test_pipeline_plan_releases_the_bump(
    cli: Cli, repo: GitRepo, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    pypi_servers.configure(repo.path, monkeypatch)
    repo.commit("build: publish to the local indexes", "pyproject.toml")
    assert cli("version.bump", "slugkit", "--part", "minor", cwd=repo.path).code == 0
    repo.push("main")

    result = cli("pipeline.plan", "--json", cwd=repo.path)

    assert result.code == 0, result.err
    plan = json.loads(result.out)
    releases = [(r["component"], r["tag"], r["action"]) for r in plan["releases"]]
    assert releases == [("slugkit", "v1.3.0", "release")]


def test_tag_push_releases_with_the_sbom_then_builds_for_the_indexes(
    cli: Cli,
    repo: GitRepo,
    *,
    github_fake: GitHubFake,
    pypi_servers: PypiServers,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """release.yml's jobs after a hand-pushed tag: `release.slugkit` on main, then the build."""
    pypi_servers.configure(repo.path, monkeypatch)
    repo.commit("build: publish to the local indexes", "pyproject.toml")
    assert cli("version.bump", "slugkit", "--part", "minor", cwd=repo.path).code == 0
    repo.push("main")
    repo.git("tag", "--annotate", "-m", "slugkit 1.3.0", "v1.3.0")
    repo.push("refs/tags/v1.3.0")
    # The release job checks out main (fetch-depth 0), whose tip the tag stands on.
    runner = GitRepo(tmp_path / "runner", repo.origin)
    repo.git("clone", "--quiet", "--branch", "main", str(repo.origin), str(runner.path))
    github_fake.setenv()
    refs = repo.remote_refs()

    released = cli("release.slugkit", cwd=runner.path)

    assert released.code == 0, released.err
    release = github_fake.releases["v1.3.0"]
    assert release["name"] == "slugkit 1.3.0"
    assets = sorted(a["name"] for a in release["assets"])
    assert assets == ["SHA256SUMS", "slugkit-1.3.0.cdx.json"]
    assert repo.remote_refs() == refs  # the tag was pushed already: nothing is pushed

    # The build job checks out the tag itself: a detached HEAD that origin/main holds.
    runner.git("checkout", "--quiet", "--detach", "v1.3.0")
    built = cli("publish.slugkit", "--tag", "v1.3.0", "--build-only", "--json", cwd=runner.path)

    assert built.code == 0, built.err
    report = json.loads(built.out)
    assert report["tag"] == "v1.3.0"
    wanted = {"slugkit-1.3.0.tar.gz", "slugkit-1.3.0-py3-none-any.whl"}
    # What the upload-artifact steps read: each index's action and folder of missing files.
    for index in report["indexes"]:
        assert index["action"] == "upload", index
        assert {f.name for f in Path(index["dist_dir"]).iterdir()} == wanted
    assert {i["role"] for i in report["indexes"]} == {"test", "production"}
    assert pypi_servers.production.files() == {}  # --build-only uploads nothing

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dexops.adapters.sbom import parse_digests, strip_digests
from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.fixtures_github import FAKE_TOKEN, GitHubFake
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

RELEASES = "/repos/thedataenginex/dex/releases"


def _tag_message(repo: GitRepo, tag: str) -> str:
    return repo.git("tag", "--list", "--format=%(contents)", tag)


def _assert_one_error(result_err: str) -> None:
    assert result_err.startswith("error: ")
    assert result_err.count("\n") == 1
    assert "Traceback" not in result_err


def test_release_tags_pushes_and_says_the_tag_is_the_release(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "created tag dataenginex-v0.4.10" in result.out
    assert "the annotated tag dataenginex-v0.4.10 is the release" in result.out
    head = dex_repo.head()
    assert dex_repo.git("rev-parse", "dataenginex-v0.4.10^{commit}") == head
    assert dex_repo.git("cat-file", "-t", "dataenginex-v0.4.10") == "tag"  # annotated
    assert dex_repo.origin_git("rev-parse", "dataenginex-v0.4.10^{commit}") == head
    # The CHANGELOG section is the notes; `###` lines survive (no comment cleanup); the
    # sha256 of every built file follows.
    message = _tag_message(dex_repo, "dataenginex-v0.4.10")
    assert strip_digests(message) == (
        "dataenginex 0.4.10\n\n### Fixed\n\n- `batched` no longer drops the last partial batch.\n"
    )
    digests = parse_digests(message)
    assert digests is not None
    assert sorted(digests) == [
        "dataenginex-0.4.10-py3-none-any.whl",
        "dataenginex-0.4.10.tar.gz",
    ]
    assert "the tag records the sha256 of dataenginex-0.4.10-py3-none-any.whl" in result.out


def test_bump_then_release_pushes_head_and_tag_together(dex_repo: GitRepo, cli: Cli) -> None:
    assert cli("version.bump", "dataenginex", "--part", "minor", cwd=dex_repo.path).code == 0
    head = dex_repo.head()
    assert dex_repo.remote_refs()["refs/heads/main"] != head
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "pushed dataenginex-v0.5.0 with main to origin" in result.out
    refs = dex_repo.remote_refs()
    assert refs["refs/heads/main"] == head
    assert dex_repo.origin_git("rev-parse", "dataenginex-v0.5.0^{commit}") == head
    # No CHANGELOG section for 0.5.0: notes are the commits touching the component.
    message = _tag_message(dex_repo, "dataenginex-v0.5.0")
    assert "### Features\n\n- initial import of the DataEngineX monorepo" in message
    assert "### Chores\n\n- bump dataenginex to 0.5.0" in message


def test_rerun_is_a_no_op(dex_repo: GitRepo, cli: Cli) -> None:
    assert cli("release.dataenginex", cwd=dex_repo.path).code == 0
    snapshot = RepoSnapshot.take(dex_repo)
    again = cli("release.dataenginex", cwd=dex_repo.path)
    assert again.code == 0, again.err
    assert "already on origin at HEAD; nothing to push" in again.out
    snapshot.assert_same(dex_repo)


def test_local_tag_at_head_is_pushed_not_recreated(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "-a", "-m", "by hand", "dataenginex-v0.4.10")
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "tag dataenginex-v0.4.10 already exists at HEAD" in result.out
    assert "refs/tags/dataenginex-v0.4.10" in dex_repo.remote_refs()
    assert _tag_message(dex_repo, "dataenginex-v0.4.10") == "by hand"


def test_notes_from_commits_since_the_previous_release(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "careerdex-v0.3.5")
    dex_repo.write("src/careerdex/match.py", "SCORE = 1\n")
    dex_repo.commit("feat(match): score candidates")
    dex_repo.write("packages/dataenginex/src/dataenginex/other.py", "X = 1\n")
    dex_repo.commit("fix: library only, not careerdex")
    dex_repo.write("Dockerfile", "FROM python:3.12-slim\n")
    dex_repo.commit("build!: new base image")
    cli("version.bump", "careerdex", "--part", "minor", cwd=dex_repo.path)
    result = cli("release.careerdex", "--dry-run", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    (plan,) = json.loads(result.out)["releases"]
    assert plan["previous"] == "careerdex-v0.3.5"
    assert plan["notes_source"] == "3 commit(s) since careerdex-v0.3.5"
    notes = plan["notes"]
    assert notes.startswith("### Breaking changes\n\n- new base image")
    assert "- **match:** score candidates" in notes
    assert "library only" not in notes


def test_dry_run_shows_the_plan_and_changes_nothing(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    cli("version.bump", "dataenginex", "--part", "patch", cwd=dex_repo.path)
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.dataenginex", "--dry-run", cwd=dex_repo.path)
    assert result.code == 0, result.err
    head = dex_repo.head()
    out = result.out
    assert "tag:      dataenginex-v0.4.11 (new)" in out
    assert f"commit:   {head} (main)" in out
    assert "[dry-run] would run: git tag --annotate --cleanup=verbatim" in out
    assert (
        "[dry-run] would run: git push --porcelain --atomic origin "
        f"refs/tags/dataenginex-v0.4.11:refs/tags/dataenginex-v0.4.11 {head}:refs/heads/main"
    ) in out
    assert f"[dry-run] would call: POST {github_fake.url}{RELEASES} tag_name=dataenginex" in out
    assert "Authorization: Bearer ***" in out
    assert FAKE_TOKEN not in out
    assert github_fake.requests == []
    snapshot.assert_same(dex_repo)


def test_github_release_is_created_then_reported(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    url = "https://github.com/thedataenginex/dex/releases/tag/dataenginex-v0.4.10"
    assert f"created GitHub release {url}" in result.out
    assets = f"{RELEASES}/{github_fake.releases['dataenginex-v0.4.10']['id']}/assets"
    assert github_fake.calls() == [
        f"GET {RELEASES}/tags/dataenginex-v0.4.10",
        f"POST {RELEASES}",
        f"POST {assets}",  # the SBOM and SHA256SUMS of a library release
        f"POST {assets}",
    ]
    assert github_fake.requests[1].body == {
        "tag_name": "dataenginex-v0.4.10",
        "name": "dataenginex 0.4.10",
        "body": "### Fixed\n\n- `batched` no longer drops the last partial batch.",
        "draft": False,
        "prerelease": False,
    }
    again = cli("release.dataenginex", cwd=dex_repo.path)
    assert again.code == 0, again.err
    assert f"GitHub release dataenginex-v0.4.10 already exists: {url}" in again.out
    assert github_fake.calls("POST") == [f"POST {RELEASES}", f"POST {assets}", f"POST {assets}"]


def test_pre_release_versions_are_github_prereleases(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    cli("version.bump", "careerdex", "--to", "0.4.0rc1", cwd=dex_repo.path)
    assert cli("release.careerdex", cwd=dex_repo.path).code == 0
    assert github_fake.releases["careerdex-v0.4.0rc1"]["prerelease"] is True


def test_github_server_errors_are_retried(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    github_fake.fail(502, method="POST")
    github_fake.rate_limit(status=429, retry_after=2)
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "dataenginex-v0.4.10" in github_fake.releases
    assert github_fake.sleeps[0] == 2.0


def test_github_refusal_before_tagging_leaves_everything(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv(token="ghp_notTheRightTokenAtAll")
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 1
    _assert_one_error(result.err)
    assert "401 Bad credentials" in result.err
    assert "ghp_not" not in result.err
    snapshot.assert_same(dex_repo)


def test_github_failure_after_the_push_says_what_it_left(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    github_fake.fail(403, method="POST", json_body={"message": "Resource not accessible"})
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 1
    _assert_one_error(result.err)
    assert "dataenginex-v0.4.10 was pushed, but the GitHub release failed" in result.err
    assert "re-run to retry" in result.err
    # The re-run converges: the tag is on origin, the release gets created.
    again = cli("release.dataenginex", cwd=dex_repo.path)
    assert again.code == 0, again.err
    assert "dataenginex-v0.4.10" in github_fake.releases


def test_conflicting_tag_fails_cleanly(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "dataenginex-v0.4.10")
    dex_repo.push("refs/tags/dataenginex-v0.4.10")
    dex_repo.write("packages/dataenginex/src/dataenginex/more.py", "Y = 2\n")
    dex_repo.commit("feat: more")
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 1
    _assert_one_error(result.err)
    assert "tag dataenginex-v0.4.10 already exists locally on commit" in result.err
    snapshot.assert_same(dex_repo)


def test_conflicting_tag_only_on_origin(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "dataenginex-v0.4.10")
    dex_repo.push("refs/tags/dataenginex-v0.4.10")
    dex_repo.git("tag", "--delete", "dataenginex-v0.4.10")
    dex_repo.commit("chore: empty")
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 1
    assert "already exists on origin on commit" in result.err
    snapshot.assert_same(dex_repo)


def _dirty(repo: GitRepo) -> None:
    repo.write("Dockerfile", "changed\n")


def _detached(repo: GitRepo) -> None:
    repo.git("checkout", "--quiet", "--detach", "HEAD")


def _no_origin(repo: GitRepo) -> None:
    repo.git("remote", "remove", "origin")


def _bad_version(repo: GitRepo) -> None:
    path = "packages/dataenginex/pyproject.toml"
    text = (repo.path / path).read_text().replace('version = "0.4.10"', 'version = "banana"')
    repo.write(path, text)
    repo.commit("chore: bad version")


def _malformed_pyproject(repo: GitRepo) -> None:
    repo.write("packages/dataenginex/pyproject.toml", "[project\nname = 'x'\n")
    repo.commit("chore: broken")


def _missing_pyproject(repo: GitRepo) -> None:
    repo.git("rm", "--quiet", "packages/dataenginex/pyproject.toml")
    repo.commit("chore: removed")


def _unreachable_origin(repo: GitRepo) -> None:
    repo.git("remote", "set-url", "origin", str(repo.path.parent / "nowhere.git"))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_dirty, "uncommitted changes (Dockerfile)"),
        (_detached, "HEAD is detached"),
        (_no_origin, "no remote 'origin'"),
        (_bad_version, "'banana' is not a valid PEP 440 version"),
        (_malformed_pyproject, "is not valid TOML"),
        (_missing_pyproject, "pyproject.toml does not exist"),
        (_unreachable_origin, "git ls-remote failed"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    dex_repo: GitRepo, cli: Cli, spoil: Callable[[GitRepo], None], message: str
) -> None:
    spoil(dex_repo)
    snapshot = RepoSnapshot.take(dex_repo)
    for argv in (("release.dataenginex",), ("release.all",), ("release.all", "--dry-run")):
        result = cli(*argv, cwd=dex_repo.path)
        assert result.code == 1, result.out
        _assert_one_error(result.err)
        assert message in result.err
    snapshot.assert_same(dex_repo)


def test_not_a_git_repository(tmp_path: Path, cli: Cli) -> None:
    import shutil

    from tests.gitrepo import EXAMPLE

    plain = tmp_path / "plain"
    shutil.copytree(EXAMPLE, plain)
    result = cli("release.dataenginex", cwd=plain)
    assert result.code == 1
    _assert_one_error(result.err)
    assert "is not a git repository" in result.err


def test_invalid_tag_name_is_refused(dex_repo: GitRepo, cli: Cli) -> None:
    text = (dex_repo.path / "pyproject.toml").read_text()
    dex_repo.write(
        "pyproject.toml", text.replace('tag-prefix = "careerdex-v"', 'tag-prefix = "a..b"')
    )
    dex_repo.commit("chore: odd prefix")
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.careerdex", cwd=dex_repo.path)
    assert result.code == 1
    assert "is not a valid git ref name" in result.err
    snapshot.assert_same(dex_repo)


def test_unknown_component_task(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("release.nosuch", cwd=dex_repo.path)
    assert result.code == ExitCode.USAGE  # invoke's own usage error
    assert result.err.startswith("error: No idea what 'release.nosuch' is!")
    assert result.err.count("\n") == 1


def test_release_all_releases_only_untagged_versions(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "careerdex-v0.3.5")
    dex_repo.push("refs/tags/careerdex-v0.3.5")
    cli("version.bump", "dataenginex", "--part", "minor", cwd=dex_repo.path)
    result = cli("release.all", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert [r["tag"] for r in report["releases"]] == ["dataenginex-v0.5.0"]
    tagged = dex_repo.git("rev-parse", "HEAD~1")[:12]
    assert report["skipped"] == [
        f"careerdex: careerdex-v0.3.5 was released at {tagged}; nothing to release"
    ]
    assert "refs/tags/dataenginex-v0.5.0" in dex_repo.remote_refs()
    again = cli("release.all", cwd=dex_repo.path)
    assert again.code == 0
    assert "dataenginex-v0.5.0 is already on origin at HEAD" in again.out


def test_release_all_pushes_every_new_tag_at_once(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("release.all", cwd=dex_repo.path)
    assert result.code == 0, result.err
    refs = dex_repo.remote_refs()
    assert {"refs/tags/careerdex-v0.3.5", "refs/tags/dataenginex-v0.4.10"} <= set(refs)


def test_release_all_reports_a_broken_configuration(dex_repo: GitRepo, cli: Cli) -> None:
    text = (dex_repo.path / "pyproject.toml").read_text()
    dex_repo.write("pyproject.toml", text.replace('default-branch = "main"', 'colour = "red"'))
    listing = cli("--list", cwd=dex_repo.path)
    assert listing.code == 0
    assert "release.all" in listing.out
    assert "release.dataenginex" not in listing.out
    result = cli("release.all", cwd=dex_repo.path)
    assert result.code == 1
    _assert_one_error(result.err)
    assert "unknown key tool.dexops.colour" in result.err


def test_github_actions_outputs_and_summary(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    lines = output.read_text().splitlines()
    assert "tag=dataenginex-v0.4.10" in lines
    assert "version=0.4.10" in lines
    assert "created=true" in lines
    assert "| dataenginex | 0.4.10 | `dataenginex-v0.4.10` | created |" in summary.read_text()
    output.write_text("")
    assert cli("release.dataenginex", cwd=dex_repo.path).code == 0
    assert "created=false" in output.read_text().splitlines()


def test_repo_flag_names_the_repository_whose_components_become_tasks(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = ["dexops", "release.dataenginex", "--dry-run", "--repo", str(dex_repo.path)]
    monkeypatch.setattr(sys, "argv", argv)
    result = cli(*argv[1:], cwd=elsewhere)
    assert result.code == 0, result.err
    assert "tag:      dataenginex-v0.4.10 (new)" in result.out

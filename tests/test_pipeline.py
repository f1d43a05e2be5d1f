from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.fixtures_pypi import PypiServers
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot


@pytest.fixture
def indexes(dex_repo: GitRepo, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan asks the indexes which files they lack: two local pypiservers answer."""
    pypi_servers.configure(dex_repo.path, monkeypatch)
    dex_repo.commit("ci: the local package indexes")


def _plan(cli: Cli, repo: GitRepo, *args: str) -> dict[str, Any]:
    result = cli("pipeline.plan", "--json", *args, cwd=repo.path)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert isinstance(data, dict)
    return data


def _by(rows: object, key: str) -> dict[str, dict[str, object]]:
    assert isinstance(rows, list)
    return {row[key]: row for row in rows}


@pytest.mark.usefixtures("indexes")
def test_first_push_releases_and_publishes_everything(dex_repo: GitRepo, cli: Cli) -> None:
    plan = _plan(cli, dex_repo)
    releases = _by(plan["releases"], "component")
    assert releases["dataenginex"]["action"] == "release"
    assert releases["dataenginex"]["tag"] == "dataenginex-v0.4.10"
    assert releases["careerdex"]["tag"] == "careerdex-v0.3.5"
    publishes = _by(plan["publishes"], "component")
    assert publishes["dataenginex"]["action"] == "publish"
    assert publishes["dataenginex"]["test_index"] == "localtest"
    assert publishes["dataenginex"]["production_index"] == "localprod"
    images = _by(plan["images"], "component")
    assert images["careerdex"]["tags"] == [f"sha-{dex_repo.head()[:8]}", "latest", "v0.3.5"]
    envs = _by(plan["environments"], "environment")
    assert envs["stage"]["action"] == "update"
    assert envs["stage"]["new_tag"] == f"sha-{dex_repo.head()[:8]}"
    # prod is promotion-only: CD on main leaves it to promote.yml.
    assert (envs["prod"]["action"], envs["prod"]["new_tag"]) == ("promotion-only", None)
    assert envs["dev"]["action"] == "not-on-branch"
    assert plan["matrices"] == {
        "release": {
            "include": [
                {"component": "dataenginex", "tag": "dataenginex-v0.4.10"},
                {"component": "careerdex", "tag": "careerdex-v0.3.5"},
            ]
        },
        "publish": {"include": [{"component": "dataenginex", "tag": "dataenginex-v0.4.10"}]},
        "test-index": {"include": [{"component": "dataenginex", "tag": "dataenginex-v0.4.10"}]},
        "production-index": {
            "include": [{"component": "dataenginex", "tag": "dataenginex-v0.4.10"}]
        },
    }


@pytest.mark.usefixtures("indexes")
def test_pre_release_goes_to_the_test_index_only(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "dataenginex-v0.4.10")
    dex_repo.git("tag", "careerdex-v0.3.5")
    assert cli("version.bump", "dataenginex", "--part", "pre", cwd=dex_repo.path).code == 0
    plan = _plan(cli, dex_repo)
    releases = _by(plan["releases"], "component")
    assert releases["dataenginex"]["tag"] == "dataenginex-v0.4.11rc1"
    assert releases["careerdex"]["action"] == "unchanged"
    publish = _by(plan["publishes"], "component")["dataenginex"]
    assert publish["action"] == "publish"
    assert publish["test_index"] == "localtest"
    assert publish["production_index"] is None
    assert "pre-release" in str(publish["reason"])


@pytest.mark.usefixtures("indexes")
def test_no_change_under_the_library_skips_publishing(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "dataenginex-v0.4.10")
    dex_repo.write("src/careerdex/extra.py", "X = 1\n")
    dex_repo.commit("feat: app only")
    publish = _by(_plan(cli, dex_repo)["publishes"], "component")["dataenginex"]
    assert publish["action"] == "skip"


@pytest.mark.usefixtures("indexes")
def test_feature_branch_plans_no_release_and_no_image(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("checkout", "--quiet", "-b", "feature/x")
    plan = _plan(cli, dex_repo)
    assert {r["action"] for r in plan["releases"]} == {"refused"}
    assert all("not on a release branch" in r["reason"] for r in plan["releases"])
    assert _by(plan["images"], "component")["careerdex"]["action"] == "skip"
    assert plan["matrices"]["release"] == {"include": []}


@pytest.mark.usefixtures("indexes")
def test_dev_branch_updates_dev_only(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    envs = _by(_plan(cli, dex_repo)["environments"], "environment")
    assert envs["dev"]["action"] == "update"
    assert envs["stage"]["action"] == "not-on-branch"


@pytest.mark.usefixtures("indexes")
def test_outputs_summary_and_plan_file_under_actions(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "output"
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    snapshot = RepoSnapshot.take(dex_repo)
    plan_file = tmp_path / "plan.json"
    result = cli("pipeline.plan", "--output", str(plan_file), cwd=dex_repo.path)
    assert result.code == 0, result.err
    snapshot.assert_same(dex_repo)  # planning changes nothing
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert lines["has-releases"] == "true"
    assert lines["has-production-index"] == "true"
    assert json.loads(lines["publish-matrix"])["include"][0]["component"] == "dataenginex"
    text = summary.read_text()
    assert "```mermaid" in text
    assert "dev --> stage" in text
    assert "stage --> prod" in text
    assert json.loads(plan_file.read_text())["digest"] == lines["digest"]


@pytest.mark.usefixtures("indexes")
def test_plan_digest_detects_a_moved_repository(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    from dexops.errors import ConflictError
    from dexops.workflows.pipeline import require_plan_matches
    from dexops.workflows.workspace import Workspace

    plan_file = tmp_path / "plan.json"
    assert cli("pipeline.plan", "--output", str(plan_file), cwd=dex_repo.path).code == 0
    ws = Workspace.open(str(dex_repo.path))
    assert require_plan_matches(ws, str(plan_file))["commit"] == dex_repo.head()
    # The plan's own output (the release tag) does not invalidate it ...
    dex_repo.git("tag", "dataenginex-v0.4.10")
    require_plan_matches(ws, str(plan_file))
    # ... but an earlier release tag appearing does.
    dex_repo.git("tag", "dataenginex-v0.4.9", "HEAD")
    with pytest.raises(ConflictError, match="no longer matches"):
        require_plan_matches(ws, str(plan_file))
    dex_repo.git("tag", "-d", "dataenginex-v0.4.9")
    dex_repo.commit("chore: something new")
    with pytest.raises(ConflictError, match="make a new plan"):
        require_plan_matches(ws, str(plan_file))


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{}",
        "not json",
        '{"format": 99, "digest": "x"}',
        '{"format": 1, "digest": "x"}',
        '{"format": 1, "digest": "x", "commit": 7}',
        '{"format": 1, "commit": "abc", "digest": "x", "base": []}',
    ],
)
def test_a_bad_plan_file_is_one_line(tmp_path: Path, content: str) -> None:
    from dexops.errors import ConfigError
    from dexops.workflows.pipeline import load_plan

    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="plan"):
        load_plan(str(path))


@pytest.mark.usefixtures("indexes")
def test_release_follows_the_plan_and_refuses_a_stale_one(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    assert cli("pipeline.plan", "--output", str(plan_file), cwd=dex_repo.path).code == 0
    result = cli("release.dataenginex", "--plan", str(plan_file), cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "dataenginex-v0.4.10" in dex_repo.origin_git("tag", "--list")
    dex_repo.commit("chore: the branch moved on")
    dex_repo.push()
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.careerdex", "--plan", str(plan_file), cwd=dex_repo.path)
    assert result.code != 0
    assert result.err.startswith("error: plan ")
    assert result.err.count("\n") == 1
    snapshot.assert_same(dex_repo)


@pytest.mark.usefixtures("indexes")
def test_deploy_and_build_follow_the_plan(dex_repo: GitRepo, cli: Cli, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    assert cli("pipeline.plan", "--output", str(plan_file), cwd=dex_repo.path).code == 0
    planned = f"sha-{dex_repo.head()[:8]}"
    snapshot = RepoSnapshot.take(dex_repo)
    argv = ("deploy.update", "--branch", "main", "--plan", str(plan_file), "--dry-run")
    assert cli(*argv, "--image-tag", planned, cwd=dex_repo.path).code == 0
    refused = cli(*argv, "--image-tag", "sha-0badc0de", cwd=dex_repo.path)
    assert refused.code != 0
    assert refused.err == f"error: plan {plan_file} deploys {planned} to main, not sha-0badc0de\n"
    refused = cli(
        "deploy.update", "--branch", "dev", "--image-tag", planned, "--plan", str(plan_file),
        cwd=dex_repo.path,
    )  # fmt: skip
    assert "deploys nothing to dev" in refused.err
    built = cli(
        "image.build", "careerdex", "--plan", str(plan_file), "--dry-run", cwd=dex_repo.path
    )
    assert built.code == 0, built.err
    snapshot.assert_same(dex_repo)


@pytest.mark.usefixtures("indexes")
def test_publish_refuses_what_the_plan_skipped(dex_repo: GitRepo, cli: Cli, tmp_path: Path) -> None:
    dex_repo.git("tag", "dataenginex-v0.4.10")
    dex_repo.write("src/careerdex/extra.py", "X = 1\n")
    dex_repo.commit("feat: app only")
    plan_file = tmp_path / "plan.json"
    assert cli("pipeline.plan", "--output", str(plan_file), cwd=dex_repo.path).code == 0
    result = cli("publish.dataenginex", "--plan", str(plan_file), cwd=dex_repo.path)
    assert result.code != 0
    assert result.err.startswith(f"error: plan {plan_file} does not publish dataenginex: ")
    assert result.err.count("\n") == 1


def _traced_git(trace: Path) -> list[str]:
    """The git commands a GIT_TRACE file shows, as `git ...` with their arguments."""
    lines = trace.read_text(encoding="utf-8").splitlines()
    return [line.split("built-in: ", 1)[1] for line in lines if "built-in: git " in line]


@pytest.mark.usefixtures("indexes")
@pytest.mark.parametrize("detached", [False, True])
def test_the_plan_reads_head_branch_and_tags_once(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detached: bool
) -> None:
    if detached:
        dex_repo.git("checkout", "--quiet", "--detach")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    plan = _plan(cli, dex_repo)
    assert plan["commit"] == dex_repo.head()
    assert plan["branch"] == (None if detached else "main")
    commands = _traced_git(trace)  # before the test's own git below adds to the trace
    assert plan["base"] == dex_repo.git("rev-parse", "HEAD~1").strip()
    # HEAD, the checked-out branch, the base (HEAD's first parent) and the local tags are one
    # snapshot for the whole plan: each is read by one git process, however many decisions
    # use it.
    head = [c for c in commands if "--is-inside-work-tree" in c]
    assert head == [
        (
            "git rev-parse --is-inside-work-tree --is-shallow-repository 'HEAD^{commit}' HEAD^@ "
            "--symbolic-full-name HEAD"
        )
    ]
    # Whether the clone is shallow (for the hold scan) comes from that same process.
    assert [c for c in commands if "--is-shallow-repository" in c] == head
    # The environments' tips come from the cat-file that reads their overlays.
    assert not [c for c in commands if c.startswith("git rev-parse") and "refs/remotes" in c]
    assert not [c for c in commands if "HEAD~1" in c]
    # The image's tags are planned; its labels (the commit's time, origin's URL) are not.
    assert not [c for c in commands if c.startswith(("git show -s", "git remote get-url"))]
    tags = [c for c in commands if c.startswith("git for-each-ref") and c.endswith(" refs/tags")]
    assert tags == [
        "git for-each-ref '--format=%(refname:strip=2) %(objectname) %(*objectname)' refs/tags"
    ]

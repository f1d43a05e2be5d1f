from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import Cli, require_tool
from tests.fixtures_argocd import ArgoCDFake, application
from tests.fixtures_github import GitHubFake
from tests.fixtures_gitops import OVERLAY, GitOpsRepo
from tests.snapshot import RepoSnapshot

from dexops.errors import ExitCode

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("git", "apt-get install git")
    require_tool("kubectl", "kubectl with built-in kustomize renders the overlays")


def ok(cli: Cli, gitops: GitOpsRepo, *argv: str) -> str:
    result = cli(*argv, cwd=gitops.path)
    assert result.code == 0, result.err
    return result.out


def test_promotion_pull_request_and_rerun(
    gitops: GitOpsRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    a, b = gitops.make_tags(2)
    ok(cli, gitops, "deploy.update", "--branch", "main", "--image-tag", a, "--push")
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", b, "--push")
    main_tip = gitops.repo.origin_git("rev-parse", "main")
    out = ok(cli, gitops, "promote", "--to-env", "stage", "--yes", "--auto-merge")
    assert "pull request opened #1" in out
    assert gitops.repo.origin_git("rev-parse", "main") == main_tip  # reviewed, not pushed
    branch = f"promote-stage-{b}"
    assert gitops.repo.origin_git("log", "-1", "--format=%s", branch) == (
        f"chore: promote {b} to stage"
    )
    assert f"newTag: {b}" in gitops.overlay("stage", ref=branch)
    (post,) = [r for r in github_fake.requests if r.method == "POST" and r.path.endswith("/pulls")]
    body = post.body["body"]
    assert post.body["title"] == f"chore: promote {b} to stage"
    assert f"+    newTag: {b}" in body
    assert f"- {b[4:11]} feat: change 2" in body  # the commit between the two images
    assert "- [ ] dev is healthy" in body
    assert f"invoke rollback --env stage --to {a} --yes" in body
    assert any("graphql" in r.path for r in github_fake.requests)  # auto-merge asked

    posts = len(github_fake.requests)
    again = ok(cli, gitops, "promote", "--to-env", "stage", "--yes")
    assert "already open: #1" in again
    assert not [r for r in github_fake.requests[posts:] if r.method == "POST"]


def test_promotion_without_a_token_is_pushed_once(
    gitops: GitOpsRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = gitops.make_tags(2)
    ok(cli, gitops, "deploy.update", "--branch", "main", "--image-tag", a, "--push")
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", b, "--push")
    out = ok(cli, gitops, "promote", "--to-env", "stage", "--yes")
    branch = f"promote-stage-{b}"
    assert f"pushed branch {branch}; no GitHub token is set" in out
    first = gitops.repo.origin_git("rev-parse", branch)
    # A re-run later (a new commit time) finds the same change there and pushes nothing.
    for name in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(name, "2030-01-01T00:00:00+00:00")
    again = ok(cli, gitops, "promote", "--to-env", "stage", "--yes")
    assert f"branch {branch} already holds this change on origin; not pushed again" in again
    assert gitops.repo.origin_git("rev-parse", branch) == first
    # Once main moves, the branch is rebuilt on the new tip and pushed again.
    clone = gitops.clone(gitops.path.parent / "other")
    clone.write("NOTES.md", "moved\n")
    clone.commit("docs: notes", "NOTES.md")
    clone.push("main")
    moved = ok(cli, gitops, "promote", "--to-env", "stage", "--yes")
    assert f"pushed branch {branch}" in moved
    rebuilt = gitops.repo.origin_git("rev-parse", branch)
    assert rebuilt != first
    assert gitops.repo.origin_git("rev-parse", f"{rebuilt}~1") == gitops.repo.origin_git(
        "rev-parse", "main"
    )


def test_gates_each_refuse_with_their_own_message(gitops: GitOpsRepo, cli: Cli) -> None:
    a, b = gitops.make_tags(2)
    (unknown,) = gitops.make_tags(1, register=False)
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", a, "--push")
    snapshot = RepoSnapshot.take(gitops.repo)

    def refused(*argv: str) -> str:
        result = cli("promote", "--yes", "--direct", *argv, cwd=gitops.path)
        assert result.code == ExitCode.GATE_REFUSED, (argv, result.out, result.err)
        assert result.err.startswith("error: ")
        assert result.err.count("\n") == 1
        return result.err

    assert f"dev runs {a}, not {b}" in refused("--to-env", "stage", "--image-tag", b)
    assert "the registry has no image" in refused(
        "--to-env", "stage", "--image-tag", unknown, "--force"
    )
    assert "prod is promoted from stage, not dev" in refused(
        "--from-env", "dev", "--to-env", "prod"
    )
    snapshot.assert_same(gitops.repo)
    # The target already runs it: nothing to do, said plainly.
    ok(cli, gitops, "deploy.update", "--branch", "main", "--image-tag", a, "--push")
    same = ok(cli, gitops, "promote", "--to-env", "stage", "--yes", "--direct")
    assert f"stage already runs {a}; nothing to promote" in same
    # A held target refuses.
    ok(cli, gitops, "deploy.update", "--branch", "main", "--image-tag", b, "--push")
    ok(cli, gitops, "rollback", "--env", "stage", "--yes")
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", b, "--push")
    snapshot = RepoSnapshot.take(gitops.repo)
    assert "stage is on hold since rollback" in refused("--to-env", "stage")
    snapshot.assert_same(gitops.repo)


def test_registry_unreachable_refuses_unless_skipped(gitops: GitOpsRepo, cli: Cli) -> None:
    (a,) = gitops.make_tags(1)
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", a, "--push")
    gitops.registry.server.stop()
    try:
        before = gitops.repo.remote_refs()
        refused = cli("promote", "--to-env", "stage", "--direct", "--yes", cwd=gitops.path)
        assert refused.code == ExitCode.GATE_REFUSED
        assert "cannot check that" in refused.err
        assert "--skip-registry-check" in refused.err
        assert gitops.repo.remote_refs() == before
        skipped = cli(
            "promote", "--to-env", "stage", "--direct", "--yes", "--skip-registry-check",
            cwd=gitops.path,
        )  # fmt: skip
    finally:
        gitops.registry.server.start()
    assert skipped.code == 0, skipped.err
    assert "registry check skipped" in skipped.err
    assert gitops.tag("stage") == a


def test_a_new_user_walks_dev_stage_prod_rollback_and_hold(gitops: GitOpsRepo, cli: Cli) -> None:
    """The issue's 'done when': deploy, promote twice, status, rollback, hold, release."""
    old, new, later = gitops.make_tags(3)
    ok(cli, gitops, "deploy.update", "--branch", "main", "--image-tag", old, "--push")
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", new, "--push")
    # Promotions write main while main is checked out locally: the checkout is not touched.
    ok(cli, gitops, "promote", "--from-env", "dev", "--to-env", "stage", "--direct", "--yes")
    ok(cli, gitops, "promote", "--from-env", "stage", "--to-env", "prod", "--direct", "--yes")
    rows = {r["environment"]: r for r in json.loads(ok(cli, gitops, "status", "--json"))}
    assert {env: rows[env]["tag"] for env in rows} == {"dev": new, "stage": new, "prod": new}
    assert rows["prod"]["kind"] == "promote"
    assert rows["prod"]["drift"] == "in sync"
    table = ok(cli, gitops, "status")
    assert all(env in table for env in ("dev", "stage", "prod"))

    out = ok(cli, gitops, "rollback", "--env", "prod", "--yes")
    assert f"prod: {new} -> {old}" in out
    update = cli(
        "deploy.update", "--branch", "main", "--image-tag", later, "--push", cwd=gitops.path
    )
    assert update.code == 0, update.err
    assert "not updated: prod is on hold" in update.err
    assert (gitops.tag("stage"), gitops.tag("prod")) == (later, old)
    rows = {r["environment"]: r for r in json.loads(ok(cli, gitops, "status", "--json"))}
    assert rows["prod"]["hold"] is not None
    assert rows["prod"]["drift"] == "2 commit(s) behind"  # new and later

    ok(cli, gitops, "hold.release", "--env", "prod")
    ok(cli, gitops, "promote", "--to-env", "prod", "--direct", "--yes")
    assert gitops.tag("prod") == later
    assert gitops.repo.git("status", "--porcelain") == ""


def test_status_shows_argocd_sync_and_health(
    gitops: GitOpsRepo, cli: Cli, argocd_fake: ArgoCDFake
) -> None:
    (a,) = gitops.make_tags(1)
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", a, "--push")
    dev_tip = gitops.repo.origin_git("rev-parse", "dev")
    argocd_fake.script("dex-dev", application("dex-dev", revision=dev_tip))
    argocd_fake.script(
        "dex-stage",
        application("dex-stage", revision="0" * 40, sync="OutOfSync", health="Progressing"),
    )
    argocd_fake.script("dex-prod", 503)
    rows = {r["environment"]: r for r in json.loads(ok(cli, gitops, "status", "--json"))}
    assert (rows["dev"]["sync"], rows["dev"]["health"]) == ("Synced", "Healthy")
    assert (rows["stage"]["sync"], rows["stage"]["health"]) == ("OutOfSync", "Progressing")
    assert rows["prod"]["sync"] == "error"
    assert rows["dev"]["tag"] == a
    assert rows["dev"]["kind"] == "deploy"
    assert rows["stage"]["drift"] == "unknown"  # sha-0a1b2c3d is no commit of this repo
    table = ok(cli, gitops, "status")
    assert "sync" in table.splitlines()[0]


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def run_script(script: str, gitops: GitOpsRepo, *argv: str, installed: bool) -> str:
    """Run a wrapper script in the sandbox, with dexops on PATH (installed) or not."""
    venv_bin = str(Path(sys.executable).parent)
    others = [p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GH_")) and k != "VIRTUAL_ENV"
    }
    env["PATH"] = os.pathsep.join([venv_bin, *others] if installed else others)
    result = subprocess.run(
        ["bash", str(SCRIPTS / script), *argv],
        cwd=gitops.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_wrapper_scripts_run_the_design_card_lines(gitops: GitOpsRepo, cli: Cli) -> None:
    """Installed dexops in an adopting repository without tasks.py, then this checkout's tasks."""
    a, b = gitops.make_tags(2)
    gitops.repo.git("rm", "--quiet", "tasks.py")
    gitops.repo.commit("chore: an adopter without tasks.py")
    gitops.repo.push("main")
    ok(cli, gitops, "deploy.update", "--branch", "main", "--image-tag", a, "--push")
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", b, "--push")
    ok(cli, gitops, "promote", "--image-tag", b, "--direct", "--yes")
    line = ("--from-env", "stage", "--to-env", "prod", "--image-tag", b)
    out = run_script("promote.sh", gitops, *line, installed=True)
    branch = f"promote-prod-{b}"
    assert f"pushed branch {branch}; no GitHub token is set" in out
    assert f"newTag: {b}" in gitops.overlay("prod", ref=branch)
    # No dexops on PATH nor importable: the invoke tasks of the checkout the script is in.
    out = run_script("rollback.sh", gitops, "--env", "stage", "--yes", installed=False)
    assert f"stage: {b} -> {a}" in out
    assert gitops.tag("stage") == a


@pytest.mark.parametrize("script", ["promote.sh", "rollback.sh"])
def test_wrapper_scripts_have_help(script: str) -> None:
    path = SCRIPTS / script
    result = subprocess.run(
        ["bash", str(path), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith(f"Usage: scripts/{script}")


def test_image_tag_alone_walks_the_chain_one_step_at_a_time(gitops: GitOpsRepo, cli: Cli) -> None:
    """The design card's `invoke promote --image-tag sha-…`, typed twice: dev -> stage -> prod."""
    a, b = gitops.make_tags(2)
    ok(cli, gitops, "deploy.update", "--branch", "main", "--image-tag", a, "--push")
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", b, "--push")
    first = ok(cli, gitops, "promote", "--image-tag", b, "--direct", "--yes")
    assert f"promote {b}: dev -> stage" in first
    assert (gitops.tag("stage"), gitops.tag("prod")) == (b, a)
    second = ok(cli, gitops, "promote", "--image-tag", b, "--direct", "--yes")
    assert f"promote {b}: stage -> prod" in second
    assert gitops.tag("prod") == b
    tip = gitops.repo.origin_git("rev-parse", "main")
    again = ok(cli, gitops, "promote", "--image-tag", b, "--direct", "--yes")
    assert f"prod already runs {b}; nothing to promote" in again
    assert gitops.repo.origin_git("rev-parse", "main") == tip


def test_image_tag_alone_refuses_an_unknown_tag_and_an_ambiguous_chain(
    gitops: GitOpsRepo, cli: Cli
) -> None:
    (a,) = gitops.make_tags(1)
    ok(cli, gitops, "deploy.update", "--branch", "dev", "--image-tag", a, "--push")
    # A second environment promoted from dev: qa, on main, beside stage.
    stage = gitops.path / OVERLAY.format(env="stage")
    qa = gitops.path / OVERLAY.format(env="qa")
    qa.parent.mkdir()
    qa.write_text(stage.read_text(encoding="utf-8"), encoding="utf-8")
    pyproject = gitops.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8")
        + '\n[tool.dexops.environments.qa]\noverlay = "infra/argocd/overlays/qa"\n'
        'branch = "main"\npromote-from = "dev"\nargocd-app = "dex-qa"\n'
        'deployment = "dex"\nnamespace = "dex-qa"\npromotion-only = true\n',
        encoding="utf-8",
    )
    gitops.repo.commit("feat: a qa environment beside stage")
    gitops.repo.push("main")
    snapshot = RepoSnapshot.take(gitops.repo)

    def refused(tag: str) -> str:
        result = cli("promote", "--image-tag", tag, "--direct", "--yes", cwd=gitops.path)
        assert result.code == ExitCode.GATE_REFUSED, (result.out, result.err)
        assert result.err.startswith("error: ")
        assert result.err.count("\n") == 1
        assert "Traceback" not in result.err
        return result.err

    assert "no environment runs sha-12345678 (environments: dev, " in refused("sha-12345678")
    assert "pass --to-env qa or --to-env stage" in refused(a)
    snapshot.assert_same(gitops.repo)

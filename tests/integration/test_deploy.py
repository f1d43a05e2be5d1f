from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import Cli, require_tool
from tests.fixtures_github import GitHubFake
from tests.fixtures_gitops import OVERLAY, PROMOTION_ONLY, GitOpsRepo
from tests.snapshot import RepoSnapshot

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("git", "apt-get install git")
    require_tool("kubectl", "kubectl with built-in kustomize renders the overlays")


def trailers(gitops: GitOpsRepo, rev: str) -> str:
    return gitops.repo.origin_git("log", "-1", "--format=%(trailers:only=true)", rev)


def test_update_pushes_dev_without_touching_the_checkout(gitops: GitOpsRepo, cli: Cli) -> None:
    (tag,) = gitops.make_tags(1)
    before = RepoSnapshot.take(gitops.repo)
    old_dev = gitops.repo.origin_git("rev-parse", "dev")
    result = cli("deploy.update", "--branch", "dev", "--image-tag", tag, "--push", cwd=gitops.path)
    assert result.code == 0, result.err
    assert "pushed " in result.out
    assert gitops.tag("dev") == tag
    assert gitops.tag("stage") == "sha-0a1b2c3d"
    subject = gitops.repo.origin_git("log", "-1", "--format=%s", "dev")
    assert subject == f"chore: update dev image to {tag} [skip ci]"
    assert trailers(gitops, "dev").splitlines() == [
        "Dexops-Action: deploy",
        "Dexops-Environment: dev",
        f"Dexops-Image-Tag: {tag}",
        "Dexops-Previous-Tag: sha-0a1b2c3d",
    ]
    assert gitops.repo.origin_git("rev-parse", "dev~1") == old_dev
    # Only the tag's bytes changed in the overlay.
    diff = gitops.repo.origin_git("diff", "--unified=0", "dev~1", "dev").splitlines()
    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-    newTag: sha-0a1b2c3d  # updated by dexops (deploy.update / promote / rollback)",
        f"+    newTag: {tag}  # updated by dexops (deploy.update / promote / rollback)",
    ]
    # main is checked out: HEAD, index, working tree and local branches are as they were.
    after = RepoSnapshot.take(gitops.repo)
    assert (after.head, after.symbolic_head, after.tree) == (
        before.head,
        before.symbolic_head,
        before.tree,
    )
    assert gitops.repo.git("rev-parse", "dev") == old_dev

    again = cli("deploy.update", "--branch", "dev", "--image-tag", tag, "--push", cwd=gitops.path)
    assert again.code == 0, again.err
    assert "already runs" in again.out
    assert gitops.repo.origin_git("rev-parse", "dev~1") == old_dev


def _prod_promotion_only(gitops: GitOpsRepo) -> None:
    """The example's own configuration: prod is changed by promotion and rollback only."""
    pyproject = gitops.path / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    marker = 'promote-from = "stage"\n'
    pyproject.write_text(text.replace(marker, marker + PROMOTION_ONLY), encoding="utf-8")
    gitops.repo.commit("ci: prod by promotion only")
    gitops.repo.push("main")


def test_cd_never_writes_a_promotion_only_environment(gitops: GitOpsRepo, cli: Cli) -> None:
    _prod_promotion_only(gitops)
    (tag,) = gitops.make_tags(1)
    prod = gitops.tag("prod")
    result = cli("deploy.update", "--branch", "main", "--image-tag", tag, "--push", cwd=gitops.path)
    assert result.code == 0, result.err
    assert gitops.tag("stage") == tag
    assert gitops.tag("prod") == prod
    subjects = gitops.repo.origin_git("log", "-1", "--format=%s", "main")
    assert subjects == f"chore: update stage image to {tag} [skip ci]"
    snapshot = RepoSnapshot.take(gitops.repo)
    argv = ("deploy.update", "--branch", "main", "--env", "prod", "--image-tag", tag, "--push")
    refused = cli(*argv, cwd=gitops.path)
    assert refused.code == 1
    assert refused.err == "error: prod is promotion-only: `promote` and `rollback` change it\n"
    snapshot.assert_same(gitops.repo)


def test_update_main_commits_each_environment(gitops: GitOpsRepo, cli: Cli) -> None:
    (tag,) = gitops.make_tags(1)
    result = cli("deploy.update", "--branch", "main", "--image-tag", tag, "--push", cwd=gitops.path)
    assert result.code == 0, result.err
    assert gitops.tag("stage") == tag
    assert gitops.tag("prod") == tag
    assert gitops.tag("dev") == "sha-0a1b2c3d"
    subjects = gitops.repo.origin_git("log", "-2", "--format=%s", "main").splitlines()
    assert subjects == [
        f"chore: update prod image to {tag} [skip ci]",
        f"chore: update stage image to {tag} [skip ci]",
    ]


def test_dry_run_and_bad_input_change_nothing(gitops: GitOpsRepo, cli: Cli) -> None:
    (tag,) = gitops.make_tags(1)
    snapshot = RepoSnapshot.take(gitops.repo)
    dry = cli(
        "deploy.update", "--branch", "dev", "--image-tag", tag, "--push", "--dry-run",
        cwd=gitops.path,
    )  # fmt: skip
    assert dry.code == 0, dry.err
    assert f"+    newTag: {tag}" in dry.out
    assert "[dry-run] would commit 'chore: update dev image to" in dry.out
    for argv in (
        ("deploy.update", "--branch", "nosuch", "--image-tag", tag, "--push"),
        ("deploy.update", "--branch", "dev", "--image-tag", "bad tag!", "--push"),
        ("deploy.update", "--branch", "dev", "--image-tag", tag, "--digest", "md5:x", "--push"),
        ("deploy.set-image", "--env", "nosuch", "--image-tag", tag),
        ("deploy.set-image", "--env", "dev", "--image-tag", "-x"),
    ):
        result = cli(*argv, cwd=gitops.path)
        assert result.code != 0, argv
        assert result.err.startswith("error: "), result.err
        assert result.err.count("\n") == 1, result.err
    snapshot.assert_same(gitops.repo)


def test_set_image_edits_the_working_tree_and_shows_the_diff(gitops: GitOpsRepo, cli: Cli) -> None:
    digest = "sha256:" + "ab" * 32
    result = cli(
        "deploy.set-image", "--env", "stage", "--image-tag", "sha-12345678", "--digest", digest,
        cwd=gitops.path,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "+    newTag: sha-12345678" in result.out
    text = (gitops.path / OVERLAY.format(env="stage")).read_text()
    assert f"    digest: {digest}\n" in text
    assert gitops.repo.git("status", "--porcelain") == f"M {OVERLAY.format(env='stage')}"
    # The working tree's overlay renders with the pinned image.
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(gitops.path / "infra/argocd/overlays/stage")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"image: {gitops.image}:sha-12345678@{digest}" in rendered


def test_a_render_failure_aborts_before_anything_is_pushed(gitops: GitOpsRepo, cli: Cli) -> None:
    (tag,) = gitops.make_tags(1)
    # Someone broke the dev overlay on origin: a replica count that is not a number.
    clone = gitops.clone(gitops.path.parent / "breaker")
    clone.git("checkout", "--quiet", "dev")
    path = clone.path / OVERLAY.format(env="dev")
    path.write_text(path.read_text().replace("count: 1", "count: many"))
    clone.commit("chore: break dev")
    clone.push("dev")
    tip = gitops.repo.origin_git("rev-parse", "dev")
    result = cli("deploy.update", "--branch", "dev", "--image-tag", tag, "--push", cwd=gitops.path)
    assert result.code != 0
    assert result.err.startswith("error: rendering dev failed:"), result.err
    assert gitops.repo.origin_git("rev-parse", "dev") == tip


def test_update_without_push_advances_the_local_branch(gitops: GitOpsRepo, cli: Cli) -> None:
    (tag,) = gitops.make_tags(1)
    result = cli("deploy.update", "--branch", "dev", "--image-tag", tag, cwd=gitops.path)
    assert result.code == 0, result.err
    assert "not pushed" in result.out
    local = gitops.repo.git("show", f"dev:{OVERLAY.format(env='dev')}")
    assert f"newTag: {tag}" in local
    assert gitops.tag("dev") == "sha-0a1b2c3d"  # origin untouched
    assert gitops.repo.git("status", "--porcelain") == ""


def test_update_without_push_twice_then_push_converges(gitops: GitOpsRepo, cli: Cli) -> None:
    (tag,) = gitops.make_tags(1)
    argv = ("deploy.update", "--branch", "dev", "--image-tag", tag)
    first = cli(*argv, cwd=gitops.path)
    assert first.code == 0, first.err
    local = gitops.repo.git("rev-parse", "dev")

    again = cli(*argv, cwd=gitops.path)
    assert again.code == 0, again.err
    assert f"already committed locally as {local} on dev" in again.out
    assert gitops.repo.git("rev-parse", "dev") == local
    assert gitops.tag("dev") == "sha-0a1b2c3d"  # origin untouched

    pushed = cli(*argv, "--push", cwd=gitops.path)
    assert pushed.code == 0, pushed.err
    assert f"pushed {local} to dev" in pushed.out
    assert pushed.err == ""
    # The earlier local commit is what was pushed: the local branch and origin agree.
    assert gitops.repo.origin_git("rev-parse", "dev") == local
    assert gitops.repo.git("rev-parse", "dev") == local
    assert gitops.tag("dev") == tag


def test_push_never_takes_along_other_local_commits(gitops: GitOpsRepo, cli: Cli) -> None:
    (tag,) = gitops.make_tags(1)
    assert cli("deploy.update", "--branch", "dev", "--image-tag", tag, cwd=gitops.path).code == 0
    mine = gitops.repo.git("rev-parse", "dev")
    # A commit of someone's own under the update: the local branch is not pushed as it is.
    tree = f"{mine}^{{tree}}"
    wip = gitops.repo.git("commit-tree", tree, "-p", f"{mine}~1", "-m", "wip: local")
    top = gitops.repo.git("commit-tree", tree, "-p", wip, "-m", "chore: no trailers")
    gitops.repo.git("update-ref", "refs/heads/dev", top)
    result = cli("deploy.update", "--branch", "dev", "--image-tag", tag, "--push", cwd=gitops.path)
    assert result.code == 0, result.err
    log = gitops.repo.origin_git("log", "--format=%s", "dev")
    assert "wip: local" not in log
    assert "chore: no trailers" not in log
    assert "has commits origin/dev lacks; it was left as is" in result.err


def test_push_after_other_local_commits_leaves_the_branch_and_says_so(
    gitops: GitOpsRepo, cli: Cli
) -> None:
    a, b = gitops.make_tags(2)
    assert cli("deploy.update", "--branch", "dev", "--image-tag", a, cwd=gitops.path).code == 0
    local = gitops.repo.git("rev-parse", "dev")
    # Another tag is pushed: the local commit for `a` is not reused, and the branch stays.
    result = cli("deploy.update", "--branch", "dev", "--image-tag", b, "--push", cwd=gitops.path)
    assert result.code == 0, result.err
    assert gitops.tag("dev") == b
    assert gitops.repo.git("rev-parse", "dev") == local
    assert result.err == (
        f"warning: local branch dev ({local[:12]}) has commits origin/dev lacks; it was left "
        "as is (compare with: git log dev...origin/dev)\n"
    )


def _env_for_subprocess(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["HOME"] = str(home)
    return env


def test_concurrent_updates_from_several_clones_all_land(
    gitops: GitOpsRepo, tmp_path: Path
) -> None:
    tags = gitops.make_tags(4)
    base = gitops.repo.origin_git("rev-parse", "dev")
    clones = [gitops.clone(tmp_path / f"job{i}") for i in range(len(tags))]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dexops",
                *f"deploy.update --branch dev --push --image-tag {tag}".split(),
            ],
            cwd=clone.path,
            env=_env_for_subprocess(tmp_path / "home"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone, tag in zip(clones, tags, strict=True)
    ]
    outcomes = [proc.communicate(timeout=240) for proc in procs]
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, (out, err)
    print("".join(out for out, _ in outcomes))  # shows which jobs raced (-s)
    # Every tag landed as its own commit on a linear history; none was lost.
    log = gitops.repo.origin_git(
        "log", "--format=%H %P%x09%(trailers:key=Dexops-Image-Tag,valueonly)", f"{base}..dev"
    ).splitlines()
    landed = [line.split("\t")[1].strip() for line in log if "\t" in line]
    assert sorted(landed) == sorted(tags)
    assert gitops.repo.origin_git("rev-list", "--min-parents=2", f"{base}..dev") == ""
    assert gitops.repo.origin_git("rev-list", "--count", f"{base}..dev") == str(len(tags))
    assert gitops.tag("dev") in tags
    assert gitops.tag("dev") == landed[0]


def test_protected_branch_opens_a_pull_request(
    gitops: GitOpsRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    (tag,) = gitops.make_tags(1)
    gitops.protect("main")
    tip = gitops.repo.origin_git("rev-parse", "main")
    result = cli(
        "deploy.update", "--branch", "main", "--image-tag", tag, "--push", "--env", "stage",
        cwd=gitops.path,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "refused a direct push (protected)" in result.out
    assert "pull request opened #" in result.out
    assert gitops.repo.origin_git("rev-parse", "main") == tip
    branch = f"dexops/deploy-stage-{tag}"
    assert f"newTag: {tag}" in gitops.overlay("stage", ref=branch)
    posts = [r for r in github_fake.requests if r.line.endswith("/pulls") and r.method == "POST"]
    assert len(posts) == 1
    assert posts[0].body["head"] == branch
    assert posts[0].body["base"] == "main"

    again = cli(
        "deploy.update", "--branch", "main", "--image-tag", tag, "--push", "--env", "stage",
        cwd=gitops.path,
    )  # fmt: skip
    assert again.code == 0, again.err
    assert "already open" in again.out
    assert len([r for r in github_fake.requests if r.method == "POST"]) == 1

"""Drift and promotion follow ancestry, with git's left-right count as the oracle."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.gitrepo import GitRepo
from tests.test_overlay_history import set_tag

STAGE = "infra/argocd/overlays/stage/kustomization.yaml"


def feature(repo: GitRepo, name: str) -> str:
    repo.write(f"src/careerdex/{name}.py", f"# {name}\n")
    return repo.commit(f"feat: {name}", f"src/careerdex/{name}.py")


def set_stage(repo: GitRepo, tag: str) -> str:
    text = (repo.path / STAGE).read_text(encoding="utf-8")
    current = text.split("newTag: ", 1)[1].split()[0]
    repo.write(STAGE, text.replace(f"newTag: {current}", f"newTag: {tag}"))
    return repo.commit(f"chore: update stage image to {tag}", STAGE)


def squash_flow(repo: GitRepo) -> tuple[str, str]:
    """dev squash-merged into main; stage runs main's squash, dev moved on: (main's, dev's)."""
    repo.git("checkout", "--quiet", "dev")
    feature(repo, "a1")
    a2 = feature(repo, "a2")
    set_tag(repo, f"sha-{a2[:8]}", f"chore: update dev image to sha-{a2[:8]}")
    repo.git("checkout", "--quiet", "main")
    repo.git("merge", "--squash", "--quiet", "dev")
    squashed = repo.commit("feat: a1 and a2 (#1)")
    set_stage(repo, f"sha-{squashed[:8]}")
    repo.git("checkout", "--quiet", "dev")
    a3 = feature(repo, "a3")
    set_tag(repo, f"sha-{a3[:8]}", f"chore: update dev image to sha-{a3[:8]}")
    repo.push("main", "dev")
    return squashed, a3


def test_status_says_diverged_after_a_squash_merge(dex_repo: GitRepo, cli: Cli) -> None:
    squashed, a3 = squash_flow(dex_repo)
    left, right = dex_repo.git("rev-list", "--left-right", "--count", f"{squashed}...{a3}").split()
    assert int(left) > 0
    assert int(right) > 0
    result = cli("status", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    stage = next(r for r in json.loads(result.out) if r["environment"] == "stage")
    assert (stage["ahead"], stage["behind"]) == (int(left), int(right))
    assert stage["drift"] == f"diverged: {right} behind, {left} ahead"
    table = cli("status", cwd=dex_repo.path)
    assert "diverged" in table.out


def test_status_counts_behind_when_the_target_is_an_ancestor(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    old = feature(dex_repo, "b1")
    feature(dex_repo, "b2")
    new = feature(dex_repo, "b3")
    set_tag(dex_repo, f"sha-{new[:8]}", "chore: update dev image")
    dex_repo.git("checkout", "--quiet", "main")
    dex_repo.git("merge", "--quiet", "--no-ff", "-m", "Merge dev", "dev")
    set_stage(dex_repo, f"sha-{old[:8]}")
    dex_repo.push("main", "dev")
    left, right = dex_repo.git("rev-list", "--left-right", "--count", f"{old}...{new}").split()
    assert left == "0"
    result = cli("status", "--json", "--env", "stage", cwd=dex_repo.path)
    stage = json.loads(result.out)[0]
    assert stage["drift"] == f"{right} commit(s) behind"


def test_a_promotion_that_would_drop_changes_is_refused_unless_forced(
    dex_repo: GitRepo, cli: Cli
) -> None:
    squashed, a3 = squash_flow(dex_repo)
    # git's own word: the squash commit stage runs is not in dev's history.
    ancestry = ["git", "merge-base", "--is-ancestor", squashed, a3]
    assert subprocess.run(ancestry, cwd=dex_repo.path, check=False).returncode == 1
    before = dex_repo.remote_refs()
    args = ("promote", "--from-env", "dev", "--to-env", "stage", "--skip-registry-check")
    refused = cli(*args, "--yes", cwd=dex_repo.path)
    assert refused.code == ExitCode.GATE_REFUSED, refused.err
    line = refused.err.strip()
    assert len(line.splitlines()) == 1
    assert squashed in line
    assert a3 in line
    assert "not an ancestor" in line
    assert "--force" in line
    assert dex_repo.remote_refs() == before
    forced = cli(*args, "--force", "--dry-run", cwd=dex_repo.path)
    assert forced.code == 0, forced.err
    assert f"promote sha-{a3[:8]}" in forced.out


def test_a_shallow_clone_still_refuses_a_promotion_that_would_drop_changes(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    # actions/checkout's default clone: main's tip only, so the commit stage runs is missing
    # until the promotion completes the history it judges ancestry with.
    squashed, a3 = squash_flow(dex_repo)
    shallow = tmp_path / "shallow"
    clone = ["git", "clone", "--quiet", "--depth", "1", f"file://{dex_repo.origin}", str(shallow)]
    subprocess.run(clone, check=True)
    missing = subprocess.run(["git", "cat-file", "-e", squashed], cwd=shallow, check=False)
    assert missing.returncode != 0
    before = dex_repo.remote_refs()
    args = ("promote", "--from-env", "dev", "--to-env", "stage", "--skip-registry-check")
    refused = cli(*args, "--yes", cwd=shallow)
    assert refused.code == ExitCode.GATE_REFUSED, refused.out + refused.err
    assert "not an ancestor" in refused.err
    assert squashed in refused.err
    assert a3 in refused.err
    assert dex_repo.remote_refs() == before

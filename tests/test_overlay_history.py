"""Holds and history read from the overlay's own commits, in full and shallow clones alike."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dexops.domain import holds
from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.gitrepo import GitRepo

OVERLAY = "infra/argocd/overlays/dev/kustomization.yaml"


def set_tag(repo: GitRepo, tag: str, subject: str, *trailers: holds.Trailers) -> str:
    """Commit the dev overlay holding `tag` (on the checked-out branch)."""
    text = (repo.path / OVERLAY).read_text(encoding="utf-8")
    current = text.split("newTag: ", 1)[1].split()[0]
    repo.write(OVERLAY, text.replace(f"newTag: {current}", f"newTag: {tag}"))
    return repo.commit(holds.commit_message(subject, "", list(trailers)), OVERLAY)


def noise(repo: GitRepo, count: int, name: str = "src/careerdex/noise.txt") -> None:
    """Commits that leave every overlay alone."""
    for i in range(count):
        repo.write(name, f"{i}\n")
        repo.commit(f"feat: unrelated change {i}", name)


def rollback_hold(repo: GitRepo, tag: str, previous: str) -> str:
    """A dexops rollback of dev to `tag` that puts dev on hold."""
    trailer = holds.Trailers("rollback", "dev", tag, previous, hold=True)
    return set_tag(repo, tag, f"fix: rollback dev to {tag}", trailer)


def release(repo: GitRepo, tag: str) -> str:
    """A dexops hold release: an empty commit with the hold trailer."""
    trailer = holds.Trailers("hold-release", "dev", image_tag=tag, hold=False)
    message = holds.commit_message("chore: release rollback hold on dev", "", [trailer])
    repo.git("commit", "--quiet", "--allow-empty", "-m", message)
    return repo.head()


def oracle_hold(repo: GitRepo, branch: str) -> str | None:
    """git's own answer: the newest commit of the whole branch deciding dev's hold."""
    out = repo.git(
        "log",
        "--format=%H %(trailers:key=Dexops-Hold,valueonly,separator=)",
        "-E",
        "--grep=^Dexops-Hold: (true|false)$",
        f"origin/{branch}",
    )
    for line in out.splitlines():
        commit, _, value = line.partition(" ")
        return commit if value.strip() == "true" else None
    return None


def status_row(cli: Cli, cwd: Path, env: str = "dev") -> dict[str, object]:
    result = cli("status", "--json", cwd=cwd)
    assert result.code == 0, result.err
    row: dict[str, object] = next(r for r in json.loads(result.out) if r["environment"] == env)
    return row


def test_a_hold_behind_many_commits_is_seen_and_its_empty_release_too(
    dex_repo: GitRepo, cli: Cli
) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    set_tag(dex_repo, "sha-00000001", "chore: update dev image to sha-00000001")
    set_tag(dex_repo, "sha-00000002", "chore: update dev image to sha-00000002")
    held = rollback_hold(dex_repo, "sha-00000001", "sha-00000002")
    noise(dex_repo, 40)
    dex_repo.push("dev")
    assert oracle_hold(dex_repo, "dev") == held
    assert status_row(cli, dex_repo.path)["hold"] == f"held by {held[:8]}"
    release(dex_repo, "sha-00000001")
    noise(dex_repo, 3)
    dex_repo.push("dev")
    assert oracle_hold(dex_repo, "dev") is None
    assert status_row(cli, dex_repo.path)["hold"] is None
    # A new hold after the release counts again.
    again = rollback_hold(dex_repo, "sha-00000002", "sha-00000001")
    dex_repo.push("dev")
    assert oracle_hold(dex_repo, "dev") == again
    assert status_row(cli, dex_repo.path)["hold"] == f"held by {again[:8]}"


def shallow_clone(repo: GitRepo, path: Path, branch: str) -> GitRepo:
    """`actions/checkout`'s default: one commit of one branch."""
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            branch,
            f"file://{repo.origin}",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    clone = GitRepo(path, repo.origin)
    assert clone.git("rev-parse", "--is-shallow-repository") == "true"
    return clone


def held_dev(dex_repo: GitRepo) -> str:
    dex_repo.git("checkout", "--quiet", "dev")
    set_tag(dex_repo, "sha-00000001", "chore: update dev image to sha-00000001")
    set_tag(dex_repo, "sha-00000002", "chore: update dev image to sha-00000002")
    held = rollback_hold(dex_repo, "sha-00000001", "sha-00000002")
    noise(dex_repo, 5)
    dex_repo.push("dev")
    return held


def test_a_shallow_clone_never_hides_a_hold_from_deploy_update(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    held_dev(dex_repo)
    clone = shallow_clone(dex_repo, tmp_path / "ci", "dev")
    before = dex_repo.remote_refs()
    result = cli(
        "deploy.update", "--branch", "dev", "--image-tag", "sha-00000003", "--push", cwd=clone.path
    )
    assert result.code == ExitCode.ON_HOLD, result.err
    assert "dev is on hold since rollback" in result.err
    assert dex_repo.remote_refs() == before


def test_history_in_a_shallow_clone_is_the_whole_history(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    held_dev(dex_repo)
    clone = shallow_clone(dex_repo, tmp_path / "ci", "dev")
    result = cli("history", "--env", "dev", "--json", cwd=clone.path)
    assert result.code == 0, result.err
    tags = [row["tag"] for row in json.loads(result.out)]
    expected = dex_repo.git("log", "--format=%H", "origin/dev", "--", OVERLAY).splitlines()
    assert tags == ["sha-00000001", "sha-00000002", "sha-00000001", "sha-0a1b2c3d"]
    assert len(expected) == 4
    assert clone.git("rev-parse", "--is-shallow-repository") == "false"


def test_a_shallow_clone_that_cannot_deepen_refuses_in_one_line(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    held_dev(dex_repo)
    # origin itself is a mirror cut short: a deepening fetch succeeds and brings nothing.
    mirror = tmp_path / "mirror.git"
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--bare",
            "--depth",
            "1",
            "--no-single-branch",
            f"file://{dex_repo.origin}",
            str(mirror),
        ],
        check=True,
        capture_output=True,
    )
    clone = GitRepo(tmp_path / "ci", mirror)
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--no-single-branch",
            "--branch",
            "dev",
            f"file://{mirror}",
            str(clone.path),
        ],
        check=True,
        capture_output=True,
    )
    before = clone.remote_refs()
    for task in (
        ["status"],
        ["history", "--env", "dev"],
        ["metrics"],
        ["rollback", "--env", "dev"],
        ["deploy.update", "--branch", "dev", "--image-tag", "sha-00000003", "--push"],
    ):
        result = cli(*task, cwd=clone.path)
        assert result.code != 0, task
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, result.err
        assert lines[0].startswith("error: this is a shallow clone"), result.err
        assert "fetch-depth: 0" in lines[0], result.err
    assert clone.remote_refs() == before
    assert clone.git("rev-parse", "--is-shallow-repository") == "true"

"""invoke's core flags: `--dry` is every task's `--dry-run`; flags dexops would ignore refuse."""

from __future__ import annotations

from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.gitrepo import GitRepo

SET_IMAGE = ("deploy.set-image", "--env", "stage", "--image-tag", "sha-1234abcd")


def test_dry_changes_nothing_and_says_what_it_would_do(dex_repo: GitRepo, cli: Cli) -> None:
    refs = dex_repo.remote_refs()
    result = cli("--dry", *SET_IMAGE, cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "[dry-run] would" in result.out
    assert dex_repo.git("status", "--porcelain") == ""
    assert dex_repo.remote_refs() == refs
    short = cli("-R", *SET_IMAGE, cwd=dex_repo.path)
    assert short.code == 0, short.err
    assert dex_repo.git("status", "--porcelain") == ""


def test_dry_leaves_a_read_only_task_as_it_is(dex_repo: GitRepo, cli: Cli) -> None:
    assert (
        cli("--dry", "version.show", cwd=dex_repo.path).out
        == cli("version.show", cwd=dex_repo.path).out
    )


def test_runner_flags_dexops_cannot_honour_are_refused(dex_repo: GitRepo, cli: Cli) -> None:
    for flag in ("--echo", "--pty", "--warn-only"):
        result = cli(flag, *SET_IMAGE, cwd=dex_repo.path)
        assert result.code == ExitCode.USAGE, flag
        assert result.err == f"error: {flag} has no effect on dexops tasks\n"
        assert dex_repo.git("status", "--porcelain") == ""

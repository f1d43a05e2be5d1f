"""Every task `--list` prints answers `TASK --help` and `TASK -h`, under dexops and invoke."""

from __future__ import annotations

import re
import sys

import pytest

from tests.conftest import Cli
from tests.gitrepo import GitRepo


def _listed(cli: Cli, repo: GitRepo) -> list[str]:
    listing = cli("--list", cwd=repo.path)
    assert listing.code == 0, listing.err
    return re.findall(r"^  (\S+)", listing.out, flags=re.MULTILINE)


def _invoke(
    repo: GitRepo,
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """The `invoke` binary's own Program, loading the repository's tasks.py."""
    from invoke.program import Program

    monkeypatch.chdir(repo.path)
    monkeypatch.setattr(sys, "argv", ["invoke", *argv])
    monkeypatch.delitem(sys.modules, "tasks", raising=False)
    capsys.readouterr()
    code = 0
    try:
        Program(binary_names=["invoke", "inv"]).run(["invoke", *argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_listed_task_prints_its_help(
    dex_repo: GitRepo,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = _listed(cli, dex_repo)
    assert {"promote", "rollback", "version.bump", "release.dataenginex", "image.scan"} <= set(
        names
    )
    for name in names:
        for flag in ("--help", "-h"):
            result = cli(name, flag, cwd=dex_repo.path)
            assert result.code == 0, (name, flag, result.err)
            assert result.out.startswith(f"Usage: dexops [--core-opts] {name} "), (name, flag)
            assert "Options:" in result.out
        code, out, err = _invoke(dex_repo, [name, "-h"], monkeypatch, capsys)
        assert code == 0, (name, err)
        assert out.startswith(f"Usage: invoke [--core-opts] {name} "), name


def test_help_after_a_positional_task_s_other_flags(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("version.bump", "--part", "minor", "--help", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "--part" in result.out


def test_a_required_flag_left_out_is_a_usage_line(dex_repo: GitRepo, cli: Cli) -> None:
    snapshot = dex_repo.remote_refs()
    result = cli("rollback", "--yes", cwd=dex_repo.path)
    assert (result.code, result.err) == (2, "error: --env is required\n")
    assert dex_repo.remote_refs() == snapshot


def test_help_equals_task_under_invoke(
    dex_repo: GitRepo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _invoke(dex_repo, ["--help=version.bump"], monkeypatch, capsys)
    assert code == 0, err
    assert out.startswith("Usage: invoke [--core-opts] version.bump "), out
    assert "--part" in out

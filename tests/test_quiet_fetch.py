"""Reads fetch only the refs they need and never start git's maintenance or gc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.gitrepo import GitRepo

ENV_BRANCHES = {"dev", "main"}  # the example's environments track these


@pytest.mark.parametrize("argv", [("status",), ("history", "--env", "dev")])
def test_a_read_fetches_its_branches_alone_and_starts_no_maintenance(
    dex_repo: GitRepo,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    # A repository whose next `git maintenance run --auto` or `gc --auto` would do work.
    dex_repo.git("config", "gc.auto", "1")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    result = cli(*argv, cwd=dex_repo.path)
    assert result.code == 0, result.err
    lines = trace.read_text().splitlines()
    started = [line.split("trace: ", 1)[1] for line in lines if "trace: " in line]
    assert not [s for s in started if re.search(r"\bmaintenance\b|\bgc\b", s)]
    fetches = [s for s in started if s.startswith("built-in: git fetch")]
    assert fetches
    for command in fetches:
        words = command.split()
        assert "--no-tags" in words
        specs = [w for w in words if w.startswith("+refs/")]
        assert specs
        assert {re.sub(r"^\+refs/heads/([^:]+):.*$", r"\1", s) for s in specs} <= ENV_BRANCHES
        assert all(s.endswith(f"refs/remotes/origin/{s.split(':')[0][12:]}") for s in specs)

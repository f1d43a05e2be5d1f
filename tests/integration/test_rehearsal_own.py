"""dexops' own release workflow rehearsed: dexops releases and publishes itself with its tasks.

The sandbox is a clone of this checkout's HEAD with a bare origin, its `[tool.dexops]`
pointed at the two local pypiservers; GitHub's API is the GitHub fake. A version bump on
main is rehearsed through `.github/workflows/release.yml`, then re-run.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from tests.conftest import require_tool
from tests.fixtures_github import GitHubFake
from tests.fixtures_pypi import PypiServers
from tests.gitrepo import GIT_ENV, GitRepo
from tests.integration.rehearsal_sandbox import PYPI_UPLOAD, TEST_UPLOAD
from tests.rehearsal import payloads
from tests.rehearsal.fixtures import Rehearsal
from tests.rehearsal.model import IndexTarget

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _uv_lock(path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run(["uv", "lock", "--quiet"], cwd=path, check=True, timeout=300, env=env)


@pytest.fixture
def own(
    tmp_path: Path,
    rehearsal: Rehearsal,
    *,
    pypi_servers: PypiServers,
    github_fake: GitHubFake,
    monkeypatch: pytest.MonkeyPatch,
) -> GitRepo:
    """A clone of this checkout's HEAD (main pushed to a bare origin), indexes configured."""
    require_tool("git", "apt-get install git")
    work = tmp_path / "dexops"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(work)], check=True)
    subprocess.run(["git", "init", "--quiet", "--bare", str(rehearsal.origin)], check=True)
    repo = GitRepo(work, rehearsal.origin)
    for key, value in (
        ("user.name", GIT_ENV["GIT_AUTHOR_NAME"]),
        ("user.email", GIT_ENV["GIT_AUTHOR_EMAIL"]),
    ):
        repo.git("config", key, value)
    repo.git("checkout", "--quiet", "-B", "main")
    repo.git("remote", "set-url", "origin", str(rehearsal.origin))
    # Earlier tags of this checkout (if any) stay out: the sandbox starts at this version.
    for tag in repo.git("tag", "--list").split():
        repo.git("tag", "--delete", tag)
    pypi_servers.configure(work, monkeypatch)
    repo.commit("ci: the local package indexes", "pyproject.toml")
    repo.push("main")
    rehearsal.services.indexes = {
        TEST_UPLOAD: IndexTarget(
            pypi_servers.test.url, pypi_servers.test.username, pypi_servers.test.password
        ),
        PYPI_UPLOAD: IndexTarget(
            pypi_servers.production.url,
            pypi_servers.production.username,
            pypi_servers.production.password,
        ),
    }
    rehearsal.services.api_url = github_fake.url
    rehearsal.secrets = {"GITHUB_TOKEN": github_fake.token}
    return repo


def test_dexops_releases_and_publishes_itself_and_a_re_run_converges(
    own: GitRepo, rehearsal: Rehearsal, pypi_servers: PypiServers, github_fake: GitHubFake
) -> None:
    pyproject = own.path / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    version = re.search(r'(?m)^version = "([^"]+)"', text)
    assert version
    major, minor, patch = version[1].split(".")[:3]
    bumped = f"{major}.{minor}.{int(re.sub(r'[^0-9].*', '', patch)) + 1}"
    pyproject.write_text(text.replace(f'version = "{version[1]}"', f'version = "{bumped}"', 1))
    _uv_lock(own.path)
    commit = own.commit(f"chore: release {bumped}")
    own.push("main")
    workflow = own.path / ".github" / "workflows" / "release.yml"
    pushed = payloads.push(own.origin, "refs/heads/main")
    run = rehearsal.run(workflow, "push", pushed, repository=github_fake.repository)
    run.assert_success()
    tag = f"v{bumped}"
    assert run.job("release").outputs["released"] == "true"
    assert own.origin_git("rev-parse", f"{tag}^{{commit}}") == commit
    assert tag in github_fake.releases
    assert run.job("testpypi").result == "success"
    assert run.job("pypi").result == "success"
    files = {
        server.name: {n: hashlib.sha256(b).hexdigest() for n, b in server.files().items()}
        for server in (pypi_servers.test, pypi_servers.production)
    }
    assert sorted(files["localtest"]) == [
        f"dexops-{bumped}-py3-none-any.whl",
        f"dexops-{bumped}.tar.gz",
    ]
    assert files["localtest"] == files["localprod"]
    # The re-run of the same push: the tag is there, both indexes have every file.
    again = rehearsal.run(workflow, "push", pushed, repository=github_fake.repository)
    again.assert_success()
    assert again.job("build").outputs["testpypi"] == "false"
    assert again.job("build").outputs["pypi"] == "false"
    assert (again.job("testpypi").result, again.job("pypi").result) == ("skipped", "skipped")
    after = {
        server.name: {n: hashlib.sha256(b).hexdigest() for n, b in server.files().items()}
        for server in (pypi_servers.test, pypi_servers.production)
    }
    assert after == files

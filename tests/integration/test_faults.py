"""Faults at every outside system: refused pushes, a flaky GitHub, an index that goes away,
a registry that is down, and processes killed mid-task.

Each fault ends in one `error:` line that says what was and was not done, leaves the
repository as it was, and a re-run after the fault clears converges to the state a clean
run reaches.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from tests.conftest import Cli, CliResult, require_tool
from tests.fixtures_argocd import ArgoCDFake, application
from tests.fixtures_github import GitHubFake
from tests.fixtures_gitops import GitOpsRepo
from tests.fixtures_pypi import TEST_TOKEN_ENV, PypiServers
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot
from werkzeug import Request, Response

from dexops.errors import ExitCode

pytestmark = pytest.mark.integration

LIB = "packages/dataenginex"


@pytest.fixture(autouse=True)
def _git() -> None:
    require_tool("git", "apt-get install git")


def one_error_line(result: CliResult, *names: str) -> str:
    """The error contract; returns the line."""
    assert result.code != 0, result.out
    assert "Traceback" not in result.out + result.err, result.err
    assert result.err.startswith("error: "), result.err
    assert result.err.count("\n") == 1, result.err
    for name in names:
        assert name in result.err, f"{name!r} not in {result.err!r}"
    return result.err


def ok(result: CliResult) -> CliResult:
    assert result.code == 0, result.err
    return result


def bump(repo: GitRepo, version: str) -> None:
    """Commit a new version of the library (not pushed)."""
    path = repo.path / LIB / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    current = text.split('version = "', 1)[1].split('"', 1)[0]
    path.write_text(text.replace(f'version = "{current}"', f'version = "{version}"', 1))
    repo.commit(f"chore: bump dataenginex to {version}")


# --- refused pushes at every step that pushes ---------------------------------------------------


def protect_everything(origin: Path) -> None:
    """A pre-receive hook refusing every ref update, the way branch protection answers."""
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\necho 'protected: changes go through pull requests' >&2\nexit 1\n",
        encoding="utf-8",
    )
    hook.chmod(0o755)


def unprotect(origin: Path) -> None:
    (origin / "hooks" / "pre-receive").unlink()


PushStep = Callable[[GitOpsRepo, Cli], tuple[str, ...]]


def _release_step(gitops: GitOpsRepo, cli: Cli) -> tuple[str, ...]:
    bump(gitops.repo, "0.5.0")
    return ("release.dataenginex",)


def _update_step(gitops: GitOpsRepo, cli: Cli) -> tuple[str, ...]:
    (tag,) = gitops.make_tags(1)
    return ("deploy.update", "--branch", "dev", "--image-tag", tag, "--push")


def _promote_step(gitops: GitOpsRepo, cli: Cli) -> tuple[str, ...]:
    (tag,) = gitops.make_tags(1)
    ok(cli("deploy.update", "--branch", "dev", "--image-tag", tag, "--push", cwd=gitops.path))
    return ("promote", "--to-env", "stage", "--direct", "--yes")


def _rollback_step(gitops: GitOpsRepo, cli: Cli) -> tuple[str, ...]:
    tags = gitops.make_tags(2)
    for tag in tags:
        ok(cli("deploy.update", "--branch", "dev", "--image-tag", tag, "--push", cwd=gitops.path))
    # An explicit target: a bare `rollback` run twice would step back twice, by design.
    return ("rollback", "--env", "dev", "--to", tags[0], "--yes")


def _hold_release_step(gitops: GitOpsRepo, cli: Cli) -> tuple[str, ...]:
    argv = _rollback_step(gitops, cli)
    ok(cli(*argv, cwd=gitops.path))
    return ("hold.release", "--env", "dev")


PUSH_STEPS: dict[str, PushStep] = {
    "release": _release_step,
    "deploy-update": _update_step,
    "promote": _promote_step,
    "rollback": _rollback_step,
    "hold-release": _hold_release_step,
}


@pytest.fixture
def _render() -> None:
    require_tool("kubectl", "kubectl with built-in kustomize renders the overlays")


@pytest.mark.usefixtures("_render")
@pytest.mark.parametrize("step", sorted(PUSH_STEPS))
@pytest.mark.parametrize("fault", ["protected", "remote-gone"])
def test_refused_push_is_one_line_changes_nothing_and_a_rerun_converges(
    step: str, fault: str, gitops: GitOpsRepo, cli: Cli, tmp_path: Path
) -> None:
    argv = PUSH_STEPS[step](gitops, cli)
    origin = gitops.repo.origin
    snapshot = RepoSnapshot.take(gitops.repo)
    if fault == "protected":
        protect_everything(origin)
        names: tuple[str, ...] = ("protected",)
    else:
        origin.rename(tmp_path / "moved-away.git")
        names = (str(origin),)
    try:
        result = cli(*argv, cwd=gitops.path)
    finally:
        if fault == "protected":
            unprotect(origin)
        else:
            (tmp_path / "moved-away.git").rename(origin)
    one_error_line(result, *names)
    snapshot.assert_same(gitops.repo)
    # The fault cleared: the same command now does the work, and once more changes nothing.
    ok(cli(*argv, cwd=gitops.path))
    settled = RepoSnapshot.take(gitops.repo)
    again = ok(cli(*argv, cwd=gitops.path))
    assert "Traceback" not in again.err
    settled.assert_same(gitops.repo)


@pytest.mark.usefixtures("_render")
@pytest.mark.parametrize("step", ["deploy-update", "promote", "rollback", "hold-release"])
def test_a_push_that_loses_a_race_is_rebuilt_on_the_new_tip(
    step: str, gitops: GitOpsRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = PUSH_STEPS[step](gitops, cli)
    other = gitops.clone(tmp_path / "other")
    branch = "main" if step == "promote" else "dev"
    other.git("checkout", "--quiet", branch)
    from dexops.adapters.git import Git

    real_push = Git.push
    raced: list[str] = []

    def push_after_another_job(self: Git, remote: str, *specs: str, atomic: bool = True) -> None:
        if not raced:
            # Another CI job lands a commit between our fetch and our push.
            other.write("docs/other-job.md", "landed first\n")
            raced.append(other.commit("docs: another job", "docs/other-job.md"))
            other.push(branch)
        real_push(self, remote, *specs, atomic=atomic)

    monkeypatch.setattr(Git, "push", push_after_another_job)
    monkeypatch.setattr("dexops.workflows.branch_edit._pause", lambda _seconds: None)
    ok(cli(*argv, cwd=gitops.path))
    # Both landed: ours on top of the other job's commit.
    assert gitops.repo.origin_git("merge-base", "--is-ancestor", raced[0], branch) == ""


def test_release_push_losing_a_race_leaves_no_tag_and_says_to_rebase(
    gitops: GitOpsRepo, cli: Cli, tmp_path: Path
) -> None:
    bump(gitops.repo, "0.5.0")
    other = gitops.clone(tmp_path / "other")
    other.write("docs/other-job.md", "landed first\n")
    other.commit("docs: another job")
    other.push("main")
    snapshot = RepoSnapshot.take(gitops.repo)
    result = cli("release.dataenginex", cwd=gitops.path)
    one_error_line(result, "dataenginex-v0.5.0", "rebase")
    snapshot.assert_same(gitops.repo)
    gitops.repo.git("pull", "--quiet", "--rebase", "origin", "main")
    ok(cli("release.dataenginex", cwd=gitops.path))
    assert gitops.repo.origin_git("rev-parse", "dataenginex-v0.5.0^{commit}") == gitops.repo.head()


# --- a flaky GitHub: bounded retries, one line, a re-run converges -------------------------------


@pytest.fixture
def released(dex_repo: GitRepo, github_fake: GitHubFake) -> GitRepo:
    """The example repository with a new library version committed and GitHub pointed at."""
    github_fake.setenv()
    bump(dex_repo, "0.5.0")
    return dex_repo


def planned(cli: Cli, repo: GitRepo) -> dict[str, Any]:
    """What a clean run would reach, as its dry run reports it."""
    import json

    result = ok(cli("release.dataenginex", "--dry-run", "--json", cwd=repo.path))
    (release,) = json.loads(result.out)["releases"]
    return {"tag": release["tag"], "commit": release["commit"], "notes": release["notes"]}


def assert_converged(repo: GitRepo, fake: GitHubFake, plan: dict[str, Any]) -> None:
    """The end state of a clean run: the tag on origin at the commit, one release, its notes."""
    tag = plan["tag"]
    assert repo.origin_git("rev-parse", f"{tag}^{{commit}}") == plan["commit"]
    assert repo.origin_git("rev-parse", "main") == plan["commit"]
    assert sorted(fake.releases) == [tag]
    assert fake.releases[tag]["name"] == "dataenginex 0.5.0"
    assert fake.releases[tag]["body"] == plan["notes"]
    assert repo.git("tag", "--list", "dataenginex-v*") == tag


def _fault(fake: GitHubFake, kind: str, *, method: str, path: str, times: int) -> str:
    """Inject one kind of fault; return what the error line must say."""
    if kind in ("500", "502"):
        fake.fail(int(kind), method=method, path=path, times=times)
        return kind
    if kind == "429-retry-after":
        fake.fail(429, method=method, path=path, times=times, headers={"Retry-After": "1"})
        return "rate limit"
    if kind == "403-rate-limit":
        fake.fail(
            403,
            method=method,
            path=path,
            times=times,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()))},
            json_body={"message": "API rate limit exceeded"},
        )
        return "rate limit"
    if kind == "malformed-json":
        status = 201 if method == "POST" else 200
        fake.fail(status, method=method, path=path, times=times, body="{not json")
        return "malformed JSON"
    raise AssertionError(kind)


GITHUB_FAULTS = ["500", "502", "429-retry-after", "403-rate-limit", "malformed-json"]


@pytest.mark.parametrize("kind", GITHUB_FAULTS)
def test_github_fault_before_the_push_changes_nothing_and_a_rerun_converges(
    kind: str, released: GitRepo, github_fake: GitHubFake, cli: Cli
) -> None:
    plan = planned(cli, released)
    says = _fault(github_fake, kind, method="GET", path="/releases/tags/", times=10)
    snapshot = RepoSnapshot.take(released)
    result = cli("release.dataenginex", cwd=released.path)
    one_error_line(result, says)
    snapshot.assert_same(released)
    assert github_fake.calls("POST") == []
    if kind != "malformed-json":
        # Bounded: the client gave up after its attempts, it did not loop.
        assert 2 <= len(github_fake.calls("GET")) <= 4
    github_fake.faults.clear()
    ok(cli("release.dataenginex", cwd=released.path))
    assert_converged(released, github_fake, plan)


# After the push the retry path is the same for every status; three kinds keep it quick.
@pytest.mark.parametrize("kind", ["502", "403-rate-limit", "malformed-json"])
def test_github_fault_after_the_push_says_so_and_a_rerun_only_creates_the_release(
    kind: str, released: GitRepo, github_fake: GitHubFake, cli: Cli
) -> None:
    plan = planned(cli, released)
    says = _fault(github_fake, kind, method="POST", path="/releases$", times=10)
    result = cli("release.dataenginex", cwd=released.path)
    line = one_error_line(result, says, "dataenginex-v0.5.0 was pushed", "re-run")
    assert "GitHub release failed" in line
    assert released.origin_git("rev-parse", "dataenginex-v0.5.0^{commit}") == released.head()
    assert github_fake.releases == {}
    github_fake.faults.clear()
    pushed = RepoSnapshot.take(released)
    again = ok(cli("release.dataenginex", cwd=released.path))
    assert "created GitHub release" in again.out
    pushed.assert_same(released)  # the re-run only talked to GitHub
    assert_converged(released, github_fake, plan)
    posts = len(github_fake.calls("POST"))
    third = ok(cli("release.dataenginex", cwd=released.path))
    assert "already" in third.out
    assert len(github_fake.calls("POST")) == posts  # converged: nothing left to create
    assert_converged(released, github_fake, plan)


@pytest.mark.parametrize("kind", ["500", "502", "429-retry-after", "403-rate-limit"])
def test_a_transient_github_fault_is_retried_within_one_run(
    kind: str, released: GitRepo, github_fake: GitHubFake, cli: Cli
) -> None:
    _fault(github_fake, kind, method="POST", path="/releases$", times=1)
    result = ok(cli("release.dataenginex", cwd=released.path))
    assert "created GitHub release" in result.out
    creations = [c for c in github_fake.calls("POST") if c.endswith("/releases")]
    assert len(creations) == 2  # the fault, then the retry
    if kind == "429-retry-after":
        assert github_fake.sleeps == [1.0]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers: a hung API."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_github_timeouts_are_bounded_and_a_rerun_converges(
    released: GitRepo,
    github_fake: GitHubFake,
    cli: Cli,
    silent_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dexops.adapters.http import make_session

    def short_timeouts(**kwargs: Any) -> Any:
        return make_session(**{**kwargs, "timeout": (0.3, 0.3)})

    # forge binds make_session at import: patch its name there.
    monkeypatch.setattr("dexops.adapters.github.make_session", short_timeouts)
    monkeypatch.setenv("GITHUB_API_URL", silent_server)
    snapshot = RepoSnapshot.take(released)
    started = time.monotonic()
    result = cli("release.dataenginex", cwd=released.path)
    assert time.monotonic() - started < 20
    one_error_line(result, "in time")
    snapshot.assert_same(released)
    monkeypatch.setenv("GITHUB_API_URL", github_fake.url)
    plan = planned(cli, released)
    ok(cli("release.dataenginex", cwd=released.path))
    assert_converged(released, github_fake, plan)


# --- the production index goes away between the two uploads -------------------------------------


@pytest.fixture
def publishing(
    dex_repo: GitRepo, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> GitRepo:
    """The example monorepo publishing to the two local indexes, a stable tag at HEAD."""
    require_tool("uv", "pip install uv")
    pypi_servers.configure(dex_repo.path, monkeypatch)
    dex_repo.commit("ci: publish to the local indexes")
    monkeypatch.setattr("dexops.adapters.package_index.READ_BACKOFF", 0.01)
    bump(dex_repo, "0.4.11")
    dex_repo.write(f"{LIB}/src/dataenginex/extra.py", "X = 1\n")
    dex_repo.commit("feat: extra")
    dex_repo.git("tag", "-a", "-m", "dataenginex 0.4.11", "dataenginex-v0.4.11")
    return dex_repo


def test_index_stopped_between_uploads_then_the_rerun_uploads_production_only(
    publishing: GitRepo, pypi_servers: PypiServers, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexops.adapters.package_index import IndexClient

    real_upload = IndexClient.upload

    def upload_then_production_dies(self: IndexClient, files: Any, **kwargs: Any) -> None:
        real_upload(self, files, **kwargs)
        if self.index.role == "test":
            pypi_servers.production.stop()

    monkeypatch.setattr(IndexClient, "upload", upload_then_production_dies)
    snapshot = RepoSnapshot.take(publishing)
    result = cli("publish.dataenginex", cwd=publishing.path)
    one_error_line(result, "localprod", "localtest already has the files")
    snapshot.assert_same(publishing)
    on_test = pypi_servers.test.files()
    assert len(on_test) == 2
    monkeypatch.setattr(IndexClient, "upload", real_upload)
    pypi_servers.production.start()

    uploads: list[str] = []

    def recording_upload(self: IndexClient, files: Any, **kwargs: Any) -> None:
        uploads.append(self.index.name)
        real_upload(self, files, **kwargs)

    monkeypatch.setattr(IndexClient, "upload", recording_upload)
    again = ok(cli("publish.dataenginex", cwd=publishing.path))
    assert uploads == ["localprod"]
    assert "localtest (test): skip" in again.out
    assert pypi_servers.test.files() == on_test
    assert set(pypi_servers.production.files()) == set(on_test)


# --- the registry is down during a promotion ----------------------------------------------------


@pytest.mark.usefixtures("_render")
def test_promotion_refuses_while_the_registry_is_down_unless_told_to_skip(
    gitops: GitOpsRepo, cli: Cli
) -> None:
    argv = _promote_step(gitops, cli)
    snapshot = RepoSnapshot.take(gitops.repo)
    gitops.registry.server.stop()
    try:
        refused = cli(*argv, cwd=gitops.path)
        snapshot.assert_same(gitops.repo)
        skipped = cli(*argv, "--skip-registry-check", cwd=gitops.path)
    finally:
        gitops.registry.server.start()
    one_error_line(refused, "registry", gitops.registry.host)
    assert refused.code == ExitCode.GATE_REFUSED
    ok(skipped)
    assert "registry check skipped" in skipped.err
    assert gitops.tag("stage") == gitops.tag("dev")


# --- killed in the middle: SIGTERM while waiting on Argo CD, SIGINT during an upload ------------


def _spawn(repo: GitRepo, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dexops", *argv],
        cwd=repo.path,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job a runner cancels
    )


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sigterm_while_waiting_on_argocd_leaves_the_repo_clean_and_says_so(
    dex_repo: GitRepo, argocd_fake: ArgoCDFake
) -> None:
    argocd_fake.script("dex-dev", application("dex-dev", revision="0" * 40, sync="OutOfSync"))
    snapshot = RepoSnapshot.take(dex_repo)
    proc = _spawn(dex_repo, "argocd.wait", "--env", "dev", "--interval", "0.1", "--timeout", "60")
    try:
        _until(lambda: argocd_fake.polls.get("dex-dev", 0) >= 2, "argocd.wait to poll")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = CliResult(proc.returncode, out, err)
    one_error_line(result, "SIGTERM", "dex-dev", "nothing was changed")
    snapshot.assert_same(dex_repo)


@pytest.fixture
def hanging_index() -> Iterator[tuple[HTTPServer, threading.Event, threading.Event]]:
    """A production index whose upload never finishes: (server, upload arrived, release)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    arrived, release = threading.Event(), threading.Event()

    def handle(request: Request) -> Response:
        if request.method == "POST":
            arrived.set()
            release.wait(30)
            return Response("", 200)
        return Response("not found", 404)

    server.expect_request("/", method="POST").respond_with_handler(handle)
    server.expect_request("/simple/dataenginex/").respond_with_handler(handle)
    try:
        yield server, arrived, release
    finally:
        release.set()
        server.clear()
        server.stop()


def test_sigint_during_an_upload_leaves_the_repo_clean_and_says_what_was_uploaded(
    dex_repo: GitRepo,
    pypi_servers: PypiServers,
    hanging_index: tuple[HTTPServer, threading.Event, threading.Event],
) -> None:
    require_tool("uv", "pip install uv")
    server, arrived, _release = hanging_index
    url = f"http://127.0.0.1:{server.port}/"
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8")
        + "\n"
        + pypi_servers.test.index_toml(token_env=TEST_TOKEN_ENV)
        + "\n[tool.dexops.indexes.hanging]\n"
        + f'role = "production"\nupload-url = "{url}"\nsimple-url = "{url}simple/"\n',
        encoding="utf-8",
    )
    bump(dex_repo, "0.4.11")
    dex_repo.git("tag", "-a", "-m", "dataenginex 0.4.11", "dataenginex-v0.4.11")
    snapshot = RepoSnapshot.take(dex_repo)
    env = {
        TEST_TOKEN_ENV: pypi_servers.test.password,
        "TWINE_USERNAME": "publisher",
        "TWINE_PASSWORD": "hanging-index-password-4e1",
    }
    proc = _spawn(dex_repo, "publish.dataenginex", env=env)
    try:
        _until(arrived.is_set, "the production upload to start", timeout=120)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    result = CliResult(proc.returncode, out, err)
    assert result.code == ExitCode.INTERRUPTED
    one_error_line(result, "interrupted", "localtest", "hanging")
    snapshot.assert_same(dex_repo)
    assert len(pypi_servers.test.files()) == 2

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dexops.domain.config import Environment
from dexops.errors import ConfigError, DexopsError, ExitCode
from dexops.workflows.verify import (
    RollbackAfterFailureError,
    SmokeCheckError,
    smoke_check,
    verify_environment,
)
from tests.conftest import Cli
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

FAST = ("--interval", "0.01")


class Health:
    """A health endpoint answering a scripted sequence of statuses (the last repeats)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.statuses = [200]
        self.calls = 0
        server.expect_request("/health").respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.server.url_for("/health")

    def handle(self, _request: Request) -> Response:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return Response('{"status": "ok"}', status=status, content_type="application/json")


@pytest.fixture
def health(httpserver: HTTPServer) -> Health:
    return Health(httpserver)


def env(url: str | None = None) -> Environment:
    return Environment("dev", "infra/argocd/overlays/dev", "dev", "careerdex", health_url=url)


def test_smoke_check_retries_until_the_expected_status(health: Health) -> None:
    health.statuses = [503, 502, 200]
    result = smoke_check(health.url, timeout=10, interval=0.01)
    assert result.passed
    assert result.attempts == 3
    assert result.last == "HTTP 200"


def test_smoke_check_gives_up_at_the_deadline(health: Health) -> None:
    health.statuses = [500]
    result = smoke_check(health.url, timeout=0.2, interval=0.01)
    assert not result.passed
    assert result.attempts > 2
    assert result.last == "HTTP 500"


def test_a_custom_expected_status(health: Health) -> None:
    health.statuses = [200, 204]
    assert smoke_check(health.url, expect_status=204, timeout=5, interval=0.01).attempts == 2


def test_health_url_comes_from_the_flag_or_the_config(health: Health) -> None:
    assert verify_environment(env(health.url), timeout=1, interval=0.01).passed
    assert verify_environment(env(), url=health.url, timeout=1, interval=0.01).passed
    with pytest.raises(ConfigError, match="has no health-url"):
        verify_environment(env())
    with pytest.raises(ConfigError, match="is not an http"):
        verify_environment(env(), url="file:///etc/passwd")


def test_failure_runs_the_rollback_once_and_says_so(health: Health) -> None:
    health.statuses = [503]
    calls: list[str] = []

    def rollback() -> str:
        calls.append("rollback")
        return "rolled dev back to sha-1111111"

    with pytest.raises(SmokeCheckError) as failed:
        verify_environment(env(health.url), timeout=0.1, interval=0.01, rollback=rollback)
    assert calls == ["rollback"]
    assert str(failed.value).endswith("; rolled dev back to sha-1111111")
    assert failed.value.exit_code == ExitCode.SMOKE_FAILED

    def broken() -> str:
        raise DexopsError("no earlier tag to roll back to")

    both_failed = "the rollback failed too: no earlier tag"
    with pytest.raises(RollbackAfterFailureError, match=both_failed) as both:
        verify_environment(env(health.url), timeout=0.1, interval=0.01, rollback=broken)
    assert both.value.exit_code == ExitCode.ROLLBACK_FAILED


def test_verify_task_passes(dex_repo: GitRepo, cli: Cli, health: Health) -> None:
    health.statuses = [503, 200]
    result = cli("deploy.verify", "--env", "dev", "--url", health.url, *FAST, cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert f"dev: {health.url} answered HTTP 200 (2 attempts)" in result.out


def test_verify_task_fails_with_one_line_and_exit_23(
    dex_repo: GitRepo, cli: Cli, health: Health
) -> None:
    health.statuses = [500]
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'argocd-app = "dex-dev"\n', f'argocd-app = "dex-dev"\nhealth-url = "{health.url}"\n'
        )
    )
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("deploy.verify", "--env", "dev", "--timeout", "0.2", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.SMOKE_FAILED
    assert result.err.count("\n") == 1
    assert result.err.startswith(
        f"error: dev failed its smoke check: {health.url} answered HTTP 500"
    )
    snapshot.assert_same(dex_repo)


def test_verify_task_without_a_url(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("deploy.verify", "--env", "dev", cwd=dex_repo.path)
    assert result.code == 1
    assert result.err == (
        "error: environment 'dev' has no health-url in [tool.dexops.environments.dev]; pass --url\n"
    )


def deployed_to_dev(repo: GitRepo, tag: str) -> str:
    """Deploy `tag` to dev the way the CD step does: an overlay commit pushed to origin/dev."""
    repo.git("checkout", "--quiet", "dev")
    overlay = "infra/argocd/overlays/dev/kustomization.yaml"
    path = repo.path / overlay
    path.write_text(path.read_text().replace("newTag: sha-0a1b2c3d", f"newTag: {tag}"))
    commit = repo.commit(f"chore: update dev image to {tag} [skip ci]", overlay)
    repo.push("dev")
    repo.git("checkout", "--quiet", "main")
    return commit


def test_rollback_on_failure_rolls_back_and_holds(
    dex_repo: GitRepo, cli: Cli, health: Health
) -> None:
    deployed = deployed_to_dev(dex_repo, "sha-1111111")
    health.statuses = [503]
    argv = ("deploy.verify", "--env", "dev", "--url", health.url, "--timeout", "0.1", *FAST)
    # The example's images live on ghcr.io, which unit tests cannot reach.
    result = cli(*argv, "--rollback-on-failure", "--skip-registry-check", cwd=dex_repo.path)
    assert result.code == ExitCode.SMOKE_FAILED, result.err
    tip = dex_repo.origin_git("rev-parse", "refs/heads/dev")
    assert dex_repo.origin_git("rev-parse", f"{tip}~1") == deployed
    assert (
        dex_repo.origin_git("log", "-1", "--format=%s", tip) == "fix: rollback dev to sha-0a1b2c3d"
    )
    overlay = dex_repo.origin_git("show", f"{tip}:infra/argocd/overlays/dev/kustomization.yaml")
    assert "newTag: sha-0a1b2c3d  # updated by dexops" in overlay
    lines = result.err.splitlines()
    assert lines[0].startswith("warning: dev failed its smoke check: ")
    assert lines[0].endswith("; rolling back")
    assert [line for line in lines if line.startswith("error: ")] == [lines[-1]]
    assert result.err.splitlines()[-1].endswith(
        f"rolled dev back from sha-1111111 to sha-0a1b2c3d: {tip[:12]} pushed to dev, "
        "held until `dexops hold.release --env dev`"
    )
    # A re-run (a retried CI job) finds dev held on the rollback's target: it does not roll
    # back one release more, and says so.
    result = cli(*argv, "--rollback-on-failure", "--skip-registry-check", cwd=dex_repo.path)
    assert result.code == ExitCode.SMOKE_FAILED, result.err
    assert result.err.splitlines()[-1].endswith(
        f"dev is already rolled back to sha-0a1b2c3d (held since {tip[:8]}); "
        "nothing was rolled back again"
    )
    assert dex_repo.origin_git("rev-parse", "refs/heads/dev") == tip


def test_rollback_on_failure_dry_run_changes_nothing(
    dex_repo: GitRepo, cli: Cli, health: Health
) -> None:
    deployed_to_dev(dex_repo, "sha-1111111")
    health.statuses = [503]
    snapshot = RepoSnapshot.take(dex_repo)
    argv = ("deploy.verify", "--env", "dev", "--url", health.url, "--timeout", "0.1", *FAST)
    result = cli(
        *argv, "--rollback-on-failure", "--skip-registry-check", "--dry-run", cwd=dex_repo.path
    )
    assert result.code == ExitCode.SMOKE_FAILED
    assert "-    newTag: sha-1111111" in result.out
    assert "[dry-run] would commit `fix: rollback dev to sha-0a1b2c3d` with a hold on dev" in (
        result.out
    )
    assert result.err.splitlines()[-1].endswith(
        "would roll dev back from sha-1111111 to sha-0a1b2c3d (dry run: nothing changed)"
    )
    snapshot.assert_same(dex_repo)


def test_a_passing_check_never_rolls_back(dex_repo: GitRepo, cli: Cli, health: Health) -> None:
    deployed_to_dev(dex_repo, "sha-1111111")
    snapshot = RepoSnapshot.take(dex_repo)
    argv = ("deploy.verify", "--env", "dev", "--url", health.url, "--rollback-on-failure")
    result = cli(*argv, cwd=dex_repo.path)
    assert result.code == 0, result.err
    snapshot.assert_same(dex_repo)

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from dexops.adapters.argocd import (
    ArgoCD,
    ArgoCDAuthError,
    ArgoCDError,
    ArgoCDServer,
    ArgoCDUnavailableError,
    app_state,
)
from dexops.adapters.http import make_session
from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.fixtures_argocd import FAKE_ARGOCD_TOKEN, ArgoCDFake, application
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

OLD = "0123456789abcdef0123456789abcdef01234567"
FAST = ("--interval", "0.01")


def pushed_to_dev(repo: GitRepo) -> str:
    """Commit an overlay change on dev, push it, and go back to main (as CD would leave it)."""
    repo.git("checkout", "--quiet", "dev")
    overlay = "infra/argocd/overlays/dev/kustomization.yaml"
    path = repo.path / overlay
    path.write_text(path.read_text() + "# deployed\n")
    commit = repo.commit("chore: update dev image to sha-abc [skip ci]", overlay)
    repo.push("dev")
    repo.git("checkout", "--quiet", "main")
    return commit


def times() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(seconds=30)


def rollout(new: str) -> list[dict[str, object]]:
    """OutOfSync → Synced on the OLD revision → the pushed one Progressing → Healthy."""
    before, after = times()
    return [
        application("dex-dev", revision=OLD, sync="OutOfSync", finished=before),
        application("dex-dev", revision=OLD, finished=before),
        application("dex-dev", revision=OLD, finished=after),  # old, even after the push
        application("dex-dev", revision=OLD, finished=after),
        application("dex-dev", revision=OLD, finished=after),
        application("dex-dev", revision=new, sync="OutOfSync", finished=before),
        application("dex-dev", revision=new, phase="Running", health="Progressing", started=after),
        application("dex-dev", revision=new, health="Progressing", finished=after),
        application("dex-dev", revision=new, finished=after),
    ]


# --- the adapter --------------------------------------------------------------------------


def test_server_is_a_host_or_a_url() -> None:
    assert ArgoCDServer.parse("argocd.example.com").base_url == "https://argocd.example.com"
    assert (
        ArgoCDServer.parse("argocd.example.com:8080", plaintext=True).base_url
        == "http://argocd.example.com:8080"
    )
    assert ArgoCDServer.parse("https://example.com/argocd/").base_url == (
        "https://example.com/argocd"
    )
    assert ArgoCDServer.parse("https://example.com", insecure=True).verify_tls is False
    for bad in ("ftp://example.com", "https://user:pw@example.com", "https://", "  "):
        with pytest.raises(ArgoCDError):
            ArgoCDServer.parse(bad)


def test_server_from_the_environment_reads_the_cli_options() -> None:
    server = ArgoCDServer.from_env(
        {"ARGOCD_SERVER": "argocd:80", "ARGOCD_OPTS": "--plaintext --grpc-web"}
    )
    assert server.base_url == "http://argocd:80"
    assert ArgoCDServer.from_env({"ARGOCD_SERVER": "a", "ARGOCD_INSECURE": "true"}).verify_tls is (
        False
    )
    with pytest.raises(ArgoCDError, match="ARGOCD_SERVER is not set"):
        ArgoCDServer.from_env({})


def test_an_insecure_server_is_announced_once(capsys: pytest.CaptureFixture[str]) -> None:
    client = ArgoCD.from_env(
        {
            "ARGOCD_SERVER": "https://argocd.internal",
            "ARGOCD_INSECURE": "1",
            "ARGOCD_AUTH_TOKEN": "x" * 20,
        }
    )
    assert client.session.verify is False
    prepared = client.session.prepare_request(requests.Request("GET", "https://argocd.internal/x"))
    assert "Authorization" not in prepared.headers  # bound to the origin, added per call
    # The adapter returns the warning; the task that uses the client prints it.
    assert capsys.readouterr().err == ""
    assert client.warnings == (
        "TLS certificate of https://argocd.internal is not verified (ARGOCD_INSECURE)",
    )


def test_the_tasks_announce_an_insecure_server_once(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGOCD_INSECURE", "1")
    warning = f"warning: TLS certificate of {argocd_fake.url} is not verified (ARGOCD_INSECURE)"
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD, sync="OutOfSync"))
    synced = cli("argocd.sync", "--env", "dev", "--dry-run", cwd=dex_repo.path)
    assert synced.code == 0, synced.err
    assert synced.err.splitlines() == [warning]
    argocd_fake.script("dex-dev", *rollout(pushed_to_dev(dex_repo)))
    waited = cli("argocd.wait", "--env", "dev", "--timeout", "20", *FAST, cwd=dex_repo.path)
    assert waited.code == 0, waited.err
    assert waited.err.splitlines() == [warning]


def test_application_document_is_read_as_documented() -> None:
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    doc = application("dex-dev", revision=OLD, health="Degraded", started=started)
    doc["status"]["health"]["message"] = "Deployment exceeded its progress deadline"
    state = app_state(doc)
    assert state.sync_status == "Synced"
    assert state.revision == OLD
    assert state.health_status == "Degraded"
    assert state.health_message == "Deployment exceeded its progress deadline"
    assert state.operation_phase == "Succeeded"
    assert state.operation_started_at == started
    assert state.operation_finished_at == started + timedelta(seconds=5)
    assert state.operation_revisions == (OLD,)
    doc["status"]["sync"]["revisions"] = [OLD, "f" * 40]
    assert app_state(doc).sync_revisions == (OLD, "f" * 40)
    assert app_state({}).sync_status == "Unknown"
    doc["status"]["operationState"]["finishedAt"] = "yesterday"
    with pytest.raises(ArgoCDError, match=r"unreadable operationState\.finishedAt"):
        app_state(doc)


def test_client_sends_the_token_and_translates_errors(argocd_fake: ArgoCDFake) -> None:
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD), 404, 503)
    client = ArgoCD.from_env()
    assert client.application("dex-dev").revision == OLD
    assert argocd_fake.authorizations == [f"Bearer {FAKE_ARGOCD_TOKEN}"]
    with pytest.raises(ArgoCDError, match="404 to GET /api/v1/applications/dex-dev"):
        client.application("dex-dev")
    with pytest.raises(ArgoCDUnavailableError, match="503"):
        client.application("dex-dev")
    assert argocd_fake.polls["dex-dev"] == 2 + 3  # a 5xx is retried (twice) before it fails
    with pytest.raises(ArgoCDAuthError, match="does not exist or the token may not access it"):
        client.application("nosuch")
    wrong = ArgoCD(client.server, "wrong-token-value", session=make_session(retries=0))
    with pytest.raises(ArgoCDAuthError, match="ARGOCD_AUTH_TOKEN was refused") as refused:
        wrong.application("dex-dev")
    assert "wrong-token-value" not in str(refused.value)
    anonymous = ArgoCD(client.server, None)
    with pytest.raises(ArgoCDAuthError, match="ARGOCD_AUTH_TOKEN is not set"):
        anonymous.application("dex-dev")


def test_unreachable_server_is_one_clear_error() -> None:
    server = ArgoCDServer.parse("http://127.0.0.1:9")
    client = ArgoCD(server, "token-value", session=make_session(retries=0))
    with pytest.raises(ArgoCDUnavailableError, match="unreachable for GET"):
        client.application("dex-dev")


# --- argocd.wait ----------------------------------------------------------------------------


def test_wait_does_not_finish_on_the_old_revision(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake
) -> None:
    new = pushed_to_dev(dex_repo)
    argocd_fake.script("dex-dev", *rollout(new))
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("argocd.wait", "--env", "dev", "--timeout", "20", *FAST, cwd=dex_repo.path)
    assert result.code == 0, result.err
    # Every scripted state was seen, then two more Healthy polls made three in a row.
    assert argocd_fake.polls["dex-dev"] == len(rollout(new)) + 2
    assert f"to run {new[:12]} (tip of origin/dev" in result.out
    lines = [line for line in result.out.splitlines() if "dex-dev: sync=" in line]
    # One line per change of what is shown, not one per poll.
    assert [line.split("] ", 1)[1].split(" (")[0] for line in lines] == [
        f"dex-dev: sync=OutOfSync health=Healthy revision={OLD[:12]} operation=Succeeded",
        f"dex-dev: sync=Synced health=Healthy revision={OLD[:12]} operation=Succeeded",
        f"dex-dev: sync=OutOfSync health=Healthy revision={new[:12]} operation=Succeeded",
        f"dex-dev: sync=Synced health=Progressing revision={new[:12]} operation=Running",
        f"dex-dev: sync=Synced health=Progressing revision={new[:12]} operation=Succeeded",
        f"dex-dev: sync=Synced health=Healthy revision={new[:12]} operation=Succeeded",
    ]
    assert f"dex-dev runs {new[:12]} Synced and Healthy (11 polls, " in result.out
    snapshot.assert_same(dex_repo)  # the fetch only moves nothing the user has


def test_wait_for_a_given_revision_and_push_time(
    dex_repo: GitRepo,
    cli: Cli,
    argocd_fake: ArgoCDFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    _, after = times()
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD, finished=after))
    pushed = (after - timedelta(seconds=5)).isoformat()
    argv = ("argocd.wait", "--env", "dev", "--revision", OLD, "--pushed-at", pushed)
    result = cli(*argv, "--healthy-polls", "1", *FAST, cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert argocd_fake.polls["dex-dev"] == 1
    assert outputs.read_text() == f"revision={OLD}\nhealth=Healthy\n"
    # The same state is not done when the push came after its last operation.
    later = (after + timedelta(seconds=5)).isoformat()
    argv = ("argocd.wait", "--env", "dev", "--revision", OLD, "--pushed-at", later)
    result = cli(*argv, "--timeout", "0.2", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.WAIT_TIMED_OUT
    assert "before the push" in result.err


def test_wait_fails_with_exit_21_when_degraded(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake
) -> None:
    new = pushed_to_dev(dex_repo)
    _, after = times()
    degraded = application("dex-dev", revision=new, health="Degraded", finished=after)
    degraded["status"]["health"]["message"] = "Deployment exceeded its progress deadline"
    argocd_fake.script(
        "dex-dev",
        application("dex-dev", revision=new, health="Progressing", finished=after),
        degraded,
    )
    result = cli("argocd.wait", "--env", "dev", "--timeout", "20", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.DEGRADED
    assert result.err == (
        f"error: dex-dev is Degraded on {new[:12]}: "
        "Degraded: Deployment exceeded its progress deadline\n"
    )


def test_wait_fails_with_exit_22_when_the_sync_fails(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake
) -> None:
    new = pushed_to_dev(dex_repo)
    _, after = times()
    argocd_fake.script(
        "dex-dev",
        application("dex-dev", revision=new, sync="OutOfSync", phase="Running", started=after),
        application(
            "dex-dev",
            revision=new,
            sync="OutOfSync",
            phase="Failed",
            started=after,
            operation_message="one or more objects failed to apply",
        ),
    )
    result = cli("argocd.wait", "--env", "dev", "--timeout", "20", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.SYNC_FAILED
    assert result.err == (
        f"error: dex-dev failed to sync {new[:12]}: "
        "sync Failed: one or more objects failed to apply\n"
    )


def test_wait_times_out_with_exit_20(dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake) -> None:
    new = pushed_to_dev(dex_repo)
    before, _ = times()
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD, finished=before))
    result = cli("argocd.wait", "--env", "dev", "--timeout", "0.3", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.WAIT_TIMED_OUT
    assert result.err == (
        f"error: dex-dev did not run {new[:12]} Healthy within 0s: "
        f"synced revision is {OLD[:12]}, waiting for {new[:12]}\n"
    )
    assert argocd_fake.polls["dex-dev"] > 3


def test_wait_rides_out_a_5xx_but_not_a_refused_token(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = pushed_to_dev(dex_repo)
    _, after = times()
    healthy = application("dex-dev", revision=new, finished=after)
    argocd_fake.script("dex-dev", 502, 502, 502, 503, 503, 503, healthy)
    result = cli("argocd.wait", "--env", "dev", "--timeout", "20", *FAST, cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert result.err.count("warning: ") == 2
    assert "answered 503 to GET /api/v1/applications/dex-dev" in result.err

    argocd_fake.script("dex-dev", 503)
    result = cli("argocd.wait", "--env", "dev", "--timeout", "0.5", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.UNREACHABLE
    assert result.err.splitlines()[-1].startswith("error: gave up waiting for dex-dev after")

    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "a-wrong-token-1234")
    argocd_fake.script("dex-dev", healthy)
    result = cli("argocd.wait", "--env", "dev", "--timeout", "20", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.UNAUTHORIZED
    assert result.err.startswith("error: Argo CD answered 401 to GET /api/v1/applications/dex-dev")
    assert "ARGOCD_AUTH_TOKEN was refused" in result.err
    assert "a-wrong-token-1234" not in result.err + result.out
    assert argocd_fake.polls["dex-dev"] == 0  # refused before any state was served


def test_sigterm_during_the_wait_says_what_was_and_was_not_done(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake
) -> None:
    new = pushed_to_dev(dex_repo)
    before, _ = times()
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD, finished=before))
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(app: str, poll: int) -> None:
        # Sent from the fake once the wait is polling, i.e. with the task's handler in place.
        if poll == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    argocd_fake.on_poll = terminate
    result = cli("argocd.wait", "--env", "dev", "--timeout", "30", *FAST, cwd=dex_repo.path)
    assert result.code == ExitCode.TERMINATED
    assert result.err.count("\n") == 1
    assert result.err.startswith("error: terminated by SIGTERM after ")
    assert f"waiting for dex-dev to run {new[:12]}: nothing was changed" in result.err
    assert "the rollout was not confirmed; last seen: sync=Synced" in result.err
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is removed again


def test_wait_needs_an_application_and_a_server(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('argocd-app = "dex-stage"\n', ""))
    result = cli("argocd.wait", "--env", "stage", cwd=dex_repo.path)
    assert result.code == 1
    assert result.err == (
        "error: environment 'stage' has no argocd-app in [tool.dexops.environments.stage]\n"
    )
    result = cli("argocd.wait", "--env", "dev", cwd=dex_repo.path)
    assert result.err == "error: ARGOCD_SERVER is not set; export the Argo CD API host or URL\n"
    monkeypatch.setenv("ARGOCD_SERVER", "127.0.0.1:1")
    for argv in (("--timeout", "0"), ("--revision", "nosuchcommit")):
        result = cli("argocd.wait", "--env", "dev", *argv, cwd=dex_repo.path)
        assert result.code == 1
        assert result.err.count("\n") == 1


def test_plaintext_host_without_scheme(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGOCD_SERVER", argocd_fake.url.removeprefix("http://"))
    monkeypatch.setenv("ARGOCD_PLAINTEXT", "true")
    new = pushed_to_dev(dex_repo)
    _, after = times()
    argocd_fake.script("dex-dev", application("dex-dev", revision=new, finished=after))
    result = cli("argocd.wait", "--env", "dev", *FAST, cwd=dex_repo.path)
    assert result.code == 0, result.err


# --- argocd.sync ----------------------------------------------------------------------------


def test_sync_starts_an_operation(dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake) -> None:
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD, sync="OutOfSync"))
    result = cli("argocd.sync", "--env", "dev", "--prune", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert argocd_fake.syncs == [{"app": "dex-dev", "name": "dex-dev", "prune": True}]
    assert "dex-dev: sync started (operation Running)" in result.out


def test_sync_dry_run_sends_nothing(dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake) -> None:
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD, sync="OutOfSync"))
    result = cli("argocd.sync", "--env", "dev", "--dry-run", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert argocd_fake.syncs == []
    assert result.out.startswith(
        "[dry-run] would POST /api/v1/applications/dex-dev/sync (prune=false) on http://127.0.0.1:"
    )
    assert "now sync=OutOfSync health=Healthy" in result.out


def test_sync_is_idempotent_while_an_operation_runs(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake
) -> None:
    running = application("dex-dev", revision=OLD, phase="Running", health="Progressing")
    argocd_fake.script("dex-dev", running)
    result = cli("argocd.sync", "--env", "dev", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert argocd_fake.syncs == []
    assert "already Running; no new sync started" in result.out
    # The race: the operation starts between our look and our request.
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD), running)
    argocd_fake.sync_answers["dex-dev"] = [400]
    result = cli("argocd.sync", "--env", "dev", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert len(argocd_fake.syncs) == 1
    assert "already Running; no new sync started" in result.out


def test_sync_reports_server_errors(dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake) -> None:
    argocd_fake.script("dex-dev", application("dex-dev", revision=OLD))
    argocd_fake.sync_answers["dex-dev"] = [503, 503, 503]
    result = cli("argocd.sync", "--env", "dev", cwd=dex_repo.path)
    assert result.code == ExitCode.UNREACHABLE
    assert result.err == (
        "error: Argo CD answered 503 to POST /api/v1/applications/dex-dev/sync: "
        "service unavailable\n"
    )
    assert len(argocd_fake.syncs) == 3  # bounded retries
    assert FAKE_ARGOCD_TOKEN not in result.err


def test_task_modules_import_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dexops.tasks.argocd; "
        "print(sorted(m for m in ('requests', 'rich', 'dexops.adapters.argocd', "
        "'dexops.workflows.argocd') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    assert out.stdout.strip() == "[]"


def test_live_progress_on_a_terminal_also_prints_the_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dexops.domain.rollout import RolloutGoal, RolloutProgress, advance
    from dexops.tasks.argocd import RolloutReporter

    goal = RolloutGoal(OLD, datetime.now(UTC), deadline=1e9)
    reporter = RolloutReporter("dex-dev", live=True)
    progress = RolloutProgress()
    for doc in (application("dex-dev", revision=OLD, health="Progressing"),) * 2:
        progress = advance(goal, progress, app_state(doc), 0.0)
        reporter.poll(progress, 1.0)
    reporter.close()
    reporter.close()  # closing twice is harmless
    out = capsys.readouterr().out
    assert out.count("dex-dev: sync=Synced health=Progressing") == 1

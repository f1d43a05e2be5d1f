from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from tests.conftest import Cli, require_tool
from tests.fixtures_gitops import GitOpsRepo
from tests.snapshot import RepoSnapshot

from dexops.errors import ExitCode

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("git", "apt-get install git")
    require_tool("kubectl", "kubectl with built-in kustomize renders the overlays")


def deploy(cli: Cli, gitops: GitOpsRepo, branch: str, tag: str) -> None:
    result = cli("deploy.update", "--branch", branch, "--image-tag", tag, "--push", cwd=gitops.path)
    assert result.code == 0, result.err


def test_default_target_hold_and_release(gitops: GitOpsRepo, cli: Cli) -> None:
    a, b, c, d = gitops.make_tags(4)
    for tag in (a, b, c):
        deploy(cli, gitops, "dev", tag)

    result = cli("rollback", "--env", "dev", "--yes", cwd=gitops.path)
    assert result.code == 0, result.err
    assert f"rollback dev: {c} -> {b} (hold)" in result.out
    assert gitops.tag("dev") == b
    assert gitops.repo.origin_git("log", "-1", "--format=%s", "dev") == f"fix: rollback dev to {b}"
    trailers = gitops.repo.origin_git("log", "-1", "--format=%(trailers:only=true)", "dev")
    assert trailers.splitlines() == [
        "Dexops-Action: rollback",
        "Dexops-Environment: dev",
        f"Dexops-Image-Tag: {b}",
        f"Dexops-Previous-Tag: {c}",
        "Dexops-Hold: true",
    ]

    # The hold makes the CD step refuse dev, and changes nothing.
    snapshot = RepoSnapshot.take(gitops.repo)
    refused = cli("deploy.update", "--branch", "dev", "--image-tag", d, "--push", cwd=gitops.path)
    assert refused.code == ExitCode.ON_HOLD
    assert refused.err.startswith("error: dev is on hold since rollback"), refused.err
    assert "dexops hold.release --env dev" in refused.err
    snapshot.assert_same(gitops.repo)
    promote = cli(
        "promote", "--from-env", "dev", "--to-env", "stage", "--direct", "--yes",
        cwd=gitops.path,
    )  # fmt: skip
    assert promote.code == 0, promote.err  # stage is not held

    status = json.loads(cli("status", "--json", cwd=gitops.path).out)
    assert {row["environment"]: row["hold"] is not None for row in status} == {
        "dev": True,
        "stage": False,
        "prod": False,
    }

    released = cli("hold.release", "--env", "dev", cwd=gitops.path)
    assert released.code == 0, released.err
    assert "released the hold on dev" in released.out
    assert cli("hold.release", "--env", "dev", cwd=gitops.path).out.strip() == "dev is not on hold"
    deploy(cli, gitops, "dev", d)
    assert gitops.tag("dev") == d

    # The next default rollback skips c, which was itself rolled back.
    again = cli("rollback", "--env", "dev", "--no-hold", "--yes", cwd=gitops.path)
    assert again.code == 0, again.err
    assert gitops.tag("dev") == b
    history = json.loads(cli("history", "--env", "dev", "--json", cwd=gitops.path).out)
    assert [(h["kind"], h["tag"]) for h in history] == [
        ("rollback", b),
        ("deploy", d),
        ("rollback", b),
        ("deploy", c),
        ("deploy", b),
        ("deploy", a),
        ("manual", "sha-0a1b2c3d"),
    ]
    third = cli("rollback", "--env", "dev", "--yes", "--dry-run", cwd=gitops.path)
    assert f"rollback dev: {b} -> {a}" in third.out  # d and c were both rolled back


def test_to_and_steps(gitops: GitOpsRepo, cli: Cli) -> None:
    a, b, c = gitops.make_tags(3)
    for tag in (a, b, c):
        deploy(cli, gitops, "main", tag)
    steps = cli("rollback", "--env", "prod", "--steps", "2", "--dry-run", cwd=gitops.path)
    assert steps.code == 0, steps.err
    assert f"rollback prod: {c} -> {a}" in steps.out
    result = cli("rollback", "--env", "prod", "--to", b, "--yes", cwd=gitops.path)
    assert result.code == 0, result.err
    assert gitops.tag("prod") == b
    assert gitops.tag("stage") == c
    # Re-running converges: prod already runs b.
    again = cli("rollback", "--env", "prod", "--to", b, "--yes", cwd=gitops.path)
    assert again.code == 0, again.err
    assert "already runs" in again.out
    # prod is held; the CD step on main updates stage only and says so.
    (d,) = gitops.make_tags(1)
    update = cli("deploy.update", "--branch", "main", "--image-tag", d, "--push", cwd=gitops.path)
    assert update.code == 0, update.err
    assert "not updated: prod is on hold" in update.err
    assert gitops.tag("stage") == d
    assert gitops.tag("prod") == b


def test_refusals(gitops: GitOpsRepo, cli: Cli) -> None:
    (a,) = gitops.make_tags(1)
    snapshot = RepoSnapshot.take(gitops.repo)
    nothing = cli("rollback", "--env", "dev", "--yes", cwd=gitops.path)
    assert nothing.code == ExitCode.GATE_REFUSED
    assert "dev has 0 earlier image(s) to roll back to" in nothing.err
    missing = cli("rollback", "--env", "dev", "--to", "sha-deadbeef", "--yes", cwd=gitops.path)
    assert missing.code == ExitCode.GATE_REFUSED
    assert "the registry has no image" in missing.err
    assert "sha-deadbeef" in missing.err
    snapshot.assert_same(gitops.repo)
    assert a


def test_emergency_prints_kubectl_for_the_rendered_container(gitops: GitOpsRepo, cli: Cli) -> None:
    a, b = gitops.make_tags(2)
    deploy(cli, gitops, "main", a)
    deploy(cli, gitops, "main", b)
    result = cli("rollback", "--env", "prod", "--emergency", "--dry-run", cwd=gitops.path)
    assert result.code == 0, result.err
    assert f"kubectl set image deployment/dex dex={gitops.image}:{a} -n dex-prod" in result.out
    assert "kubectl rollout status deployment/dex --timeout=300s -n dex-prod" in result.out
    assert "[dry-run] would run the kubectl commands above" in result.out


def test_a_rerun_does_not_roll_back_twice(gitops: GitOpsRepo, cli: Cli) -> None:
    a, b, c = gitops.make_tags(3)
    for tag in (a, b, c):
        deploy(cli, gitops, "main", tag)
    first = cli("rollback", "--env", "prod", "--yes", cwd=gitops.path)
    assert first.code == 0, first.err
    assert gitops.tag("prod") == b
    tip = gitops.repo.origin_git("rev-parse", "main")

    # The identical command again (a retried CI job) changes nothing and says why.
    snapshot = RepoSnapshot.take(gitops.repo)
    again = cli("rollback", "--env", "prod", "--yes", cwd=gitops.path)
    assert again.code == 0, again.err
    assert f"prod is already rolled back to {b} (held since {tip[:8]})" in again.out
    assert "--again" in again.out
    assert gitops.tag("prod") == b
    snapshot.assert_same(gitops.repo)

    # An explicit --steps, or --again, goes further on purpose.
    steps = cli("rollback", "--env", "prod", "--steps", "1", "--dry-run", cwd=gitops.path)
    assert steps.code == 0, steps.err
    assert f"rollback prod: {b} -> {a}" in steps.out
    further = cli("rollback", "--env", "prod", "--again", "--yes", cwd=gitops.path)
    assert further.code == 0, further.err
    assert f"rollback prod: {b} -> {a} (hold)" in further.out
    assert gitops.tag("prod") == a
    assert gitops.tag("stage") == c


def _fake_kubectl(tmp: Path, gitops: GitOpsRepo) -> tuple[Path, Path]:
    """A kubectl that renders with the real one but records (and fakes) cluster commands.

    Each `set`/`rollout` call logs what origin's main said at that moment; a `fail` file
    next to the log makes them fail like an unreachable cluster.
    """
    real = shutil.which("kubectl")
    assert real is not None
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    log, fail = tmp / "kubectl.log", tmp / "fail"
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  set|rollout)\n"
        f'    echo "$1 | $(git --git-dir={gitops.repo.origin} log -1 --format=%s main)" >> {log}\n'
        f'    if [ -f {fail} ]; then echo "error: You must be logged in to the server" >&2; '
        "exit 1; fi\n"
        '    echo "deployment.apps/dex $1 done"; exit 0;;\n'
        "esac\n"
        f'exec {real} "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir, log


def test_emergency_lands_git_before_kubectl(
    gitops: GitOpsRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = gitops.make_tags(2)
    deploy(cli, gitops, "main", a)
    deploy(cli, gitops, "main", b)
    bin_dir, log = _fake_kubectl(tmp_path, gitops)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    # The push is refused: kubectl never runs, and the error says so.
    gitops.protect("main")
    snapshot = RepoSnapshot.take(gitops.repo)
    refused = cli("rollback", "--env", "prod", "--emergency", "--yes", cwd=gitops.path)
    assert refused.code != 0
    assert refused.err.count("\n") == 1, refused.err
    assert refused.err.rstrip().endswith("; the kubectl commands were not run"), refused.err
    assert not log.exists()
    snapshot.assert_same(gitops.repo)

    # Allowed: git first (kubectl sees the rollback on origin), then kubectl.
    (gitops.repo.origin / "hooks" / "pre-receive").unlink()
    done = cli("rollback", "--env", "prod", "--emergency", "--yes", cwd=gitops.path)
    assert done.code == 0, done.err
    assert gitops.tag("prod") == a
    assert log.read_text().splitlines() == [
        f"set | fix: rollback prod to {a}",
        f"rollout | fix: rollback prod to {a}",
    ]


def test_emergency_kubectl_failure_after_the_push_says_git_has_it(
    gitops: GitOpsRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = gitops.make_tags(2)
    deploy(cli, gitops, "main", a)
    deploy(cli, gitops, "main", b)
    bin_dir, log = _fake_kubectl(tmp_path, gitops)
    (tmp_path / "fail").write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    result = cli("rollback", "--env", "prod", "--emergency", "--yes", cwd=gitops.path)
    assert result.code == 1
    tip = gitops.repo.origin_git("rev-parse", "main")
    assert gitops.tag("prod") == a
    assert result.err == (
        "error: kubectl set image failed: error: You must be logged in to the server; "
        f"the rollback is in git ({tip[:12]} on main); Argo CD will apply it when it syncs\n"
    )
    assert log.read_text().splitlines() == [f"set | fix: rollback prod to {a}"]

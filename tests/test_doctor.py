"""`doctor`: every row once failing (or warning) and once passing; nothing changed; no secrets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dexops.domain.checkup import Finding, git_version_verdict, worst
from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.fixtures_argocd import ArgoCDFake, application
from tests.fixtures_github import GitHubFake
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

CLEAN_ENV = (
    "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "TWINE_PASSWORD",
    "TWINE_USERNAME", "TEST_PYPI_TOKEN", "PYPI_TOKEN", "REGISTRY_PASSWORD", "REGISTRY_TOKEN",
    "ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "DEXOPS_REPO",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)


def _doctor(cli: Cli, repo: GitRepo) -> tuple[int, dict[str, Finding], str]:
    result = cli("doctor", "--json", cwd=repo.path)
    document = json.loads(result.out)
    rows = {f"{r['area']}:{r['subject']}": Finding(**r) for r in document["checks"]}
    assert document["status"] == worst(list(rows.values()))
    return result.code, rows, result.out + result.err


def _status(rows: dict[str, Finding], key: str) -> str:
    assert key in rows, sorted(rows)
    return rows[key].status


def _path_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *tools: str) -> Path:
    """PATH holding only `tools` (links to the real programs) and the Python running us."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        real = shutil.which(tool)
        assert real is not None, tool
        (bin_dir / tool).symlink_to(real)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_a_healthy_repository_has_no_failing_row(dex_repo: GitRepo, cli: Cli) -> None:
    before = RepoSnapshot.take(dex_repo)
    code, rows, _ = _doctor(cli, dex_repo)
    assert code == 0, rows
    assert _status(rows, "config:[tool.dexops]") == "ok"
    assert _status(rows, "git:history") == "ok"
    assert _status(rows, "git:origin HEAD") == "ok"
    assert _status(rows, "path:packages/dataenginex/pyproject.toml") == "ok"
    assert _status(rows, "path:Dockerfile") == "ok"
    before.assert_same(dex_repo)


def test_every_configuration_error_is_a_row(dex_repo: GitRepo, cli: Cli) -> None:
    text = (dex_repo.path / "pyproject.toml").read_text()
    text = text.replace('kind = "app"', 'kind = "service"').replace(
        'branch = "dev"', 'branch = "dev"\nargo-app = "x"'
    )
    (dex_repo.path / "pyproject.toml").write_text(text)
    before = RepoSnapshot.take(dex_repo)
    code, _, output = _doctor(cli, dex_repo)
    assert code == 1
    document = json.loads(output[: output.rindex("}") + 1])
    failing = [r["detail"] for r in document["checks"] if r["status"] == "fail"]
    assert any("'service'" in d for d in failing), failing
    assert any("argo-app" in d for d in failing), failing
    assert "error: doctor:" in output
    before.assert_same(dex_repo)


def test_a_pyproject_that_is_not_toml_fails_one_row(dex_repo: GitRepo, cli: Cli) -> None:
    (dex_repo.path / "pyproject.toml").write_text("[tool.dexops\n")
    code, rows, _ = _doctor(cli, dex_repo)
    assert code == 1
    assert "not valid TOML" in next(r.detail for r in rows.values() if r.area == "config")


def test_a_missing_changelog_fails_its_path_row(dex_repo: GitRepo, cli: Cli) -> None:
    (dex_repo.path / "packages/dataenginex/CHANGELOG.md").unlink()
    code, rows, _ = _doctor(cli, dex_repo)
    assert code == 1
    assert _status(rows, "path:packages/dataenginex/CHANGELOG.md") == "fail"


def test_tools_missing_and_present(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _path_with(tmp_path, monkeypatch, "git")
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "tool:git") == "ok"
    assert _status(rows, "tool:container engine") == "fail"
    assert _status(rows, "tool:kubectl") == "warn"
    assert _status(rows, "tool:trivy") == "warn"
    for tool in ("buildah", "kubectl"):
        (bin_dir / tool).symlink_to(shutil.which(tool, path=os.defpath + ":/usr/bin") or "")
    # Only its version is asked of trivy: a script answering like trivy stands in for it.
    (bin_dir / "trivy").write_text("#!/bin/sh\necho 'Version: 0.58.1'\n")
    (bin_dir / "trivy").chmod(0o755)
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "tool:container engine") == "ok"
    assert _status(rows, "tool:kubectl") == "ok"
    assert rows["tool:trivy"] == Finding("tool", "trivy", "ok", "Version: 0.58.1")


def test_no_git_fails_the_git_rows(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _path_with(tmp_path, monkeypatch)
    code, rows, _ = _doctor(cli, dex_repo)
    assert code == 1
    assert _status(rows, "tool:git") == "fail"
    assert _status(rows, "git:origin HEAD") == "fail"


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("git version 2.39.5", "ok"),
        ("git version 2.24.0.windows.1", "ok"),
        ("git version 2.17.1", "fail"),
        ("not git", "warn"),
    ],
)
def test_git_version_verdict(line: str, status: str) -> None:
    assert git_version_verdict(line)[0] == status


def test_a_shallow_clone_warns(dex_repo: GitRepo, cli: Cli, tmp_path: Path) -> None:
    dex_repo.git("commit", "--quiet", "--allow-empty", "-m", "second")
    dex_repo.push("HEAD:main")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{dex_repo.origin}", str(shallow)],
        check=True,
    )
    clone = GitRepo(shallow, dex_repo.origin)
    _, rows, _ = _doctor(cli, clone)
    assert _status(rows, "git:history") == "warn"


def test_origin_on_another_default_branch_fails(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.origin_git("symbolic-ref", "HEAD", "refs/heads/dev")
    code, rows, _ = _doctor(cli, dex_repo)
    assert code == 1
    assert "'dev'" in rows["git:origin HEAD"].detail


def test_no_origin_fails(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("remote", "remove", "origin")
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "git:origin HEAD") == "fail"
    assert "origin" in rows["git:origin HEAD"].detail


def test_no_github_token_warns(dex_repo: GitRepo, cli: Cli) -> None:
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "token:GITHUB_TOKEN") == "warn"


def test_a_classic_token_with_repo_scope_passes(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    _, rows, output = _doctor(cli, dex_repo)
    assert _status(rows, "token:GITHUB_TOKEN") == "ok"
    assert "repo, workflow" in rows["token:GITHUB_TOKEN"].detail
    assert github_fake.token not in output


def test_a_classic_token_without_repo_scope_fails(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    github_fake.oauth_scopes = "read:org, gist"
    code, rows, output = _doctor(cli, dex_repo)
    assert code == 1
    assert _status(rows, "token:GITHUB_TOKEN") == "fail"
    assert github_fake.token not in output


def test_public_repo_scope_is_enough_for_a_public_repository(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    github_fake.oauth_scopes = "public_repo"
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "token:GITHUB_TOKEN") == "ok"
    github_fake.private = True
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "token:GITHUB_TOKEN") == "fail"


def test_fine_grained_permissions_are_read_from_the_repository(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    github_fake.oauth_scopes = None
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "token:GITHUB_TOKEN") == "ok"
    assert "fine-grained" in rows["token:GITHUB_TOKEN"].detail
    github_fake.permissions = {"admin": False, "push": False, "pull": True}
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "token:GITHUB_TOKEN") == "fail"
    assert "contents: write" in rows["token:GITHUB_TOKEN"].detail


def test_a_refused_token_fails_without_showing_it(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv(token="ghp_WrongToken0123456789abcdef")
    code, rows, output = _doctor(cli, dex_repo)
    assert code == 1
    assert "401" in rows["token:GITHUB_TOKEN"].detail
    assert "ghp_WrongToken" not in output


def test_index_and_registry_credentials(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "token:index pypi") == "warn"
    assert _status(rows, "token:registry") == "warn"
    monkeypatch.setenv("PYPI_TOKEN", "pypi-SecretValue123")
    monkeypatch.setenv("REGISTRY_PASSWORD", "registry-SecretValue123")
    _, rows, output = _doctor(cli, dex_repo)
    assert rows["token:index pypi"].detail == "credentials from PYPI_TOKEN"
    assert _status(rows, "token:registry") == "ok"
    assert "SecretValue" not in output


def test_argocd_unset_warns(dex_repo: GitRepo, cli: Cli) -> None:
    _, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "argocd:ARGOCD_SERVER") == "warn"


def test_argocd_applications_found_and_missing(
    dex_repo: GitRepo, cli: Cli, argocd_fake: ArgoCDFake
) -> None:
    for app in ("dex-dev", "dex-stage"):
        argocd_fake.script(app, application(app, revision="a" * 40))
    code, rows, output = _doctor(cli, dex_repo)
    assert _status(rows, "argocd:dex-dev") == "ok"
    assert "Synced, Healthy" in rows["argocd:dex-dev"].detail
    assert _status(rows, "argocd:dex-prod") == "fail"
    assert code == 1
    assert argocd_fake.token not in output


def test_argocd_unreachable_fails(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGOCD_SERVER", "http://127.0.0.1:9")
    code, rows, _ = _doctor(cli, dex_repo)
    assert _status(rows, "argocd:dex-dev") == "fail"
    assert "unreachable" in rows["argocd:dex-dev"].detail
    # A failing row is the worst row: doctor exits with the table's failure code.
    assert code == ExitCode.FAILURE


def test_the_table_names_every_row(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("doctor", cwd=dex_repo.path)
    assert result.code == 0
    for word in ("config", "tool", "token", "argocd", "warn", "ok"):
        assert word in result.out

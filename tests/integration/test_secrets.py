"""No secret leaves dexops: every task, in normal, --dry-run, failing and --json modes.

The credentials are set to recognizable values, the fakes accept exactly those values, and
after every command the suite looks for them in stdout, stderr, the files written (the
working tree, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY), commit and tag messages on both sides,
and every request body the GitHub, Argo CD and Slack fakes received. `::add-mask::` lines
are the one place a value may appear: they are how a runner learns what to hide.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from tests.conftest import Cli, CliResult, require_tool
from tests.fixtures_argocd import ArgoCDFake, application
from tests.fixtures_github import GitHubFake
from tests.fixtures_gitops import GitOpsRepo
from tests.fixtures_pypi import PypiServers
from werkzeug import Request, Response

pytestmark = pytest.mark.integration

SECRETS = {
    "GITHUB_TOKEN": "ghp_SECRETgithub0000000000000000000001",
    "TWINE_PASSWORD": "pypi-SECRETtwine00000000000002",
    "ARGOCD_AUTH_TOKEN": "argocd-SECRETtoken-000000003",
    "REGISTRY_PASSWORD": "registry-SECRETpassword-0005",
    "REGISTRY_TOKEN": "registry-SECRETtoken-00000006",
}
SLACK_PATH = "/services/T000/B000/SECRETslack00000000004"
# Fragments that identify a value even when only part of it leaks (a URL's path, a prefix).
FRAGMENTS = ("SECRETgithub", "SECRETtwine", "SECRETtoken", "SECRETpassword", "SECRETslack")


@dataclass
class SlackFake:
    """An incoming-webhook endpoint whose URL is itself the secret."""

    server: HTTPServer
    bodies: list[str] = field(default_factory=list)

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{SLACK_PATH}"

    def handle(self, request: Request) -> Response:
        self.bodies.append(request.get_data(as_text=True))
        return Response("ok", 200)


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    fake = SlackFake(server)
    server.expect_request(SLACK_PATH).respond_with_handler(fake.handle)
    try:
        yield fake
    finally:
        server.clear()
        server.stop()


@dataclass
class Leaks:
    """Everything a secret could leak into, checked after each command."""

    gitops: GitOpsRepo
    github: GitHubFake
    argocd: ArgoCDFake
    slack: SlackFake
    outputs: Path
    summary: Path
    ran: list[str] = field(default_factory=list)

    def places(self, result: CliResult) -> dict[str, str]:
        repo = self.gitops.repo
        files = {
            str(path.relative_to(repo.path)): path.read_text(encoding="utf-8", errors="replace")
            for path in repo.path.rglob("*")
            if path.is_file() and "objects" not in path.parts
        }
        return {
            "stdout": _unmasked(result.out),
            "stderr": _unmasked(result.err),
            "$GITHUB_OUTPUT": self.outputs.read_text() if self.outputs.exists() else "",
            "$GITHUB_STEP_SUMMARY": self.summary.read_text() if self.summary.exists() else "",
            "working tree and .git": "\n".join(files.values()),
            "commit messages": repo.git("log", "--all", "--format=%B")
            + repo.origin_git("log", "--all", "--format=%B"),
            "tag messages": repo.origin_git("for-each-ref", "--format=%(contents)", "refs/tags")
            + repo.git("for-each-ref", "--format=%(contents)", "refs/tags"),
            "GitHub request bodies": json.dumps([r.body for r in self.github.requests]),
            "Argo CD request bodies": json.dumps(self.argocd.syncs),
            "Slack request bodies": "\n".join(self.slack.bodies),
        }

    def check(self, result: CliResult, argv: tuple[str, ...]) -> None:
        self.ran.append(" ".join(argv))
        assert "Traceback" not in result.out + result.err, (argv, result.err)
        for where, text in self.places(result).items():
            for fragment in (*SECRETS.values(), *FRAGMENTS):
                assert fragment not in text, f"{' '.join(argv)}: {fragment!r} leaked into {where}"


def _unmasked(out: str) -> str:
    return "\n".join(line for line in out.splitlines() if not line.startswith("::add-mask::"))


@pytest.fixture
def leaks(  # noqa: PLR0917 - pytest passes fixtures by name
    gitops: GitOpsRepo,
    github_fake: GitHubFake,
    argocd_fake: ArgoCDFake,
    slack: SlackFake,
    pypi_servers: PypiServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Leaks:
    require_tool("git", "apt-get install git")
    require_tool("kubectl", "kubectl with built-in kustomize renders the overlays")
    github_fake.token = SECRETS["GITHUB_TOKEN"]
    github_fake.setenv()
    argocd_fake.token = SECRETS["ARGOCD_AUTH_TOKEN"]
    # pipeline.plan asks the indexes which files they lack: local ones, as in CI's sandbox.
    pypi_servers.configure(gitops.path, monkeypatch)
    gitops.repo.commit("ci: the local package indexes")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TWINE_USERNAME", "__token__")
    monkeypatch.setenv("REGISTRY_USERNAME", "registry-user")
    monkeypatch.setenv("SLACK_WEBHOOK", slack.webhook)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setattr("dexops.workflows.branch_edit._pause", lambda _s: None)
    for env in ("dev", "stage", "prod"):
        argocd_fake.script(f"dex-{env}", application(f"dex-{env}", revision="0" * 40))
    return Leaks(gitops, github_fake, argocd_fake, slack, outputs, summary)


def run(cli: Cli, leaks: Leaks, *argv: str, expect: str = "any") -> CliResult:
    """Run one command, check its exit as expected, then look for every secret everywhere."""
    result = cli(*argv, cwd=leaks.gitops.path)
    if expect == "ok":
        assert result.code == 0, (argv, result.err)
    elif expect == "fail":
        assert result.code != 0, (argv, result.out)
        assert _unmasked(result.err).startswith("error: "), result.err
    leaks.check(result, argv)
    return result


def test_no_task_prints_writes_or_sends_a_secret(cli: Cli, leaks: Leaks) -> None:
    gitops = leaks.gitops
    old, new = gitops.make_tags(2)
    for argv in (
        ("version.show",),
        ("version.show", "--json"),
        ("version.changed",),
        ("version.changed", "--json"),
        ("version.bump", "dataenginex", "--part", "minor", "--dry-run"),
        ("version.bump", "dataenginex", "--part", "minor"),
        ("pipeline.plan",),
        ("pipeline.plan", "--json"),
        # Before the release: no tag at HEAD, so the dry run builds nothing to upload.
        ("publish.dataenginex", "--dry-run", "--json"),
        ("release.dataenginex", "--dry-run"),
        ("release.dataenginex", "--dry-run", "--json"),
        ("release.all", "--dry-run", "--json"),
        ("release.dataenginex",),
        ("release.dataenginex", "--json"),
        ("image.tags",),
        ("image.tags", "--json"),
        ("image.build", "careerdex", "--dry-run", "--push"),
        ("image.exists", old),
        ("image.exists", old, "--json"),
        ("deploy.set-image", "--env", "dev", "--image-tag", old, "--dry-run"),
        ("deploy.update", "--branch", "dev", "--image-tag", old, "--push", "--dry-run"),
        ("deploy.update", "--branch", "dev", "--image-tag", old, "--push"),
        ("deploy.update", "--branch", "dev", "--image-tag", new, "--push"),
        ("promote", "--to-env", "stage", "--dry-run"),
        ("promote", "--to-env", "stage", "--yes"),
        ("promote", "--to-env", "stage", "--direct", "--yes"),
        ("status",),
        ("status", "--json"),
        ("history", "--env", "dev"),
        ("history", "--env", "dev", "--json"),
        ("rollback", "--env", "dev", "--to", old, "--yes", "--dry-run"),
        ("rollback", "--env", "dev", "--to", old, "--yes"),
        ("hold.release", "--env", "dev", "--dry-run"),
        ("hold.release", "--env", "dev"),
        ("argocd.sync", "--env", "dev", "--dry-run"),
        ("argocd.sync", "--env", "dev"),
        ("notify", "--event", "deploy", "--status", "success", "--env", "dev", "--dry-run"),
        ("notify", "--event", "deploy", "--status", "success", "--env", "dev", "--tag", new),
    ):
        run(cli, leaks, *argv, expect="ok")
    # The fakes really were used, with the secrets as credentials: the checks saw real traffic.
    assert leaks.github.calls("POST"), "no GitHub request was made"
    assert any(r.body and "body" in r.body for r in leaks.github.requests)  # a PR or release
    assert leaks.argocd.syncs, "no Argo CD sync was requested"
    assert leaks.slack.bodies, "no Slack message was sent"
    assert f"Bearer {SECRETS['ARGOCD_AUTH_TOKEN']}" in leaks.argocd.authorizations


def test_failures_do_not_echo_secrets(
    cli: Cli, leaks: Leaks, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitops = leaks.gitops
    (tag,) = gitops.make_tags(1)
    run(cli, leaks, "deploy.update", "--branch", "dev", "--image-tag", tag, "--push", expect="ok")
    # Servers that echo the credentials they were sent back in their error bodies.
    echo = f"Bad credentials: {SECRETS['GITHUB_TOKEN']}"
    leaks.github.fail(401, times=20, json_body={"message": echo})
    path = gitops.repo.path / "packages/dataenginex/pyproject.toml"
    path.write_text(path.read_text().replace('version = "0.4.10"', 'version = "0.5.0"'))
    gitops.repo.commit("chore: bump")
    for argv in (
        ("release.dataenginex",),
        ("release.dataenginex", "--json"),
        ("release.all",),
        ("promote", "--to-env", "stage", "--yes"),
        ("deploy.update", "--branch", "dev", "--image-tag", "no;such", "--push"),
        ("version.bump", "dataenginex", "--to", "banana"),
        ("publish.dataenginex", "--tag", f"dataenginex-v{SECRETS['TWINE_PASSWORD']}"),
        ("image.exists", "sha-deadbeef"),
        ("image.exists", "sha-deadbeef", "--json"),
        ("history", "--env", "nosuch"),
        ("status", "--env", "nosuch", "--json"),
        ("argocd.wait", "--env", "stage", "--timeout", "0.5", "--interval", "0.1"),
        (
            "deploy.verify",
            "--env",
            "dev",
            "--url",
            "http://127.0.0.1:9/health",
            "--timeout",
            "0.5",
            "--interval",
            "0.1",
        ),
        ("verify.release", "dataenginex-v0.5.0"),
        ("metrics", "--since", SECRETS["REGISTRY_TOKEN"]),
        ("metrics",),  # reads CI runs from the (refusing) GitHub
        ("metrics", "--json"),
        ("notify", "--event", "nosuch", "--status", "success"),
    ):
        run(cli, leaks, *argv, expect="fail")
    # The token was sent (in a header, where it belongs) and echoed back; it was never shown.
    bearer = f"Bearer {SECRETS['GITHUB_TOKEN']}"
    assert any(r.headers.get("authorization") == bearer for r in leaks.github.requests)

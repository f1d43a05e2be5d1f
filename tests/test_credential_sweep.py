"""Every task that uses credentials, run against a hostile fake: none reaches another host.

One server stands for GitHub, Argo CD, the registry and Slack at `home` (127.0.0.1) and
answers every request by pointing elsewhere (`localhost`, the same port: another origin): a
307 redirect, a `Link: rel="next"` page, a bearer challenge whose token realm is there. Every
credential is set to a recognisable value; the server records every request's host and
headers, and no credential may arrive at the other origin or appear in any output.
"""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.fixtures_http import Answer, RecordingServer, Seen
from tests.gitrepo import GitRepo

SECRETS = {
    "GITHUB_TOKEN": "ghp_RecognisableGitHub0123456789",
    "ARGOCD_AUTH_TOKEN": "argo-RecognisableArgo-0123456789",
    "REGISTRY_USERNAME": "robot",
    "REGISTRY_PASSWORD": "reg-RecognisableRegistry-0123",
    "TWINE_PASSWORD": "pypi-RecognisableIndex-0123456",
}
SLACK_SECRET = "RecognisableSlackPath0123"


def _hostile(server: RecordingServer) -> None:
    def answer(seen: Seen) -> Answer:
        if seen.host.startswith("localhost"):
            return 200, {}, b'{"workflow_runs": [], "token": "elsewhere-token-1234"}'
        there = server.elsewhere + seen.path
        if "/actions/runs" in seen.path:  # GitHub: a next page on another host
            return 200, {"Link": f'<{there}>; rel="next"'}, b'{"workflow_runs": []}'
        if seen.path.startswith("/v2/"):  # a registry: a token realm on another host
            realm = f'Bearer realm="{server.elsewhere}/token",service="r"'
            return 401, {"WWW-Authenticate": realm}, b""
        return (
            307,
            {
                "Location": there,
                "Link": f'<{there}>; rel="next"',
                "WWW-Authenticate": f'Bearer realm="{server.elsewhere}/token",service="r"',
            },
            b"{}",
        )

    server.answer = answer


TASKS = {
    "notify": ("notify", "--event", "deploy", "--status", "success", "--timeout", "3"),
    "metrics": ("metrics",),
    "release": ("release.dataenginex",),
    "release-all": ("release.all",),
    "argocd-wait": ("argocd.wait", "--env", "dev", "--timeout", "2", "--interval", "0.5"),
    "argocd-sync": ("argocd.sync", "--env", "dev"),
    "status": ("status",),
    "verify": ("deploy.verify", "--env", "dev", "--timeout", "2", "--interval", "0.5"),
    "image-exists": ("image.exists", "--tag", "sha-0a1b2c3d", "--registry", "{registry}"),
}


@pytest.mark.parametrize("argv", TASKS.values(), ids=TASKS.keys())
def test_no_credential_reaches_another_host_or_any_output(
    argv: tuple[str, ...],
    dex_repo: GitRepo,
    cli: Cli,
    recording_server: RecordingServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = recording_server
    _hostile(server)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_API_URL", server.home)
    monkeypatch.setenv("GITHUB_REPOSITORY", "thedataenginex/dex")
    monkeypatch.setenv("ARGOCD_SERVER", server.home)
    monkeypatch.setenv("SLACK_WEBHOOK", f"{server.home}/services/T0/B0/{SLACK_SECRET}")
    registry = f"127.0.0.1:{server.port}"
    args = [a.replace("{registry}", registry) for a in argv]
    if args[0] == "deploy.verify":
        args += ["--url", f"{server.home}/health"]
    result = cli(*args, cwd=dex_repo.path)
    shown = result.out + result.err
    assert "Traceback" not in shown, result.err
    for value in [*SECRETS.values(), SLACK_SECRET]:
        if value != "robot":
            assert value not in shown, f"{value} was printed: {shown!r}"
    leaked = server.credentials_elsewhere(*SECRETS.values(), SLACK_SECRET)
    assert leaked == [], leaked
    assert server.seen, "the task never reached the fake"

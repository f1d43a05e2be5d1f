"""The one session factory: credentials stay on their origin, every call has a total deadline."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from dexops.adapters.argocd import ArgoCD, ArgoCDServer, ArgoCDUnavailableError
from dexops.adapters.github import GitHub, api_url_from_env
from dexops.adapters.http import BoundedBody, make_session, open_stream, origin
from dexops.adapters.registry import RegistryAuthError, RegistryClient
from dexops.adapters.sbom import with_digests
from dexops.domain.imageref import ImageRef
from dexops.errors import ConfigError, CredentialHostError, ExitCode, ForgeError
from tests.conftest import Cli
from tests.fixtures_http import Answer, DripServer, RecordingServer, Seen
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

TOKEN = "ghp_RecognisableToken0123456789"


def test_origins_fill_default_ports_and_fold_case() -> None:
    assert origin("https://API.github.com/x") == origin("https://api.github.com:443/y")
    assert origin("http://h/x") != origin("https://h/x")
    assert origin("http://127.0.0.1:8/x") != origin("http://localhost:8/x")


def test_bound_credentials_go_to_their_origin_only(recording_server: RecordingServer) -> None:
    server = recording_server
    session = make_session(
        retries=0,
        credentials={"Authorization": f"Bearer {TOKEN}"},
        credential_urls=(server.home,),
    )
    session.get(server.home + "/a")
    session.get(server.elsewhere + "/b")
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert server.credentials_elsewhere(TOKEN) == []
    assert len(server.at_elsewhere()) == 1


@pytest.mark.parametrize("own", ["header", "auth"])
def test_a_call_bringing_credentials_to_an_untrusted_origin_is_refused(
    recording_server: RecordingServer, own: str
) -> None:
    session = make_session(retries=0, credential_urls=(recording_server.home,))
    extra: dict[str, object] = (
        {"headers": {"authorization": "Bearer x-123456"}}
        if own == "header"
        else {"auth": ("robot", "pw-123456")}
    )
    with pytest.raises(
        CredentialHostError, match="refused to send credentials to http://localhost"
    ):
        session.get(recording_server.elsewhere + "/b", **extra)  # type: ignore[arg-type]
    assert recording_server.seen == []


def test_a_session_wide_authorization_header_is_refused_off_origin(
    recording_server: RecordingServer,
) -> None:
    session = make_session(retries=0)
    session.headers["Authorization"] = "Bearer set-by-hand-123456"
    with pytest.raises(CredentialHostError):
        session.get(recording_server.elsewhere + "/b")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_drops_the_credentials(
    recording_server: RecordingServer, status: int
) -> None:
    server = recording_server

    def answer(seen: Seen) -> Answer:
        if seen.host.startswith("127.0.0.1"):
            return status, {"Location": server.elsewhere + "/landing"}, b""
        return 200, {}, b"{}"

    server.answer = answer
    session = make_session(
        retries=0,
        credentials={"Authorization": f"Bearer {TOKEN}"},
        credential_urls=(server.home,),
    )
    assert session.post(server.home + "/start", json={}).status_code == 200
    assert [s.path for s in server.at_elsewhere()] == ["/landing"]
    assert server.credentials_elsewhere(TOKEN) == []


def test_an_http_to_https_upgrade_is_another_origin() -> None:
    strip: Callable[[str, str], bool] = make_session().should_strip_auth
    assert strip("http://h.example/x", "https://h.example/x")
    assert not strip("https://h.example/x", "https://h.example:443/y")


def _runs_page(server: RecordingServer, next_url: str) -> Callable[[Seen], Answer]:
    def answer(seen: Seen) -> Answer:
        if seen.host.startswith("127.0.0.1"):
            body = json.dumps({"total_count": 1, "workflow_runs": []}).encode()
            return 200, {"Link": f'<{next_url}>; rel="next"'}, body
        return 200, {}, json.dumps({"workflow_runs": []}).encode()

    return answer


def test_a_next_page_on_another_host_is_refused(recording_server: RecordingServer) -> None:
    server = recording_server
    server.answer = _runs_page(server, server.elsewhere + "/repos/o/r/actions/runs?page=2")
    github = GitHub("o/r", TOKEN, server.home, backoff=0)
    with pytest.raises(ForgeError, match="refused") as caught:
        github.workflow_runs_since(0)
    assert TOKEN not in str(caught.value)
    assert server.at_elsewhere() == []


def test_a_next_page_on_the_api_host_is_followed(recording_server: RecordingServer) -> None:
    server = recording_server
    pages = iter(["/repos/o/r/actions/runs?page=2"])

    def answer(seen: Seen) -> Answer:
        link = next(pages, None)
        headers = {"Link": f'<{server.home}{link}>; rel="next"'} if link else {}
        return 200, headers, json.dumps({"workflow_runs": []}).encode()

    server.answer = answer
    GitHub("o/r", TOKEN, server.home, backoff=0).workflow_runs_since(0)
    assert [s.path.split("?")[1].split("&")[0] for s in server.seen] == [
        "created=%3E%3D1970-01-01",
        "page=2",
    ]
    assert all(s.headers["Authorization"] == f"Bearer {TOKEN}" for s in server.seen)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass-secret-1@ghe.example/api/v3",
        "https://only-a-token-123@ghe.example/api/v3",
        "https://:pass-secret-1@ghe.example/api/v3",
    ],
)
def test_an_api_url_carrying_credentials_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", url)
    with pytest.raises(ConfigError, match="must not carry credentials") as caught:
        api_url_from_env()
    assert "secret" not in str(caught.value)
    assert "token-123" not in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://ghe.example/api", "ghe.example/api", "https://"])
def test_an_api_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("GITHUB_API_URL", url)
    with pytest.raises(ConfigError, match="not an http"):
        api_url_from_env()


def test_a_token_realm_on_another_host_gets_no_credentials(
    recording_server: RecordingServer,
) -> None:
    server = recording_server

    def answer(seen: Seen) -> Answer:
        realm = f'Bearer realm="{server.elsewhere}/token",service="r"'
        return 401, {"WWW-Authenticate": realm}, b""

    server.answer = answer
    client = RegistryClient(env={"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": "pw-Recog-99"})
    with pytest.raises(RegistryAuthError, match="token realm on http://localhost"):
        client.digest(ImageRef.parse(f"127.0.0.1:{server.port}/o/app:v1"))
    assert server.at_elsewhere() == []


def test_argocd_keeps_its_token_on_a_redirect(recording_server: RecordingServer) -> None:
    server = recording_server

    def answer(seen: Seen) -> Answer:
        if seen.host.startswith("127.0.0.1"):
            return 302, {"Location": server.elsewhere + "/api/v1/applications/a"}, b""
        return 200, {}, b'{"status": {}}'

    server.answer = answer
    client = ArgoCD(ArgoCDServer(server.home, verify_tls=True), "argo-Recognisable-123")
    client.application("a")
    assert server.credentials_elsewhere("argo-Recognisable-123") == []


# --- total deadlines: a server dripping one byte every half second --------------------------


@pytest.mark.parametrize("where", ["status", "headers", "body"])
def test_a_dripping_server_cannot_hold_a_call_past_its_deadline(
    drip_server: Callable[[str], DripServer], where: str
) -> None:
    server = drip_server(where)
    session = make_session(retries=2, backoff=0, timeout=(1.0, 1.0), deadline=1.5)
    start = time.monotonic()
    with pytest.raises(requests.Timeout, match=r"within 1\.5s"):
        session.get(server.url)
    assert time.monotonic() - start < 3.0


def test_a_float_timeout_of_one_call_is_its_total_deadline(
    drip_server: Callable[[str], DripServer],
) -> None:
    server = drip_server("body")
    start = time.monotonic()
    with pytest.raises(requests.Timeout):
        make_session(retries=0).get(server.url, timeout=1.0)
    assert time.monotonic() - start < 2.5


_WHOLE_READS: dict[str, Callable[[BoundedBody], bytes | str]] = {
    "iter_bytes": lambda b: b"".join(b.iter_bytes(1 << 16)),
    "read": lambda b: b.read(),
    "text": lambda b: b.text(),
}
_BODY_READS: dict[str, Callable[[BoundedBody], object]] = {
    **_WHOLE_READS,
    "json": lambda b: b.json(),
}


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
@pytest.mark.parametrize("read", sorted(_BODY_READS))
def test_a_streamed_body_dripping_slowly_ends_by_the_deadline(
    drip_server: Callable[..., DripServer], read: str, length: bool
) -> None:
    # Without a Content-Length, the socket the deadline shuts ends the body: it still times out.
    server = drip_server("body", gives_up=6.0, length=length)
    session = make_session(retries=0, deadline=1.5)
    start = time.monotonic()
    body = open_stream(session, "GET", server.url)  # the headers come at once
    assert body.status_code == 200
    with body, pytest.raises(requests.Timeout, match=r"within 1\.5s"):
        _BODY_READS[read](body)
    assert time.monotonic() - start < 2.5


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "read-only"])
@pytest.mark.parametrize("read", sorted(_WHOLE_READS))
def test_a_streamed_body_read_in_time_leaves_no_deadline_behind(
    recording_server: RecordingServer, read: str, closed: bool
) -> None:
    def answer(seen: Seen) -> Answer:
        if seen.path == "/slow":
            time.sleep(1.5)  # past the first call's deadline, on the same kept-alive socket
        return 200, {}, b"x" * 100_000

    recording_server.answer = answer
    recording_server.keep_alive = True
    session = make_session(retries=0)
    body = open_stream(session, "GET", recording_server.home + "/a", timeout=1.0)
    # Read to its end, the body's connection is back in the pool whether or not it is closed.
    assert len(_WHOLE_READS[read](body)) == 100_000
    if closed:
        body.close()
    assert session.get(recording_server.home + "/slow", timeout=5.0).status_code == 200
    assert len(recording_server.seen) == 2


def test_a_streamed_response_cannot_be_had_without_its_bounded_body(
    recording_server: RecordingServer,
) -> None:
    # A plain streamed Response would be read after the call, past its deadline's reach.
    session = make_session(retries=0)
    with pytest.raises(TypeError, match="open_stream"):
        session.get(recording_server.home + "/a", stream=True)
    with pytest.raises(TypeError, match="make_session"):
        open_stream(requests.Session(), "GET", recording_server.home + "/a")
    assert recording_server.seen == []


def test_a_file_the_index_drips_ends_verify_release_by_the_deadline(
    dex_repo: GitRepo,
    recording_server: RecordingServer,
    drip_server: Callable[..., DripServer],
    cli: Cli,
    tmp_path: Path,
) -> None:
    monkeypatch = cli.monkeypatch
    drip = drip_server("body", gives_up=8.0)
    # The file's URL, learnt from the index page, carries credentials: they are never shown.
    file_url = drip.url.replace("http://", "http://leak:drip-secret-4471@")
    recording_server.answer = lambda _seen: (
        200,
        {"Content-Type": "text/html"},
        f'<a href="{file_url}">dataenginex-0.4.10.tar.gz</a>'.encode(),
    )
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + "\n[tool.dexops.indexes.dripping]\n"
        + 'role = "production"\n'
        + f'upload-url = "{recording_server.home}/legacy/"\n'
        + f'simple-url = "{recording_server.home}/simple/"\n'
    )
    dex_repo.commit("ci: publish to the dripping index")
    message = with_digests("dataenginex 0.4.10\n", {"dataenginex-0.4.10.tar.gz": "ab" * 32})
    dex_repo.git("tag", "--annotate", "--cleanup=verbatim", "-m", message, "dataenginex-v0.4.10")
    monkeypatch.setattr("dexops.adapters.package_index.READ_DEADLINE", 1.5)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = RepoSnapshot.take(dex_repo)

    result = cli("verify.release", "dataenginex-v0.4.10", cwd=dex_repo.path)

    ended = time.monotonic()
    assert len(drip.connections) == 1
    assert ended - drip.connections[0] < 1.5 + 1.0
    assert result.code == ExitCode.FAILURE, result.err
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("error: dripping (http://***@127.0.0.1:"), result.err
    assert f"{drip.url.split('@')[-1].removeprefix('http://')}) sent no complete" in result.err
    assert "dataenginex-0.4.10.tar.gz within 1.5s" in result.err
    assert "drip-secret-4471" not in result.out + result.err
    assert list(scratch.iterdir()) == []  # no staged tree, no partial download left
    before.assert_same(dex_repo)


def test_argocd_reads_are_bounded_by_what_is_left_of_the_wait(
    drip_server: Callable[[str], DripServer],
) -> None:
    server = drip_server("headers")
    client = ArgoCD(ArgoCDServer(server.url.removesuffix("/x"), verify_tls=True), None)
    start = time.monotonic()
    with pytest.raises(ArgoCDUnavailableError):
        client.application("a", within=1.0)
    assert time.monotonic() - start < 2.5


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0, "abc", True])
def test_a_deadline_must_be_finite_and_positive(value: object) -> None:
    with pytest.raises(ConfigError, match="finite positive number of seconds"):
        make_session(deadline=value)  # type: ignore[arg-type]

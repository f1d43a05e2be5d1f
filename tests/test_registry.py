from __future__ import annotations

import base64
import hashlib
import json
import socket

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dexops.adapters.registry import (
    ACCEPT,
    MANIFEST_TYPES,
    Credentials,
    ImageNotFoundError,
    Manifest,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryUnreachableError,
    parse_challenge,
)
from dexops.domain.imageref import ImageRef
from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.gitrepo import GitRepo

DIGEST = "sha256:" + "c" * 64
TOKEN = "tok-abcdef123456"
MANIFEST_PATH = "/v2/thedataenginex/dex/manifests/sha-0a1b2c3d"


def _ref(server: HTTPServer, tag: str = "sha-0a1b2c3d") -> ImageRef:
    return ImageRef.parse(f"localhost:{server.port}/thedataenginex/dex:{tag}")


def _bearer_registry(server: HTTPServer, *, password: str | None = None) -> list[Request]:
    """A registry that challenges for a bearer token issued by a fake token endpoint."""
    token_requests: list[Request] = []
    realm = server.url_for("/token")

    def token(request: Request) -> Response:
        token_requests.append(request)
        if password is not None:
            expected = "Basic " + base64.b64encode(f"robot:{password}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return Response("denied", status=401)
        return Response(
            json.dumps({"token": TOKEN, "expires_in": 300}), content_type="application/json"
        )

    server.expect_request("/token").respond_with_handler(token)
    server.expect_request(
        MANIFEST_PATH, method="HEAD", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_data(
        "",
        headers={
            "Docker-Content-Digest": DIGEST,
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
        },
    )
    server.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        "",
        status=401,
        headers={
            "WWW-Authenticate": (
                f'Bearer realm="{realm}",service="registry.test",'
                'scope="repository:thedataenginex/dex:pull"'
            )
        },
    )
    return token_requests


def test_head_returns_the_digest_and_asks_for_every_manifest_type(httpserver: HTTPServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response("", headers={"Docker-Content-Digest": DIGEST})

    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_handler(handler)
    assert RegistryClient().digest(_ref(httpserver)) == DIGEST
    accept = seen[0].headers["Accept"]
    assert accept == ACCEPT
    assert all(media_type in accept for media_type in MANIFEST_TYPES)
    assert "Authorization" not in seen[0].headers


def test_digest_by_digest_reference(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        f"/v2/thedataenginex/dex/manifests/{DIGEST}", method="HEAD"
    ).respond_with_data("", headers={"Docker-Content-Digest": DIGEST})
    ref = _ref(httpserver).with_digest(DIGEST)
    assert RegistryClient().digest(ref) == DIGEST


def test_missing_digest_header_falls_back_to_hashing_the_manifest(httpserver: HTTPServer) -> None:
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data("")
    httpserver.expect_request(MANIFEST_PATH, method="GET").respond_with_data(
        body, content_type="application/vnd.oci.image.manifest.v1+json"
    )
    expected = "sha256:" + hashlib.sha256(body).hexdigest()
    assert RegistryClient().digest(_ref(httpserver)) == expected


def test_not_found(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data("", status=404)
    client = RegistryClient()
    with pytest.raises(ImageNotFoundError, match="sha-0a1b2c3d not found"):
        client.digest(_ref(httpserver))
    assert client.exists(_ref(httpserver)) is False


def test_bearer_challenge_anonymous(httpserver: HTTPServer) -> None:
    token_requests = _bearer_registry(httpserver)
    client = RegistryClient(env={})
    assert client.digest(_ref(httpserver)) == DIGEST
    assert len(token_requests) == 1
    assert token_requests[0].args["service"] == "registry.test"
    assert token_requests[0].args["scope"] == "repository:thedataenginex/dex:pull"
    assert "Authorization" not in token_requests[0].headers
    # The token is reused: a second lookup does not fetch another.
    assert client.digest(_ref(httpserver)) == DIGEST
    assert len(token_requests) == 1


def test_bearer_challenge_with_credentials_from_the_environment(httpserver: HTTPServer) -> None:
    token_requests = _bearer_registry(httpserver, password="s3cret-pass")
    client = RegistryClient(env={"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": "s3cret-pass"})
    assert client.digest(_ref(httpserver)) == DIGEST
    assert token_requests[0].headers["Authorization"].startswith("Basic ")


def test_token_variable_is_a_password(httpserver: HTTPServer) -> None:
    _bearer_registry(httpserver, password="tok-from-env")
    env = {"REGISTRY_USERNAME": "robot", "REGISTRY_TOKEN": "tok-from-env"}
    assert RegistryClient(env=env).digest(_ref(httpserver)) == DIGEST
    assert Credentials.from_env({"REGISTRY_TOKEN": "abcdefgh"}) == Credentials("token", "abcdefgh")
    assert Credentials.from_env({}) is None


def test_401_without_credentials_is_an_auth_error(httpserver: HTTPServer) -> None:
    _bearer_registry(httpserver, password="needed-password")
    with pytest.raises(RegistryAuthError, match="refused anonymous"):
        RegistryClient(env={}).digest(_ref(httpserver))


def test_wrong_credentials_are_an_auth_error_and_never_shown(httpserver: HTTPServer) -> None:
    _bearer_registry(httpserver, password="right-password")
    env = {"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": "wrong-password"}
    with pytest.raises(RegistryAuthError) as info:
        RegistryClient(env=env).digest(_ref(httpserver))
    assert "wrong-password" not in str(info.value)


def test_token_accepted_but_access_denied_is_an_auth_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/token").respond_with_json({"token": TOKEN})
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        "",
        status=401,
        headers={"WWW-Authenticate": f'Bearer realm="{httpserver.url_for("/token")}"'},
    )
    with pytest.raises(RegistryAuthError, match="HTTP 401"):
        RegistryClient(env={}).digest(_ref(httpserver))


def test_basic_challenge(httpserver: HTTPServer) -> None:
    expected = "Basic " + base64.b64encode(b"robot:pw-123456").decode()
    httpserver.expect_request(
        MANIFEST_PATH, method="HEAD", headers={"Authorization": expected}
    ).respond_with_data("", headers={"Docker-Content-Digest": DIGEST})
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        "", status=401, headers={"WWW-Authenticate": 'Basic realm="registry"'}
    )
    with pytest.raises(RegistryAuthError, match="needs credentials"):
        RegistryClient(env={}).digest(_ref(httpserver))
    env = {"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": "pw-123456"}
    assert RegistryClient(env=env).digest(_ref(httpserver)) == DIGEST


def test_credentials_are_never_sent_to_a_plain_http_remote_realm(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        "", status=401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example.com/token"'}
    )
    env = {"REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": "pw-123456"}
    with pytest.raises(RegistryAuthError, match="plain http"):
        RegistryClient(env=env).digest(_ref(httpserver))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable() -> None:
    ref = ImageRef.parse(f"127.0.0.1:{_closed_port()}/org/app:v1")
    with pytest.raises(RegistryUnreachableError, match="unreachable"):
        RegistryClient().digest(ref)


def test_persistent_5xx_is_unreachable(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data("", status=503)
    with pytest.raises(RegistryUnreachableError, match="503"):
        RegistryClient().digest(_ref(httpserver))


def test_https_for_remote_registries_http_for_loopback() -> None:
    from dexops.adapters.registry import base_url

    assert base_url(ImageRef.parse("ghcr.io/o/a")) == "https://ghcr.io"
    assert base_url(ImageRef.parse("nginx")) == "https://registry-1.docker.io"
    assert base_url(ImageRef.parse("127.0.0.1:5000/o/a")) == "http://127.0.0.1:5000"
    assert base_url(ImageRef.parse("localhost:5000/o/a")) == "http://localhost:5000"
    assert base_url(ImageRef.parse("127.0.0.1.nip.io:5000/o/a")) == "https://127.0.0.1.nip.io:5000"


def test_parse_challenge() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/a:pull"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://ghcr.io/token",
        "service": "ghcr.io",
        "scope": "repository:o/a:pull",
    }
    assert parse_challenge("Basic realm=registry").params == {"realm": "registry"}


def test_put_manifest_retags(httpserver: HTTPServer) -> None:
    body = b'{"schemaVersion":2}'
    received: list[Request] = []

    def put(request: Request) -> Response:
        received.append(request)
        return Response("", status=201, headers={"Docker-Content-Digest": DIGEST})

    httpserver.expect_request(
        "/v2/thedataenginex/dex/manifests/latest", method="PUT"
    ).respond_with_handler(put)
    manifest = Manifest(DIGEST, "application/vnd.oci.image.manifest.v1+json", body)
    assert RegistryClient().put_manifest(_ref(httpserver, "latest"), manifest) == DIGEST
    assert received[0].data == body
    assert received[0].headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"


# --- image.exists --------------------------------------------------------------------------


def test_exists_task(dex_repo: GitRepo, cli: Cli, httpserver: HTTPServer) -> None:
    _bearer_registry(httpserver)
    registry = f"localhost:{httpserver.port}"
    result = cli(
        "image.exists", "sha-0a1b2c3d", "--registry", registry, "--json", cwd=dex_repo.path
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "image": f"{registry}/thedataenginex/dex:sha-0a1b2c3d",
        "exists": True,
        "digest": DIGEST,
    }
    plain = cli("image.exists", f"{registry}/thedataenginex/dex:sha-0a1b2c3d", cwd=dex_repo.path)
    assert plain.out.strip() == f"{registry}/thedataenginex/dex:sha-0a1b2c3d {DIGEST}"


def test_exists_task_failures_have_distinct_exit_codes(
    dex_repo: GitRepo, cli: Cli, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request(
        "/v2/thedataenginex/dex/manifests/missing", method="HEAD"
    ).respond_with_data("", status=404)
    httpserver.expect_request(
        "/v2/thedataenginex/dex/manifests/private", method="HEAD"
    ).respond_with_data("", status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
    monkeypatch.setenv("DEXOPS_REGISTRY", f"localhost:{httpserver.port}")
    missing = cli("image.exists", "missing", "--json", cwd=dex_repo.path)
    assert missing.code == ExitCode.NOT_FOUND
    assert json.loads(missing.out)["exists"] is False
    assert missing.err == (
        f"error: localhost:{httpserver.port}/thedataenginex/dex:missing not found in registry "
        f"localhost:{httpserver.port}\n"
    )
    denied = cli("image.exists", "private", cwd=dex_repo.path)
    assert denied.code == ExitCode.UNAUTHORIZED
    assert denied.err.startswith("error: ")
    assert denied.err.count("\n") == 1
    monkeypatch.setenv("DEXOPS_REGISTRY", f"127.0.0.1:{_closed_port()}")
    down = cli("image.exists", "latest", cwd=dex_repo.path)
    assert down.code == ExitCode.UNREACHABLE
    assert down.err.startswith("error: registry 127.0.0.1:")
    assert down.err.count("\n") == 1
    bad = cli("image.exists", "sha-12", cwd=dex_repo.path)
    assert bad.code == 1
    assert "exactly 8" in bad.err


def test_a_redirect_to_another_host_is_refused_not_followed(httpserver: HTTPServer) -> None:
    # The registry answers on `localhost`; 127.0.0.1 is another host, with another answer.
    other = f"http://127.0.0.1:{httpserver.port}/elsewhere"
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        "", status=307, headers={"Location": other}
    )
    httpserver.expect_request("/elsewhere").respond_with_data(
        "", headers={"Docker-Content-Digest": DIGEST}
    )
    with pytest.raises(RegistryError) as caught:
        RegistryClient().digest(_ref(httpserver))
    assert str(caught.value) == (
        f"registry localhost:{httpserver.port} redirects {MANIFEST_PATH} to another host "
        f"(127.0.0.1:{httpserver.port}); not followed"
    )
    assert [r.path for r, _ in httpserver.log] == [MANIFEST_PATH]


def test_a_redirect_on_the_registry_host_is_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        "", status=301, headers={"Location": "/v2/moved"}
    )
    httpserver.expect_request("/v2/moved", method="HEAD").respond_with_data(
        "", headers={"Docker-Content-Digest": DIGEST}
    )
    assert RegistryClient().digest(_ref(httpserver)) == DIGEST

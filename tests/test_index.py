from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.version import Version
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dexops import secrets
from dexops.adapters.package_index import (
    SIMPLE_ACCEPT,
    Credentials,
    IndexClient,
    UploadFinished,
    UploadProgress,
    credentials_for,
    parse_simple_html,
    twine_failure,
)
from dexops.adapters.repo_files import LocalRepoFiles
from dexops.demo.services import free_port
from dexops.domain.config import DEFAULT_INDEXES, PackageIndex, parse_config
from dexops.errors import ConfigError, PackageIndexError

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
SDIST = b"sdist bytes"
WHEEL = b"wheel bytes"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _index(server: HTTPServer, name: str = "fake") -> PackageIndex:
    return PackageIndex(name, server.url_for("/legacy/"), server.url_for("/simple/"), "FAKE_TOKEN")


def _client(server: HTTPServer, **kwargs: object) -> IndexClient:
    return IndexClient(_index(server), backoff=0.0, **kwargs)  # type: ignore[arg-type]


def test_json_pages_are_preferred_and_read(httpserver: HTTPServer) -> None:
    page = {
        "meta": {"api-version": "1.1"},
        "name": "dataenginex",
        "files": [
            {
                "filename": "dataenginex-0.4.10.tar.gz",
                "url": "../../files/dataenginex-0.4.10.tar.gz",
                "hashes": {"sha256": _sha(SDIST).upper()},
            },
            {
                "filename": "dataenginex-0.4.11.tar.gz",
                "url": "https://files.example/dataenginex-0.4.11.tar.gz",
                "hashes": {"sha256": "00"},
            },
        ],
    }
    httpserver.expect_request(
        "/simple/dataenginex/", headers={"Accept": SIMPLE_ACCEPT}
    ).respond_with_data(json.dumps(page), content_type=JSON_TYPE)
    files = _client(httpserver).release_files("DataEngineX", Version("0.4.10"))
    assert [(f.filename, f.sha256) for f in files] == [("dataenginex-0.4.10.tar.gz", _sha(SDIST))]
    assert files[0].url == httpserver.url_for("/files/dataenginex-0.4.10.tar.gz")


def test_html_pages_are_the_fallback_and_unhashed_files_are_downloaded(
    httpserver: HTTPServer,
) -> None:
    sdist, wheel = "dataenginex-0.4.10.tar.gz", "dataenginex-0.4.10-py3-none-any.whl"
    html = f"""<!DOCTYPE html><html><body>
    <a href="../../packages/{sdist}#sha256={_sha(SDIST)}">{sdist}</a>
    <a href="/packages/{wheel}#md5=abc">{wheel}</a>
    <a href="../../packages/dataenginex-0.4.9.tar.gz">dataenginex-0.4.9.tar.gz</a>
    </body></html>"""
    httpserver.expect_request("/simple/dataenginex/").respond_with_data(
        html, content_type="text/html"
    )
    httpserver.expect_request("/packages/dataenginex-0.4.10-py3-none-any.whl").respond_with_data(
        WHEEL
    )
    files = _client(httpserver).release_files("dataenginex", Version("0.4.10"))
    assert {f.filename: f.sha256 for f in files} == {
        "dataenginex-0.4.10.tar.gz": _sha(SDIST),
        "dataenginex-0.4.10-py3-none-any.whl": _sha(WHEEL),
    }
    # Only the file without a sha256 in its link was fetched.
    fetched = [request.path for request, _ in httpserver.log]
    assert fetched == ["/simple/dataenginex/", "/packages/dataenginex-0.4.10-py3-none-any.whl"]


def test_html_links_honour_a_base_and_take_names_from_urls() -> None:
    html = '<base href="https://cdn.example/x/"><a href="d-1.0.tar.gz#sha256=AB"></a>'
    files = parse_simple_html(html, "https://index.example/simple/d/")
    assert [(f.filename, f.url, f.sha256) for f in files] == [
        ("d-1.0.tar.gz", "https://cdn.example/x/d-1.0.tar.gz", "ab")
    ]


def test_an_unknown_project_has_no_files(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/simple/dataenginex/").respond_with_data("nope", status=404)
    assert _client(httpserver).release_files("dataenginex", Version("1.0")) == []


def test_server_errors_are_retried_a_bounded_number_of_times(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/simple/dataenginex/").respond_with_data("down", status=503)
    with pytest.raises(PackageIndexError) as caught:
        _client(httpserver, retries=2).project_files("dataenginex")
    assert len(httpserver.log) == 3
    assert str(caught.value) == (
        f"fake ({httpserver.url_for('/simple/dataenginex/')}) answered HTTP 503 after 3 attempts"
    )


def test_a_server_that_recovers_is_read(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/simple/d/").respond_with_data("busy", status=500)
    httpserver.expect_ordered_request("/simple/d/").respond_with_data(
        '<a href="d-1.0.tar.gz#sha256=aa">d-1.0.tar.gz</a>', content_type="text/html"
    )
    assert [f.filename for f in _client(httpserver).project_files("d")] == ["d-1.0.tar.gz"]


def test_an_index_that_is_down_is_one_line() -> None:
    port = free_port()
    index = PackageIndex("gone", f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/simple/")
    with pytest.raises(
        PackageIndexError, match=r"is unreachable after 3 attempts: connection refused"
    ):
        IndexClient(index, retries=2, backoff=0.0).project_files("d")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_are_sent_only_when_the_index_asks(httpserver: HTTPServer) -> None:
    seen: list[str | None] = []

    def private(request: Request) -> Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != _basic("__token__", "pypi-secret-token"):
            return Response("who?", status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        return Response(
            '<a href="d-1.0.tar.gz#sha256=aa">d-1.0.tar.gz</a>', content_type="text/html"
        )

    httpserver.expect_request("/simple/d/").respond_with_handler(private)
    creds = Credentials("__token__", "pypi-secret-token", "FAKE_TOKEN")
    assert [f.filename for f in _client(httpserver, credentials=creds).project_files("d")] == [
        "d-1.0.tar.gz"
    ]
    assert seen == [None, _basic("__token__", "pypi-secret-token")]


def test_rejected_credentials_are_one_line_without_the_secret(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/simple/d/").respond_with_data("no", status=403)
    creds = Credentials("__token__", "pypi-wrong-token-xyz", "FAKE_TOKEN")
    with pytest.raises(PackageIndexError) as caught:
        _client(httpserver, credentials=creds).project_files("d")
    message = str(caught.value)
    assert (
        "requires credentials (HTTP 403); set FAKE_TOKEN or TWINE_USERNAME/TWINE_PASSWORD"
        in message
    )
    assert "pypi-wrong-token-xyz" not in message
    assert "pypi-wrong-token-xyz" not in repr(creds)


def test_newer_simple_api_majors_are_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/simple/d/").respond_with_data(
        json.dumps({"meta": {"api-version": "2.0"}, "files": []}), content_type=JSON_TYPE
    )
    with pytest.raises(PackageIndexError, match=r"speaks Simple API 2\.0"):
        _client(httpserver).project_files("d")


def test_credentials_prefer_the_index_token(monkeypatch: pytest.MonkeyPatch) -> None:
    testpypi, pypi = DEFAULT_INDEXES
    env = {"TEST_PYPI_TOKEN": "pypi-test-token-123", "TWINE_PASSWORD": "twine-password-456"}
    assert credentials_for(testpypi, env) == Credentials(
        "__token__", "pypi-test-token-123", "TEST_PYPI_TOKEN"
    )
    assert credentials_for(pypi, env) == Credentials(
        "__token__", "twine-password-456", "TWINE_USERNAME/TWINE_PASSWORD"
    )
    named = credentials_for(pypi, {**env, "TWINE_USERNAME": "releaser"})
    assert named is not None
    assert named.username == "releaser"
    assert credentials_for(pypi, {}) is None
    # A token read from a custom variable is masked like the well-known ones.
    custom = PackageIndex("corp", "https://c.example/", "https://c.example/simple/", "CORP_TOKEN")
    credentials_for(custom, {"CORP_TOKEN": "corp-token-value-789"})
    assert secrets.mask("token corp-token-value-789 here") == "token *** here"


def test_the_upload_command_carries_no_credentials(tmp_path: Path) -> None:
    index = PackageIndex("corp", "https://c.example/legacy/", "https://c.example/simple/")
    creds = Credentials("__token__", "pypi-upload-secret", "X")
    command = IndexClient(index, credentials=creds).upload_command([tmp_path / "d-1.0.tar.gz"])
    assert command == [
        sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
        "--repository-url", "https://c.example/legacy/", str(tmp_path / "d-1.0.tar.gz"),
    ]  # fmt: skip
    assert not any("pypi-upload-secret" in part for part in command)


def test_uploading_without_credentials_is_refused(tmp_path: Path) -> None:
    index = PackageIndex("corp", "https://c.example/legacy/", "https://c.example/simple/", "CORP")
    with pytest.raises(PackageIndexError, match="no credentials for corp: set CORP or TWINE_"):
        IndexClient(index).upload([tmp_path / "d-1.0.tar.gz"])


def test_twine_failures_are_reduced_to_their_reason() -> None:
    output = (
        "Uploading distributions to http://127.0.0.1:1/\n"
        "Uploading d-1.0.tar.gz\n"
        "WARNING  Error during upload. Retry with the --verbose option for more details.\n"
        "ERROR    HTTPError: 403 Forbidden from http://127.0.0.1:1/\n"
        "         Forbidden\n"
    )
    assert twine_failure(output) == "HTTPError: 403 Forbidden from http://127.0.0.1:1/"
    assert twine_failure("") == "twine exited without saying why"


# --- configuration of indexes and their roles -----------------------------------------------


def _config(tmp_path: Path, indexes: str) -> tuple[PackageIndex, ...]:
    import tomllib

    (tmp_path / "lib").mkdir(exist_ok=True)
    text = f"""
[tool.dexops.components.lib]
kind = "library"
path = "lib"
{indexes}
"""
    file = tmp_path / "pyproject.toml"
    files = LocalRepoFiles(tmp_path)
    return parse_config(tomllib.loads(text), root=tmp_path, file=file, files=files).indexes


def test_default_indexes_are_testpypi_then_pypi(tmp_path: Path) -> None:
    assert [(i.name, i.role) for i in _config(tmp_path, "")] == [
        ("testpypi", "test"),
        ("pypi", "production"),
    ]


def test_roles_default_by_order_or_are_given(tmp_path: Path) -> None:
    two = """
[tool.dexops.indexes.staging]
upload-url = "https://s.example/"
simple-url = "https://s.example/simple/"
[tool.dexops.indexes.corp]
upload-url = "https://c.example/"
simple-url = "https://c.example/simple/"
"""
    assert [(i.name, i.role) for i in _config(tmp_path, two)] == [
        ("staging", "test"),
        ("corp", "production"),
    ]
    swapped = two.replace(
        'simple-url = "https://c.example/simple/"',
        'simple-url = "https://c.example/simple/"\nrole = "test"',
    )
    assert [(i.name, i.role) for i in _config(tmp_path, swapped)] == [
        ("staging", "production"),
        ("corp", "test"),
    ]
    one = two.split("[tool.dexops.indexes.corp]", maxsplit=1)[0]
    assert [(i.name, i.role) for i in _config(tmp_path, one)] == [("staging", "production")]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('role = "canary"', "role must be 'test' or 'production', not 'canary'"),
        ('upload-url = "ftp://x.example/"', "upload-url 'ftp://x.example/' must be an http"),
        (
            'upload-url = "https://user:pw@x.example/"',
            "upload-url must not carry credentials",
        ),
    ],
)
def test_bad_index_tables_are_named(tmp_path: Path, table: str, message: str) -> None:
    base = {
        "upload-url": 'upload-url = "https://x.example/"',
        "simple-url": 'simple-url = "https://x.example/simple/"',
    }
    key = table.split(" ", 1)[0]
    base[key] = table
    text = "[tool.dexops.indexes.x]\n" + "\n".join(base.values())
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        _config(tmp_path, text)


def test_two_indexes_with_one_role_are_refused(tmp_path: Path) -> None:
    text = """
[tool.dexops.indexes.a]
upload-url = "https://a.example/"
simple-url = "https://a.example/simple/"
role = "test"
[tool.dexops.indexes.b]
upload-url = "https://b.example/"
simple-url = "https://b.example/simple/"
role = "test"
"""
    with pytest.raises(ConfigError, match="more than one index has role 'test'"):
        _config(tmp_path, text)
    three = text.replace('role = "test"', "") + text.replace("indexes.a]", "indexes.c]").split(
        "[tool.dexops.indexes.b]"
    )[0].replace('role = "test"', "")
    with pytest.raises(ConfigError, match="set role = 'test' or 'production' on a, b, c"):
        _config(tmp_path, three)


# --- uploads report each file as it starts and as it ends -----------------------------------

_META = "Metadata-Version: 2.1\nName: slowpkg\nVersion: 1.0\n"


def _distributions(folder: Path) -> list[Path]:
    """The smallest sdist and wheel twine accepts."""
    sdist, wheel = folder / "slowpkg-1.0.tar.gz", folder / "slowpkg-1.0-py3-none-any.whl"
    with tarfile.open(sdist, "w:gz") as archive:
        top = tarfile.TarInfo("slowpkg-1.0")
        top.type = tarfile.DIRTYPE
        archive.addfile(top)
        info = tarfile.TarInfo("slowpkg-1.0/PKG-INFO")
        info.size = len(_META)
        archive.addfile(info, io.BytesIO(_META.encode()))
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("slowpkg/__init__.py", "X = 1\n" * 4000)  # a wheel larger than the sdist
        archive.writestr("slowpkg-1.0.dist-info/METADATA", _META)
        archive.writestr(
            "slowpkg-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr("slowpkg-1.0.dist-info/RECORD", "")
    return [sdist, wheel]


HOLD = 0.5  # seconds the index holds each upload before it answers


@pytest.fixture
def holding_index() -> Iterator[tuple[str, list[tuple[str, float, float]]]]:
    """An upload endpoint that holds each file HOLD seconds; records (filename, got, answered)."""
    received: list[tuple[str, float, float]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got = time.monotonic()
            name = re.search(rb'filename="([^"]+)"', body)
            time.sleep(HOLD)  # mid-upload: the file is sent, the index has not answered
            received.append((name[1].decode() if name else "?", got, time.monotonic()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/legacy/", received
    server.shutdown()
    server.server_close()


def test_each_upload_is_reported_as_it_starts_and_as_it_ends(
    tmp_path: Path, holding_index: tuple[str, list[tuple[str, float, float]]]
) -> None:
    url, received = holding_index
    files = _distributions(tmp_path)
    index = PackageIndex("holding", url, url.replace("/legacy/", "/simple/"))
    heard: list[tuple[float, UploadProgress]] = []
    client = IndexClient(index, credentials=Credentials("__token__", "pw-Upload-51", "test"))

    client.upload(files, on_progress=lambda event: heard.append((time.monotonic(), event)))

    sizes = {f.name: f.stat().st_size for f in files}
    sdist, wheel = (f.name for f in files)
    assert [
        (type(e).__name__, e.index, e.filename, e.size, e.position, e.count) for _, e in heard
    ] == [
        ("UploadStarted", "holding", sdist, sizes[sdist], 1, 2),
        ("UploadFinished", "holding", sdist, sizes[sdist], 1, 2),
        ("UploadStarted", "holding", wheel, sizes[wheel], 2, 2),
        ("UploadFinished", "holding", wheel, sizes[wheel], 2, 2),
    ]
    assert [name for name, _, _ in received] == [f.name for f in files]
    # Heard while it happened: each start before the index got the file, each end after
    # the index answered, and the next file only after that.
    for position, (name, got, answered) in enumerate(received):
        started, finished = heard[2 * position][0], heard[2 * position + 1][0]
        assert started < got < answered <= finished, name
        ended = heard[2 * position + 1][1]
        assert isinstance(ended, UploadFinished)
        assert ended.seconds >= HOLD
    assert "pw-Upload-51" not in repr(heard)


def test_a_failed_upload_names_the_files_that_reached_the_index(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    files = _distributions(tmp_path)
    answers = iter([Response(status=200), Response("forbidden", status=403)])
    httpserver.expect_request("/legacy/", method="POST").respond_with_handler(
        lambda _request: next(answers)
    )
    client = IndexClient(_index(httpserver), credentials=Credentials("__token__", "pw-9", "test"))
    with pytest.raises(PackageIndexError) as failed:
        client.upload(files)
    assert str(failed.value).startswith(f"upload of {files[1].name} to fake failed: ")
    assert str(failed.value).endswith("(slowpkg-1.0.tar.gz reached it)")

"""An index's reads stay on its host: pypiserver's fallback to another index is not followed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version
from tests.fixtures_pypi import PypiServer

from dexops.adapters.package_index import IndexClient
from dexops.domain.config import PackageIndex

pytestmark = pytest.mark.integration


def _server(tmp_path: Path, name: str, *, fallback_url: str | None = None) -> PypiServer:
    server = PypiServer(name, "test", tmp_path / name, "u", "p", "update")
    server.fallback_url = fallback_url
    server.workdir.mkdir(parents=True)
    return server


@pytest.fixture
def redirecting(tmp_path: Path) -> Iterator[tuple[PypiServer, PypiServer]]:
    """An index that sends projects it lacks to another host, and that host, holding `lib`."""
    other = _server(tmp_path, "elsewhere")
    # `localhost` is another host than the index's 127.0.0.1, as pypi.org is for a mirror.
    index = _server(tmp_path, "mirror", fallback_url=f"http://localhost:{other.port}/simple/")
    try:
        for server in (other, index):
            server.spawn()
        for server in (other, index):
            server.wait()
        (other.packages / "lib-1.0.tar.gz").write_bytes(b"another index's file\n")
        yield index, other
    finally:
        index.stop()
        other.stop()


def test_a_redirect_to_another_host_is_not_this_index_holding_the_project(
    redirecting: tuple[PypiServer, PypiServer],
) -> None:
    import requests

    index, other = redirecting
    # pypiserver itself does redirect: the fallback is on.
    answer = requests.get(f"{index.simple_url}lib/", allow_redirects=False, timeout=10)
    assert answer.is_redirect
    assert answer.headers["Location"].startswith(f"http://localhost:{other.port}/")
    client = IndexClient(PackageIndex("mirror", index.url, index.simple_url), retries=0)
    assert client.project_files("lib") == []
    assert client.release_files("lib", Version("1.0")) == []


def test_a_redirect_on_the_index_host_is_followed(
    redirecting: tuple[PypiServer, PypiServer],
) -> None:
    index, _ = redirecting
    (index.packages / "lib-1.0.tar.gz").write_bytes(b"the mirror's own file\n")
    client = IndexClient(PackageIndex("mirror", index.url, index.simple_url), retries=0)
    # pypiserver answers `/simple/lib` with a redirect to `/simple/lib/` on its own host.
    listed = client.project_files("Lib")
    assert [f.filename for f in listed] == ["lib-1.0.tar.gz"]

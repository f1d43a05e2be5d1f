"""A real OCI registry (Debian's docker-registry) on 127.0.0.1, and private buildah storage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tool


@dataclass(frozen=True)
class LocalRegistry:
    """A running registry: its host:port and base URL."""

    host: str
    url: str
    storage: Path


@pytest.fixture
def local_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """`docker-registry serve` with a temp config: filesystem storage in tmp, a free port."""
    require_tool("docker-registry", "apt-get install docker-registry")
    from dexops.demo.services import start_registry

    workdir = tmp_path / "registry"
    service = start_registry(workdir)  # waits until /v2/ answers
    try:
        yield LocalRegistry(
            host=service.url.removeprefix("http://"), url=service.url, storage=workdir / "storage"
        )
    finally:
        service.stop()


@pytest.fixture
def buildah_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point buildah/skopeo at storage under tmp, so tests never touch the machine's images."""
    root = tmp_path / "containers"
    (root / "graph").mkdir(parents=True)
    (root / "run").mkdir()
    conf = root / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "graph"}"\nrunroot = "{root / "run"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(conf))
    return root

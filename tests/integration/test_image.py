from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import Cli, require_tool
from tests.fixtures_registry import LocalRegistry
from tests.gitrepo import GitRepo

from dexops.adapters.container_engine import Buildah, BuildSpec
from dexops.adapters.registry import ImageNotFoundError, RegistryClient
from dexops.domain.imageref import ImageRef
from dexops.errors import ExitCode

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data" / "scratch-image"


def _skopeo_digest(ref: str) -> str:
    skopeo = require_tool("skopeo", "apt-get install skopeo")
    done = subprocess.run(
        [skopeo, "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        text=True,
        check=True,
    )
    digest: str = json.loads(done.stdout)["Digest"]
    return digest


@pytest.fixture
def buildah(buildah_storage: Path) -> str:
    return require_tool("buildah", "apt-get install buildah")


def test_buildah_builds_a_scratch_image_and_pushes_it(
    local_registry: LocalRegistry, buildah: str
) -> None:
    ref = ImageRef.parse(f"{local_registry.host}/dexops/scratch:sha-0a1b2c3d")
    spec = BuildSpec(
        context=DATA,
        containerfile=DATA / "Containerfile",
        tags=(ref, ref.with_tag("latest")),
        labels={"org.opencontainers.image.revision": "0a1b2c3d" * 5},
        build_args={"GREETING": "hi"},
        timestamp=1700000000,
    )
    # The machine's buildah must use vfs storage and chroot isolation inside a container.
    digests = Buildah(buildah, contained=True).build(spec, push=True)
    assert set(digests) == {str(ref), str(ref.with_tag("latest"))}
    digest = digests[str(ref)]
    assert digest == _skopeo_digest(str(ref))
    assert RegistryClient().digest(ref) == digest
    assert RegistryClient().digest(ref.with_tag("latest")) == digest
    with pytest.raises(ImageNotFoundError):
        RegistryClient().digest(ref.with_tag("sha-ffffffff"))


def _point_at_registry(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch, registry: LocalRegistry
) -> None:
    # What a new user does in a copy of the example: build offline FROM scratch and send the
    # image to the local registry instead of ghcr.io.
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'image = "ghcr.io/thedataenginex/dex"',
            'image = "ghcr.io/thedataenginex/dex"\nbuild-args = { BASE_IMAGE = "scratch" }',
        )
    )
    repo.commit("build offline", "pyproject.toml")
    monkeypatch.setenv("DEXOPS_REGISTRY", registry.host)


def test_build_push_and_exists_in_the_example_monorepo(
    dex_repo: GitRepo,
    cli: Cli,
    local_registry: LocalRegistry,
    buildah: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _point_at_registry(dex_repo, monkeypatch, local_registry)
    sha = f"sha-{dex_repo.head()[:8]}"
    image = f"{local_registry.host}/thedataenginex/dex"

    built = cli("image.build", "careerdex", "--push", "--engine", "buildah", cwd=dex_repo.path)
    assert built.code == 0, built.err
    digest = _skopeo_digest(f"{image}:{sha}")
    assert built.out.splitlines()[-1] == f"digest: {digest}"
    assert f"pushed {image}:latest@{digest}" in built.out
    assert f"pushed {image}:v0.3.5@{digest}" in built.out

    exists = cli("image.exists", sha, "--json", cwd=dex_repo.path)
    assert exists.code == 0, exists.err
    assert json.loads(exists.out) == {"image": f"{image}:{sha}", "exists": True, "digest": digest}

    # Labels reached the image config.
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{image}:{sha}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    labels = json.loads(inspected.stdout)["Labels"]
    assert labels["org.opencontainers.image.revision"] == dex_repo.head()
    assert labels["org.opencontainers.image.version"] == "0.3.5"

    # Again: converges without rebuilding; the immutable tag keeps its digest.
    again = cli("image.build", "careerdex", "--push", "--engine", "buildah", cwd=dex_repo.path)
    assert again.code == 0, again.err
    assert "already in the registry" in again.out
    assert _skopeo_digest(f"{image}:{sha}") == digest

    # The same commit on dev: its moving tag is pointed at the existing image.
    dex_repo.git("checkout", "--quiet", "-B", "dev")
    moved = cli("image.build", "careerdex", "--push", cwd=dex_repo.path)
    assert moved.code == 0, moved.err
    assert f"pushed {image}:dev@{digest} (re-tagged)" in moved.out
    assert _skopeo_digest(f"{image}:dev") == digest


def test_missing_tag_and_registry_down(
    dex_repo: GitRepo, cli: Cli, local_registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEXOPS_REGISTRY", local_registry.host)
    missing = cli("image.exists", "sha-0badc0de", cwd=dex_repo.path)
    assert missing.code == ExitCode.NOT_FOUND
    assert missing.err == (
        f"error: {local_registry.host}/thedataenginex/dex:sha-0badc0de not found in registry "
        f"{local_registry.host}\n"
    )
    from dexops.demo.services import free_port

    monkeypatch.setenv("DEXOPS_REGISTRY", f"127.0.0.1:{free_port()}")
    down = cli("image.exists", "sha-0badc0de", cwd=dex_repo.path)
    assert down.code == ExitCode.UNREACHABLE
    assert down.err.startswith("error: registry 127.0.0.1:")
    assert "unreachable" in down.err
    assert down.err.count("\n") == 1

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from dexops.adapters.container_engine import (
    Buildah,
    BuildSpec,
    Docker,
    EngineError,
    Podman,
    Ran,
    select_engine,
)
from dexops.domain.imageref import ImageRef
from dexops.errors import ToolMissingError
from tests.conftest import Cli
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

DIGEST = "sha256:" + "d" * 64


def _spec(tmp_path: Path, *refs: str, platforms: tuple[str, ...] = ()) -> BuildSpec:
    return BuildSpec(
        context=tmp_path,
        containerfile=tmp_path / "Containerfile",
        tags=tuple(ImageRef.parse(r) for r in refs),
        labels={"org.opencontainers.image.revision": "abc"},
        build_args={"BASE_IMAGE": "scratch"},
        platforms=platforms,
        timestamp=1700000000,
        cache_from=("type=gha",),
        cache_to=("type=gha,mode=max",),
        sbom=True,
        provenance=True,
    )


def _which(available: set[str]) -> object:
    return lambda name: f"/usr/bin/{name}" if name in available else None


@pytest.mark.parametrize(
    ("available", "daemon", "expected"),
    [
        ({"docker", "buildah", "podman"}, True, "docker"),
        ({"docker", "buildah", "podman"}, False, "buildah"),
        ({"docker", "podman"}, False, "podman"),
        ({"buildah"}, False, "buildah"),
    ],
)
def test_engine_auto_selection(available: set[str], daemon: bool, expected: str) -> None:
    engine = select_engine(None, which=_which(available), daemon=lambda _: daemon)  # type: ignore[arg-type]
    assert engine.name == expected


def test_missing_engine_names_what_to_install() -> None:
    with pytest.raises(ToolMissingError, match=r"install buildah \(apt-get install buildah\)"):
        select_engine(None, which=_which(set()), daemon=lambda _: False)  # type: ignore[arg-type]
    with pytest.raises(ToolMissingError, match="apt-get install podman"):
        select_engine("podman", which=_which({"buildah"}), daemon=lambda _: False)  # type: ignore[arg-type]
    with pytest.raises(EngineError, match="daemon is not reachable"):
        select_engine("docker", which=_which({"docker"}), daemon=lambda _: False)  # type: ignore[arg-type]
    with pytest.raises(EngineError, match="unknown engine 'kaniko'"):
        select_engine("kaniko")


def test_buildah_argv_in_a_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_DRIVER", raising=False)
    monkeypatch.delenv("BUILDAH_ISOLATION", raising=False)
    spec = _spec(tmp_path, "127.0.0.1:5000/a/b:sha-0a1b2c3d", "127.0.0.1:5000/a/b:latest")
    engine = Buildah("buildah", contained=True)
    assert engine.build_argv(spec) == [
        "buildah", "--storage-driver", "vfs", "bud", "--isolation", "chroot",
        "--file", str(tmp_path / "Containerfile"),
        "--tag", "127.0.0.1:5000/a/b:sha-0a1b2c3d", "--tag", "127.0.0.1:5000/a/b:latest",
        "--label", "org.opencontainers.image.revision=abc",
        "--build-arg", "BASE_IMAGE=scratch",
        "--timestamp", "1700000000",
        str(tmp_path),
    ]  # fmt: skip
    push = engine.push_argv(spec, spec.tags[1], digestfile=tmp_path / "d", authfile=None)
    assert push == [
        "buildah", "--storage-driver", "vfs", "push", "--tls-verify=false",
        "--digestfile", str(tmp_path / "d"),
        "127.0.0.1:5000/a/b:sha-0a1b2c3d", "docker://127.0.0.1:5000/a/b:latest",
    ]  # fmt: skip


def test_buildah_on_a_host_and_tls_kept_for_remote_registries(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "ghcr.io/a/b:sha-0a1b2c3d", platforms=("linux/amd64", "linux/arm64"))
    engine = Buildah("buildah", contained=False)
    argv = engine.build_argv(spec)
    assert argv[:2] == ["buildah", "bud"]
    assert "--isolation" not in argv
    assert "--storage-driver" not in argv
    assert argv[argv.index("--manifest") + 1] == "ghcr.io/a/b:sha-0a1b2c3d"
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64"
    push = engine.push_argv(spec, spec.tags[0], digestfile=tmp_path / "d", authfile=tmp_path / "a")
    assert push[:4] == ["buildah", "manifest", "push", "--all"]
    assert "--tls-verify=false" not in push
    assert push[push.index("--authfile") + 1] == str(tmp_path / "a")


def test_storage_and_isolation_environment_overrides_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_DRIVER", "overlay")
    monkeypatch.setenv("BUILDAH_ISOLATION", "oci")
    argv = Podman("podman", contained=True).build_argv(_spec(tmp_path, "ghcr.io/a/b:v1"))
    assert argv[:2] == ["podman", "build"]
    assert "vfs" not in argv
    assert "chroot" not in argv


def test_docker_buildx_argv_has_cache_sbom_and_provenance(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "ghcr.io/a/b:sha-0a1b2c3d", "ghcr.io/a/b:latest")
    argv = Docker("docker").build_argv(spec, push=True, metadata=tmp_path / "m.json")
    assert argv[:3] == ["docker", "buildx", "build"]
    for expected in (
        ["--cache-from", "type=gha"],
        ["--cache-to", "type=gha,mode=max"],
        ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"],
        ["--metadata-file", str(tmp_path / "m.json")],
    ):
        index = argv.index(expected[0], argv.index(expected[0]))
        assert expected[1] in argv[index + 1 :]
    assert "--sbom=true" in argv
    assert "--provenance=mode=max" in argv
    assert "--push" in argv
    assert "--load" in Docker("docker").build_argv(spec)


def test_pushes_read_the_digest_each_engine_writes(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def buildah_runner(argv: Sequence[str], env: Mapping[str, str] | None) -> Ran:
        calls.append(list(argv))
        if "--digestfile" in argv:
            Path(argv[argv.index("--digestfile") + 1]).write_text(DIGEST + "\n")
        return Ran(0, "")

    spec = _spec(tmp_path, "127.0.0.1:5000/a/b:sha-0a1b2c3d", "127.0.0.1:5000/a/b:latest")
    digests = Buildah("buildah", buildah_runner, contained=True).build(spec, push=True)
    assert digests == {str(t): DIGEST for t in spec.tags}
    assert len(calls) == 3

    def docker_runner(argv: Sequence[str], env: Mapping[str, str] | None) -> Ran:
        Path(argv[argv.index("--metadata-file") + 1]).write_text(
            json.dumps({"containerimage.digest": DIGEST})
        )
        return Ran(0, "")

    assert Docker("docker", docker_runner).build(spec, push=True) == {
        str(t): DIGEST for t in spec.tags
    }


def test_engine_failure_is_one_line_with_the_reason(tmp_path: Path) -> None:
    def failing(argv: Sequence[str], env: Mapping[str, str] | None) -> Ran:
        return Ran(125, "STEP 1/2: FROM nosuch\nError: creating build container: pull failed\n")

    with pytest.raises(EngineError, match="buildah build failed \\(exit 125\\): Error: creating"):
        Buildah("buildah", failing).build(_spec(tmp_path, "ghcr.io/a/b:v1"))


def test_authfile_holds_credentials_with_private_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexops.adapters.container_engine import write_authfile

    assert write_authfile(tmp_path, [ImageRef.parse("ghcr.io/a/b")]) is None
    monkeypatch.setenv("REGISTRY_USERNAME", "robot")
    monkeypatch.setenv("REGISTRY_PASSWORD", "pw-123456")
    path = write_authfile(tmp_path, [ImageRef.parse("ghcr.io/a/b")])
    assert path is not None
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["auths"]["ghcr.io"]["auth"] == "cm9ib3Q6cHctMTIzNDU2"


# --- image.build, without running an engine ------------------------------------------------


def test_build_dry_run_changes_nothing(dex_repo: GitRepo, cli: Cli) -> None:
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli(
        "image.build", "careerdex", "--engine", "buildah", "--dry-run",
        "--build-arg", "BASE_IMAGE=scratch", "--platform", "linux/amd64", cwd=dex_repo.path,
    )  # fmt: skip
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("[dry-run] would run ")
    assert f"--tag ghcr.io/thedataenginex/dex:sha-{dex_repo.head()[:8]}" in lines[0]
    assert "--build-arg BASE_IMAGE=scratch" in lines[0]
    assert "--platform linux/amd64" in lines[0]
    snapshot.assert_same(dex_repo)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--build-arg", "1BAD=x"), "--build-arg"),
        (("--build-arg", "NOVALUE"), "--build-arg"),
        (("--platform", "linux/amd64;id"), "--platform"),
        (("--engine", "kaniko"), "unknown engine"),
        (("--registry", "-x"), "registry"),
    ],
)
def test_build_bad_input_is_refused_before_any_command(
    dex_repo: GitRepo, cli: Cli, argv: tuple[str, ...], message: str
) -> None:
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("image.build", "careerdex", *argv, cwd=dex_repo.path)
    assert result.code == 1
    assert result.err.startswith("error: ")
    assert message in result.err
    assert result.err.count("\n") == 1
    snapshot.assert_same(dex_repo)


def test_build_needs_an_app_component(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("image.build", "dataenginex", "--dry-run", cwd=dex_repo.path)
    assert result.code == 1
    assert "is a library, not an app" in result.err

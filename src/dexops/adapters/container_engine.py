"""The container engine adapter: docker (buildx), buildah or podman, as argument lists only.

Builds stream their output to stderr (stdout stays clean for --json); pushes report the
digest the registry stored, read from the engine's digest or metadata file.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dexops import github_actions
from dexops.adapters.registry import Credentials
from dexops.adapters.tool import run_tool
from dexops.domain.imageref import ImageRef, validate_digest
from dexops.errors import DexopsError, ToolMissingError

ENGINES = ("docker", "buildah", "podman")
INSTALL_HINT = {
    "docker": "install docker and start its daemon (https://docs.docker.com/engine/install/)",
    "buildah": "apt-get install buildah",
    "podman": "apt-get install podman",
}
DAEMON_TIMEOUT = 10.0
TAIL_LINES = 20


class EngineError(DexopsError):
    """A build or push failed, or the engine cannot be used."""


@dataclass(frozen=True)
class BuildSpec:
    """Everything one image build needs; tags are full references, the first is primary."""

    context: Path
    containerfile: Path
    tags: tuple[ImageRef, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    timestamp: int | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    sbom: bool = False
    provenance: bool = False

    @property
    def primary(self) -> ImageRef:
        """The first tag: the name the engine stores the built image under."""
        return self.tags[0]


@dataclass(frozen=True)
class Ran:
    """Exit code and the last lines of a command's output."""

    code: int
    tail: str


Runner = Callable[[Sequence[str], Mapping[str, str] | None], Ran]


def stream(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Ran:
    """Run a command, copying its output to stderr and keeping the tail for error messages."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env={**os.environ, **(env or {})},
        )
    except FileNotFoundError:
        raise ToolMissingError(f"{argv[0]} is not installed") from None
    with proc, github_actions.group(" ".join(argv[:2])):
        assert proc.stdout is not None  # noqa: S101 - PIPE was requested
        for line in proc.stdout:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
        sys.stderr.flush()
        code = proc.wait()
    return Ran(code, "\n".join(tail))


def _reason(tail: str) -> str:
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith(("error", "fatal")):
            return line
    return lines[-1] if lines else "no output"


def in_container() -> bool:
    """Whether we run inside a container, where overlay storage and OCI isolation fail."""
    return (
        Path("/.dockerenv").exists()
        or Path("/run/.containerenv").exists()
        or bool(os.environ.get("container"))  # noqa: SIM112 - podman/systemd spell it so
    )


class Engine:
    """What every engine offers: build argv, push argv, and running them."""

    name = ""

    def __init__(self, executable: str, runner: Runner = stream) -> None:
        self.executable = executable
        self.runner = runner

    def build_argv(self, spec: BuildSpec) -> list[str]:
        """The build command."""
        raise NotImplementedError

    def build(self, spec: BuildSpec, *, push: bool = False) -> dict[str, str]:
        """Build (and with `push`, push every tag); return tag -> pushed digest."""
        raise NotImplementedError

    def _run(self, argv: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> None:
        ran = self.runner(argv, env)
        if ran.code != 0:
            raise EngineError(f"{self.name} {what} failed (exit {ran.code}): {_reason(ran.tail)}")


def _pairs(flag: str, values: Mapping[str, str]) -> list[str]:
    argv: list[str] = []
    for key, value in values.items():
        argv += [flag, f"{key}={value}"]
    return argv


def _read_digest(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise EngineError(f"{what} wrote no digest") from None
    try:
        return validate_digest(text)
    except DexopsError:
        raise EngineError(f"{what} wrote an invalid digest {text!r}") from None


def write_authfile(directory: Path, refs: Sequence[ImageRef]) -> Path | None:
    """A containers-auth.json with the environment's registry credentials, or None."""
    credentials = Credentials.from_env()
    if credentials is None:
        return None
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    auths = {ref.registry: {"auth": token} for ref in refs}
    path = directory / "auth.json"
    # The file holds a password: readable by us alone, and removed with the directory.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"auths": auths}, handle)
    return path


class BuildahLike(Engine):
    """buildah and podman: daemonless builds, pushes with --digestfile."""

    build_command = "bud"

    def __init__(
        self, executable: str, runner: Runner = stream, *, contained: bool | None = None
    ) -> None:
        super().__init__(executable, runner)
        self.contained = in_container() if contained is None else contained

    def global_options(self) -> list[str]:
        """Storage options: vfs inside containers, where overlay-on-overlay fails."""
        if self.contained and not os.environ.get("STORAGE_DRIVER"):
            return ["--storage-driver", "vfs"]
        return []

    def isolation(self) -> list[str]:
        """Use chroot isolation inside containers, where OCI isolation has no namespaces."""
        if self.contained and not os.environ.get("BUILDAH_ISOLATION"):
            return ["--isolation", "chroot"]
        return []

    def build_argv(self, spec: BuildSpec) -> list[str]:
        """`buildah bud …` (a manifest list when several platforms are asked for)."""
        argv = [self.executable, *self.global_options(), self.build_command, *self.isolation()]
        argv += ["--file", str(spec.containerfile)]
        if len(spec.platforms) > 1:
            argv += ["--manifest", str(spec.primary)]
        else:
            for tag in spec.tags:
                argv += ["--tag", str(tag)]
        argv += _pairs("--label", spec.labels)
        argv += _pairs("--build-arg", spec.build_args)
        if spec.platforms:
            argv += ["--platform", ",".join(spec.platforms)]
        if spec.timestamp is not None:
            argv += ["--timestamp", str(spec.timestamp)]
        return [*argv, str(spec.context)]

    def push_argv(
        self, spec: BuildSpec, tag: ImageRef, *, digestfile: Path, authfile: Path | None
    ) -> list[str]:
        """Push the built image (or manifest list) to one tag, writing its digest."""
        argv = [self.executable, *self.global_options()]
        argv += ["manifest", "push", "--all"] if len(spec.platforms) > 1 else ["push"]
        if tag.is_loopback:
            # Loopback registries speak plain http; nothing else gets TLS switched off.
            argv.append("--tls-verify=false")
        if authfile is not None:
            argv += ["--authfile", str(authfile)]
        argv += ["--digestfile", str(digestfile), str(spec.primary), f"docker://{tag}"]
        return argv

    def build(self, spec: BuildSpec, *, push: bool = False) -> dict[str, str]:
        """Build, then push each tag when asked; return tag -> digest."""
        self._run(self.build_argv(spec), "build")
        if not push:
            return {}
        digests: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="dexops-push-") as tmp:
            authfile = write_authfile(Path(tmp), spec.tags)
            for index, tag in enumerate(spec.tags):
                digestfile = Path(tmp) / f"digest-{index}"
                argv = self.push_argv(spec, tag, digestfile=digestfile, authfile=authfile)
                self._run(argv, f"push of {tag}")
                digests[str(tag)] = _read_digest(digestfile, f"{self.name} push of {tag}")
        return digests


class Buildah(BuildahLike):
    """buildah."""

    name = "buildah"


class Podman(BuildahLike):
    """podman (the same flags as buildah for what dexops uses)."""

    name = "podman"
    build_command = "build"


class Docker(Engine):
    """docker with buildx: cache, SBOM and provenance options; pushes during the build."""

    name = "docker"

    def build_argv(
        self, spec: BuildSpec, *, push: bool = False, metadata: Path | None = None
    ) -> list[str]:
        """`docker buildx build …` with --push, or --load for a local image."""
        argv = [self.executable, "buildx", "build", "--file", str(spec.containerfile)]
        for tag in spec.tags:
            argv += ["--tag", str(tag)]
        argv += _pairs("--label", spec.labels)
        build_args = dict(spec.build_args)
        if spec.timestamp is not None:
            # BuildKit reads SOURCE_DATE_EPOCH for reproducible timestamps.
            build_args.setdefault("SOURCE_DATE_EPOCH", str(spec.timestamp))
        argv += _pairs("--build-arg", build_args)
        if spec.platforms:
            argv += ["--platform", ",".join(spec.platforms)]
        for cache in spec.cache_from:
            argv += ["--cache-from", cache]
        for cache in spec.cache_to:
            argv += ["--cache-to", cache]
        if spec.sbom:
            argv.append("--sbom=true")
        if spec.provenance:
            argv.append("--provenance=mode=max")
        argv.append("--push" if push else "--load")
        if metadata is not None:
            argv += ["--metadata-file", str(metadata)]
        return [*argv, str(spec.context)]

    def build(self, spec: BuildSpec, *, push: bool = False) -> dict[str, str]:
        """Build with buildx; with `push`, every tag is pushed and share one digest."""
        with tempfile.TemporaryDirectory(prefix="dexops-build-") as tmp:
            metadata = Path(tmp) / "metadata.json"
            self._run(self.build_argv(spec, push=push, metadata=metadata), "buildx build")
            if not push:
                return {}
            try:
                data = json.loads(metadata.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise EngineError("docker buildx wrote no readable metadata file") from None
        digest = data.get("containerimage.digest") if isinstance(data, dict) else None
        if not isinstance(digest, str):
            raise EngineError("docker buildx metadata has no containerimage.digest")
        validate_digest(digest)
        return {str(tag): digest for tag in spec.tags}


def docker_daemon_reachable(executable: str) -> bool:
    """Whether `docker info` reaches a daemon within a few seconds."""
    try:
        done = run_tool(
            [executable, "info", "--format", "{{.ServerVersion}}"],
            what="docker info",
            timeout=DAEMON_TIMEOUT,
            error=EngineError,
        )
    except (OSError, DexopsError):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def _make(name: str, executable: str) -> Engine:
    if name == "docker":
        return Docker(executable)
    if name == "buildah":
        return Buildah(executable)
    return Podman(executable)


def select_engine(
    name: str | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    daemon: Callable[[str], bool] = docker_daemon_reachable,
) -> Engine:
    """The named engine, or the first that works: docker with a daemon, buildah, podman."""
    if name is not None:
        if name not in ENGINES:
            raise EngineError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
        executable = which(name)
        if executable is None:
            raise ToolMissingError(f"{name} is not installed ({INSTALL_HINT[name]})")
        if name == "docker" and not daemon(executable):
            raise EngineError(
                "docker is installed but its daemon is not reachable; start it or use "
                "--engine buildah"
            )
        return _make(name, executable)
    docker = which("docker")
    if docker is not None and daemon(docker):
        return Docker(docker)
    for candidate in ("buildah", "podman"):
        executable = which(candidate)
        if executable is not None:
            return _make(candidate, executable)
    raise ToolMissingError(
        "no container engine found: install buildah (apt-get install buildah), podman, "
        "or docker with a running daemon"
    )

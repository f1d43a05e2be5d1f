"""Stand-ins for pypa/gh-action-pypi-publish and docker's login, buildx and build-push actions."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from tests.rehearsal.actionkit import ActionContext, ActionError, StandIn
from tests.rehearsal.errors import RehearsalError
from tests.rehearsal.origin import git

PYPI_UPLOAD = "https://upload.pypi.org/legacy/"


def pypi_publish(ctx: ActionContext) -> None:
    """twine upload of packages-dir to the local index mapped from `repository-url`."""
    url = ctx.text("repository-url", PYPI_UPLOAD)
    target = ctx.services.indexes.get(url)
    if target is None:
        raise RehearsalError(f"pypi-publish to {url}: the test maps no local index for it")
    password = ctx.text("password")
    if not password:
        # Trusted publishing: the OIDC token needs `id-token: write` on the job.
        if not ctx.has_permission("id-token", "write"):
            raise ActionError(
                "Trusted publishing exchange failure: OpenID Connect token retrieval failed: "
                "missing or insufficient OIDC token permissions (id-token: write)"
            )
        user, password = target.username, target.password
    else:
        user = ctx.text("user", "__token__")
    directory = ctx.workspace / ctx.text("packages-dir", "dist")
    files = sorted(str(path) for path in directory.glob("*")) if directory.is_dir() else []
    if not files:
        raise ActionError(f"No distributions found in {directory}")
    argv = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    argv += ["--repository-url", target.url, "--username", user, "--password", password]
    if ctx.flag("skip-existing", default=False):
        argv.append("--skip-existing")
    if ctx.flag("verbose", default=False):
        argv.append("--verbose")
    env = {key: value for key, value in ctx.env.items() if not key.startswith("TWINE_")}
    ctx.env = env
    ctx.run([*argv, *files], what="twine upload")


def _registry(ctx: ActionContext, image: str) -> str:
    """An image reference with its registry host mapped to the local registry."""
    host, _, rest = image.partition("/")
    if rest and ("." in host or ":" in host or host == "localhost"):
        local = ctx.services.registries.get(host)
        if local is None and not host.startswith(("127.0.0.1", "localhost")):
            raise RehearsalError(f"image {image}: the test maps no local registry for {host}")
        return f"{local or host}/{rest}"
    raise RehearsalError(f"image {image}: Docker Hub is not modelled; name a registry host")


def setup_buildx(ctx: ActionContext) -> None:
    """Record the builder's driver (docker-container unless given), as later builds see it."""
    driver = ctx.text("driver", "docker-container")
    ctx.state.buildx_driver = driver
    ctx.outputs.update(name="builder-rehearsal", driver=driver, platforms="linux/amd64")


def login(ctx: ActionContext) -> None:
    """Record a login to the (mapped) registry; a missing username or password fails."""
    registry = ctx.text("registry", "docker.io")
    if not ctx.text("username") or not ctx.text("password"):
        raise ActionError("Username and password required")
    ctx.state.logins[registry] = ctx.text("username")
    ctx.log(f"Login Succeeded ({registry})")


def _uses_gha_cache(ctx: ActionContext) -> bool:
    values = ctx.lines("cache-from") + ctx.lines("cache-to")
    return any("type=gha" in value for value in values)


def _context(ctx: ActionContext, tmp: Path) -> Path:
    """The build context: a path, or (by default) the git context at the event's commit."""
    given = ctx.text("context")
    if given:
        return ctx.workspace / given
    archive = tmp / "context.tar"
    git("archive", "--output", str(archive), str(ctx.github["sha"]), cwd=ctx.origin.path)
    context = tmp / "git-context"
    context.mkdir()
    ctx.run(["tar", "-xf", str(archive), "-C", str(context)], what="git context")
    return context


def build_push(ctx: ActionContext) -> None:
    """buildah bud with the tags, labels and build args; buildah push of each tag when push."""
    buildah = ctx.tool("buildah")
    if _uses_gha_cache(ctx) and ctx.state.buildx_driver in (None, "docker"):
        raise ActionError(
            "ERROR: failed to build: Cache export is not supported for the docker driver. "
            "Switch to a different driver, or turn on the containerd image store"
        )
    tags = [_registry(ctx, tag) for tag in ctx.lines("tags")]
    push = ctx.flag("push", default=False)
    if push and not tags:
        raise ActionError("ERROR: tag is needed when pushing to registry")
    with tempfile.TemporaryDirectory(prefix="rehearsal-build-") as tmp:
        context = _context(ctx, Path(tmp))
        file = ctx.text("file")
        dockerfile = ctx.workspace / file if file else context / "Dockerfile"
        argv = [buildah, "bud"]
        if not os.environ.get("BUILDAH_ISOLATION"):
            argv += ["--isolation", "chroot"]
        argv += ["--file", str(dockerfile)]
        for tag in tags:
            argv += ["--tag", tag]
        for label in ctx.inputs.get("labels", "").splitlines():
            if label.strip():
                argv += ["--label", label.strip()]
        for arg in ctx.inputs.get("build-args", "").splitlines():
            if arg.strip():
                argv += ["--build-arg", arg.strip()]
        if ctx.text("platforms"):
            argv += ["--platform", ctx.text("platforms")]
        if ctx.text("target"):
            argv += ["--target", ctx.text("target")]
        iidfile = Path(tmp) / "iid"
        ctx.run([*argv, "--iidfile", str(iidfile), str(context)], what="buildah bud")
        ctx.outputs["imageid"] = iidfile.read_text(encoding="utf-8").strip()
        if push:
            for index, tag in enumerate(tags):
                digestfile = Path(tmp) / f"digest-{index}"
                argv = [buildah, "push", "--tls-verify=false", "--digestfile", str(digestfile)]
                ctx.run([*argv, tag, f"docker://{tag}"], what=f"buildah push {tag}")
                ctx.outputs["digest"] = digestfile.read_text(encoding="utf-8").strip()
    ctx.outputs.setdefault("digest", "")
    ctx.outputs["metadata"] = "{}"


PYPI_INPUTS = {
    "user", "password", "repository-url", "packages-dir", "verify-metadata", "skip-existing",
    "verbose", "print-hash", "attestations",
}  # fmt: skip
BUILD_PUSH_INPUTS = {
    "add-hosts", "allow", "annotations", "attests", "build-args", "build-contexts", "builder",
    "cache-from", "cache-to", "call", "cgroup-parent", "context", "file", "labels", "load",
    "network", "no-cache", "no-cache-filters", "outputs", "platforms", "provenance", "pull",
    "push", "sbom", "secrets", "secret-envs", "secret-files", "shm-size", "ssh", "tags",
    "target", "ulimit", "github-token",
}  # fmt: skip
BUILDX_INPUTS = {
    "version", "name", "driver", "driver-opts", "buildkitd-flags", "buildkitd-config",
    "buildkitd-config-inline", "install", "use", "endpoint", "platforms", "append",
    "keep-state", "cache-binary", "cleanup",
}  # fmt: skip

STAND_INS = {
    "pypa/gh-action-pypi-publish": StandIn(
        frozenset(PYPI_INPUTS),
        pypi_publish,
        aliases={"repository_url": "repository-url", "packages_dir": "packages-dir"},
    ),
    "docker/setup-buildx-action": StandIn(frozenset(BUILDX_INPUTS), setup_buildx),
    "docker/login-action": StandIn(
        frozenset({"registry", "username", "password", "ecr", "logout", "scope"}), login
    ),
    "docker/build-push-action": StandIn(frozenset(BUILD_PUSH_INPUTS), build_push),
}

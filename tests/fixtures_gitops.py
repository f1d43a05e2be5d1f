"""GitOps fixtures: the example monorepo wired to a registry fake, and image tags of real commits.

`gitops` is the example repository (main and dev pushed to a bare origin) whose app image
lives on `manifests`, a registry fake on its own 127.0.0.1 server that knows the manifests
of the tags made with `gitops.make_tags(n)` (each `sha-<8 hex>` of a real commit).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.gitrepo import GitRepo, init_repo

OVERLAY = "infra/argocd/overlays/{env}/kustomization.yaml"
_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")


@dataclass
class ManifestFake:
    """A registry that answers manifest requests for the tags it was told about."""

    server: HTTPServer
    digests: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        """`127.0.0.1:<port>`, the registry part of image references."""
        return f"127.0.0.1:{self.server.port}"

    def add(self, tag: str) -> str:
        """Make the registry hold `tag`; return its digest."""
        digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
        self.digests[tag] = digest
        return digest

    def handle(self, request: Request) -> Response:
        self.requests.append(f"{request.method} {request.path}")
        match = _MANIFEST.match(request.path)
        if request.path == "/v2/":
            return Response("{}", 200, content_type="application/json")
        if match is None:
            return Response("{}", 404, content_type="application/json")
        ref = match["ref"]
        digest = self.digests.get(ref) or (ref if ref in self.digests.values() else None)
        if digest is None:
            body = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            return Response(json.dumps(body), 404, content_type="application/json")
        manifest = json.dumps({"schemaVersion": 2, "tag": ref})
        return Response(
            "" if request.method == "HEAD" else manifest,
            200,
            headers={
                "Docker-Content-Digest": digest,
                "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            },
        )


@pytest.fixture
def manifests() -> Iterator[ManifestFake]:
    """A registry fake on its own server (the GitHub fake owns the shared one)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    fake = ManifestFake(server)
    server.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    try:
        yield fake
    finally:
        server.clear()
        server.stop()


@dataclass
class GitOpsRepo:
    """The example monorepo, its origin, and its image on the registry fake."""

    repo: GitRepo
    registry: ManifestFake
    image: str
    _count: int = 0

    @property
    def path(self) -> Path:
        return self.repo.path

    def make_tags(self, count: int, *, register: bool = True) -> list[str]:
        """`sha-<8 hex>` tags of new commits on origin's `app` branch (in the registry too)."""
        current = self.repo.git("rev-parse", "--abbrev-ref", "HEAD")
        start = "origin/app" if self._count else "origin/main"
        self.repo.git("checkout", "--quiet", "-B", "app", start)
        tags = []
        for _ in range(count):
            self._count += 1
            self.repo.write("src/careerdex/build.txt", f"build {self._count}\n")
            commit = self.repo.commit(f"feat: change {self._count}", "src/careerdex/build.txt")
            tags.append(f"sha-{commit[:8]}")
        self.repo.push("app")
        self.repo.git("checkout", "--quiet", current)
        if register:
            for tag in tags:
                self.registry.add(tag)
        return tags

    def overlay(self, env: str, ref: str | None = None) -> str:
        """The overlay text on origin's branch of `env` (or at `ref`)."""
        branch = "dev" if env == "dev" else "main"
        return self.repo.origin_git("show", f"{ref or branch}:{OVERLAY.format(env=env)}") + "\n"

    def tag(self, env: str) -> str:
        """The newTag the overlay of `env` holds on origin."""
        found = re.search(r"newTag: (\S+)", self.overlay(env))
        assert found is not None
        return found[1]

    def clone(self, path: Path) -> GitRepo:
        """Another working clone of origin (a concurrent CI job)."""
        subprocess.run(
            ["git", "clone", "--quiet", str(self.repo.origin), str(path)],
            check=True,
            capture_output=True,
        )
        clone = GitRepo(path, self.repo.origin)
        clone.git("config", "user.name", "Other Job")
        clone.git("config", "user.email", "other@example.com")
        return clone

    def protect(self, branch: str) -> None:
        """A server-side pre-receive hook that refuses every push to `branch`."""
        hook = self.repo.origin / "hooks" / "pre-receive"
        hook.write_text(
            "#!/bin/sh\n"
            "while read -r old new ref; do\n"
            f'  if [ "$ref" = "refs/heads/{branch}" ]; then\n'
            f'    echo "protected branch: {branch} takes changes through pull requests" >&2\n'
            "    exit 1\n"
            "  fi\n"
            "done\n",
            encoding="utf-8",
        )
        hook.chmod(0o755)


# The line of the example's prod environment that keeps CD away from it.
PROMOTION_ONLY = "promotion-only = true\n"


def make_gitops_repo(tmp: Path, registry: ManifestFake) -> GitOpsRepo:
    """The example monorepo whose image lives on the registry fake, main and dev pushed."""
    from tests.gitrepo import EXAMPLE

    repo = init_repo(tmp / "work", tmp / "origin.git", source=EXAMPLE)
    image = f"{registry.host}/thedataenginex/dex"
    pyproject = repo.path / "pyproject.toml"
    # The GitOps tests drive two environments per branch with CD: prod follows main here,
    # although the example makes it promotion-only (test_deploy covers that on its own).
    text = pyproject.read_text(encoding="utf-8").replace("ghcr.io/thedataenginex/dex", image)
    pyproject.write_text(text.replace(PROMOTION_ONLY, ""), encoding="utf-8")
    for env in ("dev", "stage", "prod"):
        overlay = repo.path / OVERLAY.format(env=env)
        overlay.write_text(
            overlay.read_text(encoding="utf-8").replace("ghcr.io/thedataenginex/dex", image),
            encoding="utf-8",
        )
    repo.commit("feat: initial import of the DataEngineX monorepo")
    repo.push("main")
    repo.git("branch", "dev")
    repo.push("dev")
    registry.add("sha-0a1b2c3d")
    return GitOpsRepo(repo, registry, image)


@pytest.fixture
def gitops(tmp_path: Path, manifests: ManifestFake) -> GitOpsRepo:
    """The example monorepo with a bare origin and its image on the registry fake."""
    return make_gitops_repo(tmp_path, manifests)

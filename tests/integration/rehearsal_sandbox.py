"""A sandbox for rehearsing the example's workflows: origin, two indexes, a registry, buildah.

The example is copied into a fresh repository with a bare origin, pointed at this dexops
checkout (and re-locked: its steps run `uv run --locked`), at the two local pypiservers
(the plan and the build job read them as publish does) and at the local registry through
its image name. GitHub's API is the GitHub fake. The Trivy scan is the one stand-in
without the real program (trivy cannot be installed here): `aquasecurity/setup-trivy` puts
a `trivy` on PATH that checks the scanned image is in the registry and reports it clean.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from tests.fixtures_github import GitHubFake
from tests.fixtures_pypi import PypiServers
from tests.fixtures_registry import LocalRegistry
from tests.gitrepo import EXAMPLE, GitRepo, init_repo, point_at_this_checkout
from tests.rehearsal.actionkit import ActionContext, StandIn
from tests.rehearsal.fixtures import Rehearsal
from tests.rehearsal.model import IndexTarget, RunResult

TEST_UPLOAD = "https://test.pypi.org/legacy/"
PYPI_UPLOAD = "https://upload.pypi.org/legacy/"


def _trivy_stand_in(ctx: ActionContext) -> None:
    """A trivy that inspects the image in the registry (skopeo) and writes a clean report."""
    bin_dir = ctx.temp / "trivy-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "trivy"
    script.write_text(
        textwrap.dedent(
            """\
            #!/bin/sh
            set -e
            for last; do :; done
            skopeo inspect --tls-verify=false "docker://$last" > /dev/null
            while [ "$1" != "--output" ]; do shift; done
            printf '{"SchemaVersion": 2, "ArtifactName": "%s", "Results": []}' "$last" > "$2"
            """
        ),
        encoding="utf-8",
    )
    script.chmod(0o755)
    ctx.path_entries.append(str(bin_dir))


STAND_INS = {"aquasecurity/setup-trivy": StandIn(frozenset({"version", "cache"}), _trivy_stand_in)}


@dataclass
class Sandbox:
    """The example's repository and the services its workflows reach."""

    repo: GitRepo
    rehearsal: Rehearsal
    indexes: PypiServers
    registry: LocalRegistry
    github: GitHubFake

    def workflow(self, name: str) -> Path:
        """A workflow file of the repository as committed."""
        return self.repo.path / ".github" / "workflows" / name

    def run(self, name: str | Path, event: str, payload: dict[str, Any]) -> RunResult:
        """Rehearse one workflow of the repository (or a given file) for an event."""
        path = name if isinstance(name, Path) else self.workflow(name)
        return self.rehearsal.run(path, event, payload, repository=self.github.repository)

    def origin_sha(self, ref: str) -> str:
        """The commit a ref names in the origin."""
        return self.repo.origin_git("rev-parse", f"{ref}^{{commit}}")

    def origin_tags(self) -> dict[str, str]:
        """The origin's tags mapped to their commits."""
        out = self.repo.origin_git("for-each-ref", "--format=%(refname:strip=2) %(*objectname)")
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def overlay_tag(self, env: str, branch: str) -> str:
        """The image tag an environment's overlay holds on the origin's branch."""
        text = self.repo.origin_git(
            "show", f"{branch}:infra/argocd/overlays/{env}/kustomization.yaml"
        )
        data = YAML(typ="safe").load(text)
        return str(data["images"][0]["newTag"])

    def index_files(self) -> dict[str, dict[str, str]]:
        """Each index's files with their sha256."""
        return {
            server.name: {
                name: hashlib.sha256(data).hexdigest() for name, data in server.files().items()
            }
            for server in (self.indexes.test, self.indexes.production)
        }

    def image_labels(self, tag: str) -> tuple[str, dict[str, str]]:
        """The digest and OCI labels of the registry's image under `tag`."""
        ref = f"docker://{self.registry.host}/thedataenginex/dex:{tag}"
        done = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", ref],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        data = json.loads(done.stdout)
        return str(data["Digest"]), dict(data.get("Labels") or {})

    def sync(self, branch: str) -> None:
        """Check `branch` out at the origin's tip (workflows push overlay commits to it)."""
        self.repo.git("checkout", "--quiet", branch)
        if self.repo.origin_git("branch", "--list", branch):
            self.repo.git("pull", "--quiet", "--ff-only", "origin", branch)

    def commit_and_push(self, branch: str, path: str, text: str, message: str) -> str:
        """A change on `branch` (checked out), pushed; returns the new commit."""
        self.sync(branch)
        self.repo.write(path, text)
        commit = self.repo.commit(message)
        self.repo.push(branch)
        return commit


def make_sandbox(
    tmp: Path,
    rehearsal: Rehearsal,
    *,
    indexes: PypiServers,
    registry: LocalRegistry,
    github: GitHubFake,
    monkeypatch: pytest.MonkeyPatch,
) -> Sandbox:
    """The example with a bare origin (main and dev pushed) wired to the local services."""
    repo = init_repo(tmp / "work", rehearsal.origin, source=EXAMPLE)
    point_at_this_checkout(repo.path)
    indexes.configure(repo.path, monkeypatch)
    pyproject = repo.path / "pyproject.toml"
    # The image lives on the local registry (every task that reads or checks it, promote's
    # gate included, asks that one); FROM scratch: the build needs nothing from the internet.
    image = f"{registry.host}/thedataenginex/dex"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'image = "ghcr.io/thedataenginex/dex"',
            f'image = "{image}"\nbuild-args = {{ BASE_IMAGE = "scratch" }}',
        ),
        encoding="utf-8",
    )
    for env in ("dev", "stage", "prod"):
        overlay = repo.path / "infra" / "argocd" / "overlays" / env / "kustomization.yaml"
        text = overlay.read_text(encoding="utf-8")
        overlay.write_text(text.replace("ghcr.io/thedataenginex/dex", image), encoding="utf-8")
    repo.commit("feat: initial import of the DataEngineX monorepo")
    repo.push("main")
    repo.git("branch", "dev")
    repo.push("dev")
    rehearsal.services.indexes = {
        TEST_UPLOAD: IndexTarget(indexes.test.url, indexes.test.username, indexes.test.password),
        PYPI_UPLOAD: IndexTarget(
            indexes.production.url, indexes.production.username, indexes.production.password
        ),
    }
    rehearsal.services.registries = {"ghcr.io": registry.host}
    rehearsal.services.api_url = github.url
    rehearsal.secrets = {"GITHUB_TOKEN": github.token}
    rehearsal.stand_ins = dict(STAND_INS)
    return Sandbox(repo, rehearsal, indexes, registry, github)


def ci_completed(branch: str, sha: str, *, conclusion: str = "success") -> dict[str, Any]:
    """The workflow_run event GitHub sends when the CI workflow of a push finished."""
    return {
        "action": "completed",
        "workflow_run": {
            "id": 901,
            "name": "CI",
            "event": "push",
            "status": "completed",
            "conclusion": conclusion,
            "head_branch": branch,
            "head_sha": sha,
            "path": ".github/workflows/ci.yml",
            "run_number": 1,
        },
        "workflow": {"name": "CI", "path": ".github/workflows/ci.yml"},
        "sender": {"login": "rehearsal-bot"},
    }

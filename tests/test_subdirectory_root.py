"""A `[tool.dexops]` root in a subdirectory: every path, at every revision, is relative to it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.gitrepo import GitRepo, init_repo

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
spec:
  selector:
    matchLabels: {{app: {app}}}
  template:
    metadata:
      labels: {{app: {app}}}
    spec:
      containers:
        - name: {app}
          image: acme/{app}
"""

KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  - name: acme/{app}
    newName: ghcr.io/acme/{app}
    newTag: sha-0000000{n}
"""

PYPROJECT = """[project]
name = "{app}"
version = "0.1.0"

[tool.dexops]
default-branch = "main"

[tool.dexops.components.{app}]
kind = "app"
path = "."
tag-prefix = "{app}-v"
image = "ghcr.io/acme/{app}"

[tool.dexops.environments.dev]
overlay = "deploy/dev"
branch = "main"
"""


def two_apps(tmp: Path) -> GitRepo:
    """apps/a and apps/b, each its own dexops root with the same overlay path."""
    repo = init_repo(tmp / "work", tmp / "origin.git")
    for n, app in enumerate(("a", "b"), start=1):
        repo.write(f"apps/{app}/pyproject.toml", PYPROJECT.format(app=app))
        repo.write(f"apps/{app}/deploy/dev/deployment.yaml", DEPLOYMENT.format(app=app))
        repo.write(f"apps/{app}/deploy/dev/kustomization.yaml", KUSTOMIZATION.format(app=app, n=n))
    # A decoy at the top level: the same relative path, another application.
    repo.write("deploy/dev/kustomization.yaml", KUSTOMIZATION.format(app="a", n=9))
    repo.write("deploy/dev/deployment.yaml", DEPLOYMENT.format(app="a"))
    repo.commit("feat: two applications")
    repo.push("main")
    return repo


def test_deploy_update_edits_the_overlay_under_its_own_root(tmp_path: Path, cli: Cli) -> None:
    repo = two_apps(tmp_path)
    root = repo.path / "apps" / "b"
    result = cli(
        "deploy.update", "--branch", "main", "--image-tag", "sha-12345678", "--push", cwd=root
    )
    assert result.code == 0, result.err
    changed = repo.origin_git("diff", "--name-only", "main~1", "main").splitlines()
    assert changed == ["apps/b/deploy/dev/kustomization.yaml"]
    assert "newTag: sha-12345678" in repo.origin_git(
        "show", "main:apps/b/deploy/dev/kustomization.yaml"
    )
    status = cli("status", "--json", cwd=root)
    assert status.code == 0, status.err
    assert json.loads(status.out)[0]["tag"] == "sha-12345678"
    other = cli("status", "--json", cwd=repo.path / "apps" / "a")
    assert json.loads(other.out)[0]["tag"] == "sha-00000001"
    history = cli("history", "--env", "dev", "--json", cwd=root)
    assert history.code == 0, history.err
    assert [r["tag"] for r in json.loads(history.out)] == ["sha-12345678", "sha-00000002"]

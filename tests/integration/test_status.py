"""`status` names the commit that deployed the running tag, however far back it is."""

from __future__ import annotations

import json

import pytest
from tests.conftest import Cli
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.integration

OVERLAY = "infra/argocd/overlays/dev/kustomization.yaml"


def test_deploying_commit_found_beyond_the_recent_window(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    text = (dex_repo.path / OVERLAY).read_text()
    dex_repo.write(OVERLAY, text.replace("sha-0a1b2c3d", "sha-1234abcd"))
    deployed = dex_repo.commit("chore: update dev image to sha-1234abcd")
    # 60 later edits of the overlay that leave the image alone (comments, say).
    for i in range(60):
        dex_repo.write(OVERLAY, dex_repo.path.joinpath(OVERLAY).read_text() + f"# note {i}\n")
        dex_repo.commit(f"docs: note {i}")
    dex_repo.push("dev")
    result = cli("status", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    dev = next(row for row in json.loads(result.out) if row["environment"] == "dev")
    assert dev["tag"] == "sha-1234abcd"
    assert dev["commit"] == deployed

"""A component's version is read one way: from the working tree, a commit or a batch alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from dexops.adapters.pyproject_file import read_version
from dexops.errors import ConfigError
from dexops.workflows.publish import version_at
from dexops.workflows.versions import _version_at
from dexops.workflows.workspace import Workspace
from tests.gitrepo import GitRepo, init_repo

ROOT_PYPROJECT = """
[tool.dexops.components.lib]
kind = "library"
path = "lib"
version-file = "lib/src/lib/__init__.py"

[tool.dexops.components.app]
kind = "library"
path = "app"
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = init_repo(tmp_path / "work", tmp_path / "origin.git")
    repo.write("pyproject.toml", ROOT_PYPROJECT)
    repo.write("lib/pyproject.toml", '[project]\nname = "lib"\ndynamic = ["version"]\n')
    repo.write("lib/src/lib/__init__.py", '__version__ = "2.1.0"\n')
    repo.write("app/pyproject.toml", '[project]\nname = "app"\nversion = "0.3.0rc1"\n')
    repo.commit("feat: two components")
    return repo


def _three_ways(ws: Workspace, name: str, commit: str) -> tuple[Version, Version, str | None]:
    component = ws.config.component(name)
    objects = ws.git.read_objects(
        [f"{commit}:{component.pyproject}", f"{commit}:{component.version_file}"]
    )
    return (
        read_version(ws.root, component),
        version_at(ws, component, commit),
        _version_at(component, commit, objects),
    )


def test_the_working_tree_a_commit_and_a_batch_agree(repo: GitRepo) -> None:
    ws = Workspace.open(str(repo.path))
    head = repo.head()
    assert _three_ways(ws, "lib", head) == (Version("2.1.0"), Version("2.1.0"), "2.1.0")
    assert _three_ways(ws, "app", head) == (Version("0.3.0rc1"), Version("0.3.0rc1"), "0.3.0rc1")


def test_a_missing_version_file_is_named_by_each_reader(repo: GitRepo) -> None:
    repo.git("rm", "--quiet", "lib/src/lib/__init__.py")
    commit = repo.commit("chore: lose the version")
    ws = Workspace.open(str(repo.path))
    lib = ws.config.component("lib")
    with pytest.raises(ConfigError, match=r"lib/src/lib/__init__\.py does not exist$"):
        read_version(ws.root, lib)
    with pytest.raises(ConfigError) as at_commit:
        version_at(ws, lib, commit)
    assert str(at_commit.value) == f"lib/src/lib/__init__.py at {commit[:12]} does not exist"
    assert _version_at(lib, commit, ws.git.read_objects([f"{commit}:lib/pyproject.toml"])) is None
    with pytest.raises(ConfigError, match=f"lib/pyproject.toml does not exist at {commit}"):
        _version_at(lib, commit, {}, required=True)

"""Configuration validation asks the repository's files through RepoFiles, never the disk."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

import pytest

from dexops.adapters.repo_files import LocalRepoFiles
from dexops.domain.config import config_problems, parse_config
from dexops.errors import ConfigError

CONFIG = """
[tool.dexops.components.web]
kind = "app"
path = "services/web"
watch = ["shared"]
image = "ghcr.io/o/web"

[tool.dexops.environments.dev]
overlay = "deploy/dev"
branch = "dev"
"""


class MemoryFiles:
    """A repository that exists only as a set of paths (directories end with '/')."""

    def __init__(self, *paths: str, outside: tuple[str, ...] = ()) -> None:
        self.paths = set(paths)
        self.outside = outside

    def is_dir(self, relative: str) -> bool:
        return f"{PurePosixPath(relative)}/" in self.paths

    def is_file(self, relative: str) -> bool:
        return str(PurePosixPath(relative)) in self.paths

    def exists(self, relative: str) -> bool:
        return self.is_dir(relative) or self.is_file(relative)

    def inside(self, relative: str) -> bool:
        return relative not in self.outside


ROOT = Path("/nowhere/on/this/disk")
GOOD = ("services/web/", "shared/", "deploy/dev/kustomization.yaml")


def parse(files: MemoryFiles) -> list[str]:
    data = tomllib.loads(CONFIG)
    return config_problems(data, root=ROOT, file=ROOT / "pyproject.toml", files=files)


def test_a_repository_of_paths_alone_is_enough() -> None:
    data = tomllib.loads(CONFIG)
    config = parse_config(data, root=ROOT, file=ROOT / "pyproject.toml", files=MemoryFiles(*GOOD))
    assert config.component("web").path == "services/web"
    assert config.environment("dev").component == "web"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (
            "services/web/",
            "tool.dexops.components.web.path 'services/web' does not exist in /nowhere",
        ),
        ("shared/", "tool.dexops.components.web.watch entry 'shared' does not exist in /nowhere"),
        (
            "deploy/dev/kustomization.yaml",
            "tool.dexops.environments.dev.overlay 'deploy/dev' has no kustomization.yaml in",
        ),
    ],
)
def test_each_missing_path_is_named(missing: str, message: str) -> None:
    problems = parse(MemoryFiles(*(p for p in GOOD if p != missing)))
    # (an app that fails leaves the environment without one: a second problem then)
    assert message in problems[0], problems


def test_a_path_that_leaves_the_repository_is_refused() -> None:
    problems = parse(MemoryFiles(*GOOD, outside=("shared",)))
    assert "tool.dexops.components.web.watch 'shared' leaves the repository" in problems[0]


def test_the_local_adapter_follows_links(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "services" / "web").mkdir(parents=True)
    (root / "services" / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere")
    files = LocalRepoFiles(root)
    assert files.is_dir("services")
    assert files.is_file("services/pyproject.toml")
    assert files.exists("services/pyproject.toml")
    assert not files.exists("absent")
    assert files.inside("services/../services")
    assert not files.inside("escape")
    assert not files.inside("../elsewhere")
    data = tomllib.loads(CONFIG.replace('watch = ["shared"]', 'watch = ["escape"]'))
    with pytest.raises(ConfigError, match="'escape' leaves the repository"):
        parse_config(data, root=root, file=root / "pyproject.toml", files=files)

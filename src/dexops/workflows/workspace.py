"""Finding the target repository and loading its configuration."""

from __future__ import annotations

import functools
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dexops.adapters.git import Git
from dexops.adapters.repo_files import LocalRepoFiles
from dexops.adapters.textfile import read_text
from dexops.domain.config import Config, parse_config
from dexops.errors import ConfigError

REPO_ENV = "DEXOPS_REPO"


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` whose pyproject.toml has `[tool.dexops]`."""
    for candidate in (start, *start.parents):
        pyproject = candidate / "pyproject.toml"
        # Only searching: a file we cannot decode is reported when it is loaded, not here.
        if pyproject.is_file() and "[tool.dexops" in pyproject.read_text(
            encoding="utf-8", errors="replace"
        ):
            return candidate
    raise ConfigError(f"no pyproject.toml with [tool.dexops] in {start} or any parent")


def load_config(root: Path) -> Config:
    """Read and validate `[tool.dexops]` from `root/pyproject.toml`."""
    file = root / "pyproject.toml"

    return _parse(root, file, read_text(file))


# Building the namespace and running a task open the workspace several times in one process;
# parsing is pure, so the same text at the same place gives the same configuration. Keyed by
# the text itself (not mtime and size, which an edit within one clock tick can leave equal).
@functools.lru_cache(maxsize=8)
def _parse(root: Path, file: Path, text: str) -> Config:
    """The configuration in `text` (the contents of `file`)."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # too deep: one line too
        found = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(
            f"{file} is not valid TOML: {exc}",
            file=str(file),
            line=int(found[1]) if found else None,
        ) from None

    return parse_config(data, root=root, file=file, files=LocalRepoFiles(root))


def repository_root(repo: str | None = None) -> Path:
    """The repository named by `repo` or `$DEXOPS_REPO`, else found from the cwd up."""
    named = repo or os.environ.get(REPO_ENV)
    if not named:
        return find_root(Path.cwd().resolve())
    root = Path(named).resolve()
    if not root.is_dir():
        raise ConfigError(f"repository {named!r} is not a directory")
    if not (root / "pyproject.toml").is_file():
        raise ConfigError(f"{root / 'pyproject.toml'} does not exist")
    return root


@dataclass(frozen=True, slots=True)
class Workspace:
    """The target repository: its root, validated configuration and git adapter."""

    root: Path
    config: Config
    git: Git

    @classmethod
    def open(cls, repo: str | None = None) -> Workspace:
        """Open the repository named by `repo`, `$DEXOPS_REPO`, or found from the cwd up."""
        root = repository_root(repo)
        return cls(root=root, config=load_config(root), git=Git(root))

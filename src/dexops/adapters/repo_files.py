"""The target repository's files on the local filesystem, as configuration validation asks."""

from __future__ import annotations

from pathlib import Path


class LocalRepoFiles:
    """`dexops.domain.config.RepoFiles` over a directory: paths are relative to `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def is_dir(self, relative: str) -> bool:
        """Whether `relative` is a directory."""
        return (self.root / relative).is_dir()

    def is_file(self, relative: str) -> bool:
        """Whether `relative` is a file."""
        return (self.root / relative).is_file()

    def exists(self, relative: str) -> bool:
        """Whether anything is at `relative`."""
        return (self.root / relative).exists()

    def inside(self, relative: str) -> bool:
        """Whether `relative`, with its links followed, stays below the root."""
        return (self.root / relative).resolve().is_relative_to(self.root.resolve())

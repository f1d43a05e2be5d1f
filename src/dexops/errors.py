"""The one exception hierarchy of dexops; the CLI edge turns it into `error: …` lines."""

from __future__ import annotations


class DexopsError(Exception):
    """An expected failure: bad input, a missing tool, a refused push, an HTTP error."""

    exit_code = 1

    def __str__(self) -> str:
        # Messages are shown as one line; collapse any newline a tool's stderr brought in.
        return " ".join(super().__str__().split())


class ConfigError(DexopsError):
    """The `[tool.dexops]` configuration or a project file is invalid."""


class VersionError(DexopsError):
    """A version string is not PEP 440, or a bump does not move forward."""


class GitError(DexopsError):
    """A git command failed or the repository is not in the state a task needs."""


class PushRejectedError(GitError):
    """The remote refused a push (non-fast-forward, protected branch, hook)."""

    def __init__(self, message: str, *, non_fast_forward: bool) -> None:
        super().__init__(message)
        self.non_fast_forward = non_fast_forward


class ForgeError(DexopsError):
    """The forge (GitHub REST API) answered with an error or could not be reached."""


class ToolMissingError(DexopsError):
    """An outside program dexops needs is not installed."""

    exit_code = 127


class ConflictError(DexopsError):
    """The desired state clashes with what exists (a tag on another commit, other bytes)."""


class PackageError(DexopsError):
    """A distribution failed to build or did not pass its checks."""


class PackageIndexError(DexopsError):
    """A package index could not be read or refused an upload."""

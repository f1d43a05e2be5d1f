"""The one exception hierarchy of dexops; the CLI edge turns it into `error: …` lines."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status a dexops task ends with; docs/exit-codes.md is this table."""

    OK = 0  # the task did what was asked (or found it already done)
    FAILURE = 1  # any other expected failure: bad input, configuration, git, an HTTP error
    USAGE = 2  # the command line is wrong: unknown task or flag, missing or mistyped value
    VULNERABLE = 3  # image.scan: findings at --fail-on or worse
    SCANNER_FAILED = 4  # image.scan: the scanner failed; the image is not known to be clean
    UNAUTHORIZED = 5  # a registry or Argo CD refused the credentials (401/403)
    UNREACHABLE = 6  # a registry or Argo CD could not be reached, timed out or kept failing 5xx
    NOT_FOUND = 7  # the image asked for is not in the registry
    GATE_REFUSED = 10  # a promotion gate refused (image missing, not promotable from there)
    ON_HOLD = 11  # the target environment is on hold
    WAIT_TIMED_OUT = 20  # argocd.wait: the deadline passed before the rollout was confirmed
    DEGRADED = 21  # argocd.wait: the application went Degraded on the pushed commit
    SYNC_FAILED = 22  # argocd.wait: Argo CD's sync operation ended Failed or Error
    SMOKE_FAILED = 23  # deploy.verify: the smoke check failed
    ROLLBACK_FAILED = 24  # deploy.verify: the check failed and so did the rollback it asked for
    TOOL_MISSING = 127  # an outside program dexops needs is not installed
    INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, what a shell reports
    TERMINATED = 143  # SIGTERM (e.g. a cancelled CI job): 128 + 15


class DexopsError(Exception):
    """An expected failure: bad input, a missing tool, a refused push, an HTTP error."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, *args: object, file: str | None = None, line: int | None = None) -> None:
        super().__init__(*args)
        # The file (and line) the error is about, for a `file=`/`line=` annotation under Actions.
        self.file = file
        self.line = line

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

    exit_code = ExitCode.TOOL_MISSING


class ConflictError(DexopsError):
    """The desired state clashes with what exists (a tag on another commit, other bytes)."""


class ReleaseRefusedError(ConflictError):
    """The release gate refuses: off the release branches, or not above the line's latest."""


class PackageError(DexopsError):
    """A distribution failed to build or did not pass its checks."""


class PackageIndexError(DexopsError):
    """A package index could not be read or refused an upload."""


class CredentialHostError(DexopsError):
    """A credential was about to go to a host other than the one it was configured for."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the task was, so every Ctrl-C clean-up runs for it too."""


class WorkInterruptedError(DexopsError):
    """Ctrl-C or SIGTERM stopped a change; the message says what was and was not done."""

    def __init__(self, message: str, *, signal: KeyboardInterrupt) -> None:
        terminated = isinstance(signal, Terminated)
        how = "terminated by SIGTERM" if terminated else "interrupted"
        super().__init__(f"{how}: {message}")
        self.exit_code = ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED

"""What `doctor` found: rows of ok / warn / fail, and the verdicts that need no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]
_RANK: dict[Status, int] = {"ok": 0, "warn": 1, "fail": 2}

# git features dexops relies on: `--end-of-options` (2.24), `ls-remote --symref` (2.8).
MIN_GIT = (2, 24)


@dataclass(frozen=True, slots=True)
class Finding:
    """One row of the check-up: what was looked at, its status, and why."""

    area: str
    subject: str
    status: Status
    detail: str

    def as_json(self) -> dict[str, str]:
        """The row as a JSON object."""
        return asdict(self)


def worst(findings: Sequence[Finding]) -> Status:
    """The most serious status among the rows (ok when there are none)."""
    return max((f.status for f in findings), key=_RANK.__getitem__, default="ok")


def git_version_verdict(version_line: str) -> tuple[Status, str]:
    """Whether `git --version`'s line names a git new enough for dexops."""
    words = version_line.split()
    numbers = words[2].split(".") if len(words) >= 3 else []
    try:
        found = (int(numbers[0]), int(numbers[1]))
    except (IndexError, ValueError):
        return "warn", f"cannot read a version from {version_line!r}"
    wanted = ".".join(map(str, MIN_GIT))
    if found < MIN_GIT:
        return "fail", f"{version_line}; dexops needs git {wanted} or newer"
    return "ok", version_line


def classic_scopes_verdict(scopes: frozenset[str], *, private: bool) -> tuple[Status, str]:
    """Whether a classic token's OAuth scopes allow releases and pull requests."""
    shown = ", ".join(sorted(scopes)) or "none"
    if "repo" in scopes or (not private and "public_repo" in scopes):
        return "ok", f"classic token, scopes: {shown}; can create releases and pull requests"
    needed = "repo" if private else "repo or public_repo"
    return "fail", f"classic token, scopes: {shown}; releases and pull requests need {needed}"


def permissions_verdict(permissions: Mapping[str, object]) -> tuple[Status, str]:
    """Whether a fine-grained or Actions token's repository permissions allow writing."""
    granted = ", ".join(sorted(k for k, v in permissions.items() if v is True)) or "none"
    if permissions.get("push") is True:
        return "ok", f"fine-grained token, repository access: {granted}; can push and release"
    return "fail", (
        f"fine-grained token, repository access: {granted}; releases and pull requests need "
        "write access (contents: write, pull-requests: write)"
    )

"""Whether a version may be released from where it stands: one rule for every task.

`release`, `publish` and `pipeline.plan` all ask `release_refusal`: releases come from the
configured release branches, and a version must be above the latest release in the
history it is made on (a maintenance line's own latest, not the highest tag anywhere).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from packaging.version import Version

from dexops.domain.versioning import ComponentTag


def is_release_branch(patterns: Sequence[str], branch: str) -> bool:
    """Whether `branch` matches one of the `release-branches` globs (`release/*`)."""
    return any(fnmatchcase(branch, pattern) for pattern in patterns)


def release_refusal(
    component: str,
    version: Version,
    *,
    branches: Iterable[str],
    patterns: Sequence[str],
    latest: ComponentTag | None,
) -> str | None:
    """Why `component` `version` may not be released, or None when it may.

    `branches`: the branches the release is made from (the checked-out one, or for a tag
    every branch holding its commit); `latest`: the highest release reachable from it.
    """
    names = list(branches)
    if not any(is_release_branch(patterns, name) for name in names):
        where = ", ".join(names) if names else "no branch"
        return (
            f"{component} {version} is not on a release branch ({where}); releases are made "
            f"from {', '.join(patterns)} (tool.dexops.release-branches)"
        )
    if latest is not None and version <= latest.version:
        return (
            f"{component} {version} is not above {latest.name}, the latest release in the "
            "history it is made on; bump the version"
        )
    return None

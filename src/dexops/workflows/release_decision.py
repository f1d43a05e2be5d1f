"""Whether a component's version is released at a commit, decided from the tags alone.

`release.all` and `pipeline.plan` both decide here, before anything is planned in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from packaging.version import Version

from dexops.adapters.pyproject_file import read_version
from dexops.domain.versioning import ComponentTag, tag_of_version

if TYPE_CHECKING:
    from dexops.workflows.workspace import Workspace


def existing_tag(
    prefix: str, version: Version, local_tags: Mapping[str, str], remote_tags: Mapping[str, str]
) -> str:
    """The tag of `version`: one that exists, however it is spelled (`v01.0`), else the new one."""
    found = tag_of_version(prefix, version, [*remote_tags, *local_tags])
    return found or ComponentTag.for_version(prefix, version).name


@dataclass(frozen=True, slots=True)
class ReleaseDecision:
    """Whether a component's version is released by a run at `commit`, and why."""

    component: str
    version: Version
    tag: str
    action: Literal["release", "released", "unchanged"]
    existing: str | None  # the commit the tag stands on, origin's first

    @property
    def reason(self) -> str:
        """The decision in words."""
        if self.action == "released":
            return f"{self.tag} is at HEAD"
        if self.action == "unchanged":
            return f"{self.tag} was released at {(self.existing or '')[:12]}; nothing to release"
        return f"{self.tag} does not exist yet"


def release_decision(
    ws: Workspace,
    name: str,
    commit: str,
    local_tags: Mapping[str, str],
    remote_tags: Mapping[str, str],
) -> ReleaseDecision:
    """What `release.all` does with one component at `commit` (`pipeline.plan` asks this)."""
    component = ws.config.component(name)
    version = read_version(ws.root, component)
    tag = existing_tag(component.tag_prefix, version, local_tags, remote_tags)
    existing = remote_tags.get(tag) or local_tags.get(tag)
    if existing is None:
        action: Literal["release", "released", "unchanged"] = "release"
    else:
        action = "released" if existing == commit else "unchanged"
    return ReleaseDecision(name, version, tag, action, existing)

"""Version workflows: what each component's version is, which changed, and bumps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dexops import github_actions
from dexops.adapters.pyproject_file import MissingVersionFileError, read_version, version_literal
from dexops.domain.config import Component
from dexops.domain.versioning import (
    ComponentTag,
    parse_version,
)
from dexops.errors import ConfigError, GitError
from dexops.workflows.reachable import latest_reachable
from dexops.workflows.workspace import Workspace


@dataclass(frozen=True, slots=True)
class ComponentVersion:
    """One row of `version.show`."""

    component: str
    kind: str
    version: str
    latest_tag: str | None
    tag_at_head: bool
    commits_since_tag: int | None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping with kebab-free keys."""
        return {
            "component": self.component,
            "kind": self.kind,
            "version": self.version,
            "latest_tag": self.latest_tag,
            "tag_at_head": self.tag_at_head,
            "commits_since_tag": self.commits_since_tag,
        }


def previous_release(
    ws: Workspace, component: Component, head: str, tags: Mapping[str, str] | None = None
) -> ComponentTag | None:
    """The highest PEP 440 tag of the component reachable from `head`, on another commit.

    `tags`: the local tags mapped to their commits, when already read.
    """
    if tags is None:
        tags = ws.git.tags_with_commits(f"{component.tag_prefix}*")
    prefix = component.tag_prefix
    return latest_reachable(ws.git, head, [prefix], tags, before=True)[prefix]


def version_status(ws: Workspace) -> list[ComponentVersion]:
    """Versions, latest tags and unreleased commit counts of every component."""
    head, all_tags = ws.git.head_and_tags()
    components = list(ws.config.components.values())
    prefixes = [c.tag_prefix for c in components]

    def count(component: Component, tag: ComponentTag) -> list[str]:
        return ["rev-list", "--count", f"{all_tags[tag.name]}..{head}", "--", *component.paths]

    # Only the tags in HEAD's history count: a later tag on another branch is not the
    # release this checkout descends from.
    found = latest_reachable(ws.git, head, prefixes, all_tags)
    latest = {c.name: tag for c in components if (tag := found[c.tag_prefix]) is not None}
    counts = {c.name: ws.git.run(*count(c, latest[c.name])) for c in components if c.name in latest}
    rows = []
    for component in components:
        tag = latest.get(component.name)
        rows.append(
            ComponentVersion(
                component=component.name,
                kind=component.kind,
                version=str(read_version(ws.root, component)),
                latest_tag=tag.name if tag else None,
                tag_at_head=tag is not None and all_tags[tag.name] == head,
                commits_since_tag=int(counts[component.name]) if tag else None,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class VersionChange:
    """A component's version at the base and at HEAD."""

    component: str
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        """Whether the version moved between base and HEAD."""
        return self.before != self.after

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "component": self.component,
            "before": self.before,
            "after": self.after,
            "changed": self.changed,
        }


def _version_at(
    component: Component, rev: str, objects: Mapping[str, bytes], *, required: bool = False
) -> str | None:
    """The version a component's files hold at `rev`, from objects read in one batch."""

    def read(path: str) -> str | None:
        data = objects.get(f"{rev}:{path}")
        return None if data is None else data.decode("utf-8", "replace")

    try:
        return version_literal(component, read, label=lambda path: f"{rev}:{path}")
    except MissingVersionFileError as missing:
        if required and missing.path == component.pyproject:
            raise ConfigError(f"{component.pyproject} does not exist at {rev}") from None
        return None


def version_changes(ws: Workspace, base: str | None) -> tuple[str | None, list[VersionChange]]:
    """The base compared against, and each component's version there and at HEAD.

    Without `base`: the event's base under GitHub Actions, else HEAD's first parent, and no
    base at all on the root commit (every component is new then). Versions come from git
    objects, not the disk, all from one `git cat-file --batch`.
    """
    if base is not None:
        if base.startswith("-"):
            raise GitError(f"revision {base!r} may not start with '-'")
        candidates = [base]
    else:
        event = github_actions.event_base()
        candidates = [*([event] if event else []), "HEAD~1"]
    components = list(ws.config.components.values())
    files = [f for c in components for f in (c.pyproject, c.version_file) if f]
    revs = list(dict.fromkeys([*candidates, "HEAD"]))
    try:
        objects = ws.git.read_objects(
            [f"{rev}{part}" for rev in revs for part in ("^{commit}", *(f":{f}" for f in files))]
        )
    except GitError:
        ws.git.head()  # says precisely why: not a repository, or no commits
        raise
    if "HEAD^{commit}" not in objects:
        ws.git.head()
    chosen = next((rev for rev in candidates if f"{rev}^{{commit}}" in objects), None)
    if base is not None and chosen is None:
        raise GitError(f"{base!r} does not name a commit in {ws.root}")
    changes = []
    for component in components:
        after = _version_at(component, "HEAD", objects, required=True)
        if after is None:
            raise ConfigError(f"{component.version_file} does not exist at HEAD")
        parse_version(after)
        before = None if chosen is None else _version_at(component, chosen, objects)
        changes.append(VersionChange(component.name, before, after))
    return chosen, changes

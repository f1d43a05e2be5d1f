"""Version workflows: what each component's version is, which changed, and bumps."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from packaging.version import Version

from dexops.config import Component
from dexops.errors import ConfigError, VersionError
from dexops.pyproject_file import read_version, render_version, version_text_from_pyproject
from dexops.versioning import (
    BumpPart,
    ComponentTag,
    bump_version,
    component_tags,
    parse_version,
    require_greater,
)
from dexops.workspace import Workspace


@dataclass(frozen=True)
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


def previous_release(ws: Workspace, component: Component, head: str) -> ComponentTag | None:
    """The highest PEP 440 tag of the component that is an ancestor of `head` (excluded)."""
    tags = ws.git.tags_with_commits(f"{component.tag_prefix}*")
    for tag in reversed(component_tags(component.tag_prefix, tags)):
        commit = tags[tag.name]
        if commit != head and ws.git.is_ancestor(commit, head):
            return tag
    return None


def version_status(ws: Workspace) -> list[ComponentVersion]:
    """Versions, latest tags and unreleased commit counts of every component."""
    head = ws.git.head()
    all_tags = ws.git.tags_with_commits()
    rows = []
    for component in ws.config.components.values():
        version = read_version(ws.root, component)
        tags = component_tags(component.tag_prefix, all_tags)
        latest = tags[-1] if tags else None
        commits: int | None = None
        at_head = False
        if latest is not None:
            commit = all_tags[latest.name]
            at_head = commit == head
            counted = ws.git.run("rev-list", "--count", f"{commit}..{head}", "--", *component.paths)
            commits = int(counted)
        rows.append(
            ComponentVersion(
                component=component.name,
                kind=component.kind,
                version=str(version),
                latest_tag=latest.name if latest else None,
                tag_at_head=at_head,
                commits_since_tag=commits,
            )
        )
    return rows


@dataclass(frozen=True)
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
    ws: Workspace, component: Component, rev: str, blobs: dict[str, bytes] | None = None
) -> str | None:
    # `blobs`: files already read in one batch (`<rev>:<path>` -> bytes), absent when missing.
    if blobs is None:
        text = ws.git.show_file(rev, component.pyproject)
    else:
        data = blobs.get(f"{rev}:{component.pyproject}")
        text = None if data is None else data.decode("utf-8", "replace")
    if text is None:
        return None
    literal = version_text_from_pyproject(
        text, file=f"{rev}:{component.pyproject}", version_file=component.version_file
    )
    if literal is None and component.version_file is not None:
        from dexops.pyproject_file import version_from_module_text

        module = ws.git.show_file(rev, component.version_file)
        if module is None:
            return None
        literal = version_from_module_text(module, file=f"{rev}:{component.version_file}")
    return literal


def version_changes(ws: Workspace, base: str) -> list[VersionChange]:
    """Each component's version at `base` and at HEAD (read from git objects, not the disk)."""
    base_commit = ws.git.require_commit(base)
    head = ws.git.head()
    components = list(ws.config.components.values())
    # Every pyproject at both commits from one `git cat-file --batch`, not a `git show` each.
    blobs = ws.git.read_objects(
        [f"{rev}:{c.pyproject}" for c in components for rev in (head, base_commit)]
    )
    changes = []
    for component in components:
        after = _version_at(ws, component, head, blobs)
        if after is None:
            raise ConfigError(f"{component.pyproject} does not exist at HEAD")
        parse_version(after)
        changes.append(
            VersionChange(component.name, _version_at(ws, component, base_commit, blobs), after)
        )
    return changes


def default_base(ws: Workspace) -> str | None:
    """The event's base under GitHub Actions, else the first parent of HEAD (None at the root)."""
    from dexops import actions

    base = actions.event_base()
    if base is not None and ws.git.resolve(base) is not None:
        return base
    return ws.git.resolve("HEAD~1")


@dataclass(frozen=True)
class BumpPlan:
    """A version bump: which file, from what, to what, and the edit as a diff."""

    component: str
    current: Version
    new: Version
    file: str
    new_text: str
    diff: str


def plan_bump(
    ws: Workspace, name: str, *, part: BumpPart | None = None, to: str | None = None
) -> BumpPlan:
    """Compute a bump without writing anything."""
    component = ws.config.component(name)
    if (part is None) == (to is None):
        raise VersionError("give exactly one of --part or --to")
    current = read_version(ws.root, component)
    new = parse_version(to) if to is not None else bump_version(current, part)  # type: ignore[arg-type]
    require_greater(current, new)
    location, new_text = render_version(ws.root, component, new)
    old_text = location.read_text(encoding="utf-8")
    relative = location.relative_to(ws.root).as_posix()
    diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            f"a/{relative}",
            f"b/{relative}",
        )
    )
    return BumpPlan(name, current, new, relative, new_text, diff)


def apply_bump(ws: Workspace, plan: BumpPlan) -> None:
    """Write the bumped file (the only change a bump makes)."""
    (ws.root / plan.file).write_text(plan.new_text, encoding="utf-8")


def commit_bump(ws: Workspace, plan: BumpPlan) -> str:
    """Write and commit the bump alone; on failure the file is restored. Returns the commit."""
    ws.git.current_branch()
    if plan.file in ws.git.dirty_paths():
        raise VersionError(f"{plan.file} has uncommitted changes; commit or stash them first")
    path = ws.root / plan.file
    original = path.read_bytes()
    apply_bump(ws, plan)
    try:
        message = f"chore: bump {plan.component} to {plan.new}"
        from dexops.gitcli import signing_args

        sign = signing_args(sign=ws.config.sign)
        ws.git.run("commit", "--quiet", *sign, "-m", message, "--", plan.file)
    except BaseException:  # Ctrl-C included: the file must not stay bumped without a commit
        path.write_bytes(original)
        raise
    return ws.git.head()

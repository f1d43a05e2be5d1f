"""Version workflows: what each component's version is, which changed, and bumps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from packaging.version import Version

from dexops.adapters.gitstream import run_concurrently
from dexops.adapters.pyproject_file import read_version, render_version, version_text_from_pyproject
from dexops.domain.config import Component
from dexops.domain.versioning import (
    BumpPart,
    ComponentTag,
    bump_version,
    component_tags,
    parse_version,
    require_greater,
)
from dexops.errors import ConfigError, GitError, VersionError
from dexops.workflows.workspace import Workspace


class ComponentVersion(NamedTuple):
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
    """The highest PEP 440 tag of the component that is an ancestor of `head` (excluded).

    `tags`: the component's tags mapped to their commits, when already read.
    """
    if tags is None:
        tags = ws.git.tags_with_commits(f"{component.tag_prefix}*")
    return first_ancestor(ws, release_candidates(component, head, tags), tags, head)


def release_candidates(
    component: Component, head: str, tags: Mapping[str, str]
) -> list[ComponentTag]:
    """The component's tags on commits other than `head`, highest PEP 440 version first."""
    found = reversed(component_tags(component.tag_prefix, tags))
    return [tag for tag in found if tags[tag.name] != head]


def first_ancestor(
    ws: Workspace, candidates: Sequence[ComponentTag], tags: Mapping[str, str], head: str
) -> ComponentTag | None:
    """The first of `candidates` whose commit `head` descends from (a git process each)."""
    return next((tag for tag in candidates if ws.git.is_ancestor(tags[tag.name], head)), None)


def version_status(ws: Workspace) -> list[ComponentVersion]:
    """Versions, latest tags and unreleased commit counts of every component."""
    head, all_tags = ws.git.head_and_tags()
    components = list(ws.config.components.values())
    latest: dict[str, ComponentTag] = {}
    for component in components:
        tags = component_tags(component.tag_prefix, all_tags)
        if tags:
            latest[component.name] = tags[-1]
    # The counts are independent walks of the history: run side by side.
    counts = run_concurrently(
        ws.git,
        [
            ["rev-list", "--count", f"{all_tags[tag.name]}..{head}", "--", *component.paths]
            for component in components
            if (tag := latest.get(component.name)) is not None
        ],
    )
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
                commits_since_tag=int(counts.pop(0)) if tag else None,
            )
        )
    return rows


class VersionChange(NamedTuple):
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
    data = objects.get(f"{rev}:{component.pyproject}")
    if data is None:
        if required:
            raise ConfigError(f"{component.pyproject} does not exist at {rev}")
        return None
    literal = version_text_from_pyproject(
        data.decode("utf-8", "replace"),
        file=f"{rev}:{component.pyproject}",
        version_file=component.version_file,
    )
    if literal is None and component.version_file is not None:
        from dexops.adapters.pyproject_file import version_from_module_text

        module = objects.get(f"{rev}:{component.version_file}")
        if module is None:
            return None
        literal = version_from_module_text(
            module.decode("utf-8", "replace"), file=f"{rev}:{component.version_file}"
        )
    return literal


def version_changes(ws: Workspace, base: str | None) -> tuple[str | None, list[VersionChange]]:
    """The base compared against, and each component's version there and at HEAD.

    Without `base`: the event's base under GitHub Actions, else HEAD's first parent, and no
    base at all on the root commit (every component is new then). Versions come from git
    objects, not the disk, all from one `git cat-file --batch`.
    """
    from dexops import github_actions

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


def default_base(ws: Workspace) -> str | None:
    """The event's base under GitHub Actions, else the first parent of HEAD (None at the root)."""
    from dexops import github_actions

    base = github_actions.event_base()
    if base is not None and ws.git.resolve(base) is not None:
        return base
    return ws.git.resolve("HEAD~1")


class BumpPlan(NamedTuple):
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
    import difflib

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
        from dexops.adapters.git import signing_args

        sign = signing_args(sign=ws.config.sign)
        ws.git.run("commit", "--quiet", *sign, "-m", message, "--", plan.file)
    except BaseException:  # Ctrl-C included: the file must not stay bumped without a commit
        path.write_bytes(original)
        raise
    return ws.git.head()

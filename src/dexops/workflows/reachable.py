"""The latest release in a commit's history: the highest tag `git tag --merged` would list.

Listing every tag reachable from HEAD walks the whole history (a quarter of a second on
20,000 commits). The answer needs less: each component's highest tag is nearly always in
the history, and `for-each-ref --merged` asked about those few tags stops as soon as it has
met them all. Only a component whose highest tag lies elsewhere (a maintenance line, a
squash-merged branch) has the rest of its tags asked about, in one more walk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dexops.adapters.git import parse_tag_refs, tag_refs_command
from dexops.domain.versioning import ComponentTag, component_tags
from dexops.errors import GitError

if TYPE_CHECKING:
    from dexops.adapters.git import Git


def _merged(git: Git, commit: str, tags: Sequence[ComponentTag]) -> set[str]:
    """Which of `tags` are reachable from `commit` (one git process)."""
    names = [tag.name for tag in tags]
    # A pattern `refs/tags/v1` also matches `refs/tags/v1/x`: keep the names asked for.
    return set(parse_tag_refs(git.run(*tag_refs_command(*names, merged=commit)))) & set(names)


def latest_reachable(
    git: Git,
    commit: str,
    prefixes: Sequence[str],
    tags: Mapping[str, str],
    *,
    before: bool = False,
) -> dict[str, ComponentTag | None]:
    """Each prefix's highest PEP 440 tag reachable from `commit`, from `tags` (names: commits).

    `before`: leave out the tags on `commit` itself (the release being made is not its own
    previous release). At most two git processes, however many tags and prefixes.
    """
    if commit.startswith("-"):
        raise GitError(f"revision {commit!r} may not start with '-'")
    candidates = {
        prefix: [
            tag
            for tag in reversed(component_tags(prefix, tags))
            if not (before and tags[tag.name] == commit)
        ]
        for prefix in prefixes
    }
    result: dict[str, ComponentTag | None] = dict.fromkeys(prefixes)
    # A tag on the commit itself needs no walk.
    tops = {p: found[0] for p, found in candidates.items() if found}
    for prefix, top in list(tops.items()):
        if tags[top.name] == commit:
            result[prefix] = tops.pop(prefix)
    if not tops:
        return result
    reached = _merged(git, commit, list(tops.values()))
    rest = {p: candidates[p][1:] for p, top in tops.items() if top.name not in reached}
    for prefix, top in tops.items():
        if top.name in reached:
            result[prefix] = top
    if any(rest.values()):
        reached = _merged(git, commit, [tag for found in rest.values() for tag in found])
        for prefix, found in rest.items():
            result[prefix] = next((tag for tag in found if tag.name in reached), None)
    return result

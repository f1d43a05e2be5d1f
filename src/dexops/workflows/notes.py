"""Release notes of a component: its CHANGELOG section, else its commits since the last tag."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from packaging.version import Version

from dexops.domain.config import Component
from dexops.domain.release_notes import Commit, changelog_section, notes_from_commits

if TYPE_CHECKING:
    from dexops.workflows.workspace import Workspace

# A release without a previous tag lists at most this many commits; older history is elided.
MAX_NOTE_COMMITS = 100


def changelog_path(component: Component) -> str:
    """Repository-relative path of the component's CHANGELOG."""
    if component.changelog is not None:
        return component.changelog
    return str(PurePosixPath(component.path) / "CHANGELOG.md")


def _commits(ws: Workspace, component: Component, base: str | None, head: str) -> list[Commit]:
    revs = f"{base}..{head}" if base else head
    out = ws.git.run(
        "log",
        f"--max-count={MAX_NOTE_COMMITS}",
        "--format=%H%x1f%s%x1f%b%x1e",
        revs,
        "--",
        *component.paths,
    )
    commits = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 3:
            commits.append(Commit(sha=fields[0], subject=fields[1], body=fields[2]))
    return commits


def release_notes(
    ws: Workspace,
    component: Component,
    version: Version,
    previous: tuple[str, str] | None,
    head: str,
) -> tuple[str, str]:
    """The notes and where they came from: the CHANGELOG section, else grouped commits.

    `previous` is the previous release's tag and commit, when there is one.
    """
    changelog = changelog_path(component)
    text = ws.git.show_file(head, changelog)
    if text is not None:
        section = changelog_section(text, version)
        if section is not None:
            return section, f"{changelog} section [{version}]"
    commits = _commits(ws, component, previous[1] if previous else None, head)
    since = f"since {previous[0]}" if previous else "in its history"
    if not commits:
        return f"No changes to {component.name} {since}.", f"no commits {since}"
    notes = notes_from_commits(commits)
    if len(commits) == MAX_NOTE_COMMITS:
        notes += f"\n\n(only the latest {MAX_NOTE_COMMITS} commits are listed)"
    return notes, f"{len(commits)} commit(s) {since}"

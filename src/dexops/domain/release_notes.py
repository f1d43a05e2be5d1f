"""Release notes: a Keep-a-Changelog section, or commits grouped by conventional type. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

# `## [1.2.0] - 2026-10-02`, `## [v1.2.0]`, `## 1.2.0`: the heading of one released version.
_SECTION = re.compile(r"^##\s+\[?v?(?P<version>[^\]\s]+)\]?(?:\s.*)?$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# `[1.2.0]: https://…` link definitions close a changelog; they are not part of a section.
_LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S+")
_CONVENTIONAL = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()]*)\))?(?P<bang>!)?:\s*(?P<description>\S.*)$"
)
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE:\s*", re.MULTILINE)

# Section titles in the order readers care about; unknown types fall under "Other changes".
GROUPS: tuple[tuple[str, str], ...] = (
    ("feat", "Features"),
    ("fix", "Bug fixes"),
    ("perf", "Performance"),
    ("revert", "Reverts"),
    ("refactor", "Refactoring"),
    ("docs", "Documentation"),
    ("build", "Build"),
    ("ci", "Continuous integration"),
    ("test", "Tests"),
    ("style", "Style"),
    ("chore", "Chores"),
)
BREAKING_TITLE = "Breaking changes"
OTHER_TITLE = "Other changes"


def _same_version(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False


def changelog_section(text: str, version: str | Version) -> str | None:
    """The body of the `## [version]` section of a Keep-a-Changelog file; None if absent/empty.

    Versions compare by PEP 440 (`## [1.0]` is the section of 1.0.0); headings inside fenced
    code blocks are ignored; the section ends at the next `## ` heading or link definitions.
    """
    wanted = version if isinstance(version, Version) else Version(version)
    collected: list[str] | None = None
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _SECTION.match(line)
        if collected is None:
            if heading and _same_version(heading.group("version"), wanted):
                collected = []
            continue
        if heading or (not fenced and _LINK_DEFINITION.match(line)):
            break
        collected.append(line)
    if collected is None:
        return None
    body = "\n".join(collected).strip("\n")
    return body if body.strip() else None


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit as release notes see it."""

    sha: str
    subject: str
    body: str = ""


@dataclass(frozen=True, slots=True)
class ConventionalCommit:
    """A commit subject read as `type(scope)!: description`; `type` is "" when it is not one."""

    type: str
    scope: str | None
    breaking: bool
    description: str


def parse_commit(subject: str, body: str = "") -> ConventionalCommit:
    """Read a commit subject (and body, for a `BREAKING CHANGE:` footer) conventionally."""
    subject = subject.strip()
    match = _CONVENTIONAL.match(subject)
    footer = _BREAKING_FOOTER.search(body) is not None
    if match is None:
        return ConventionalCommit("", None, footer, subject)
    return ConventionalCommit(
        type=match.group("type").lower(),
        scope=(match.group("scope") or "").strip() or None,
        breaking=bool(match.group("bang")) or footer,
        description=match.group("description").strip(),
    )


def _bullet(commit: Commit, parsed: ConventionalCommit) -> str:
    scope = f"**{parsed.scope}:** " if parsed.scope else ""
    return f"- {scope}{parsed.description} ({commit.sha[:7]})"


def group_commits(commits: Iterable[Commit]) -> dict[str, list[str]]:
    """Markdown bullets by section title, in `GROUPS` order, breaking changes first."""
    known = dict(GROUPS)
    sections: dict[str, list[str]] = {BREAKING_TITLE: []}
    sections.update({title: [] for _, title in GROUPS})
    sections[OTHER_TITLE] = []
    for commit in commits:
        parsed = parse_commit(commit.subject, commit.body)
        bullet = _bullet(commit, parsed)
        if parsed.breaking:
            sections[BREAKING_TITLE].append(bullet)
        sections[known.get(parsed.type, OTHER_TITLE)].append(bullet)
    return {title: bullets for title, bullets in sections.items() if bullets}


def notes_from_commits(commits: Sequence[Commit]) -> str:
    """Release notes from commits (newest first as given), one `###` section per type."""
    blocks = [
        f"### {title}\n\n" + "\n".join(bullets) for title, bullets in group_commits(commits).items()
    ]
    return "\n\n".join(blocks)

"""PEP 440 versions and component tags: parsing, ordering, bumps. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from packaging.version import InvalidVersion, Version

from dexops.errors import VersionError

BumpPart = Literal["major", "minor", "patch", "pre", "release"]
BUMP_PARTS: tuple[BumpPart, ...] = ("major", "minor", "patch", "pre", "release")


def parse_version(text: str) -> Version:
    """Parse a PEP 440 version, or raise `VersionError` naming the text."""
    try:
        return Version(text)
    except InvalidVersion:
        raise VersionError(f"{text!r} is not a valid PEP 440 version") from None


def is_stable(version: Version) -> bool:
    """Whether a version may go to a production index: no a/b/rc/dev or local segment."""
    # .post releases are stable in PEP 440; only pre, dev and local versions are not.
    return not (version.is_prerelease or version.is_devrelease or version.local is not None)


def _release3(version: Version) -> tuple[int, int, int]:
    major, minor, patch = ([*version.release, 0, 0])[:3]
    return major, minor, patch


def bump_version(current: Version, part: BumpPart) -> Version:  # noqa: PLR0911 - one case a part
    """Return the next version for `part`; `pre` steps a pre-release, `release` drops it."""
    major, minor, patch = _release3(current)
    unreleased = current.is_prerelease or current.is_devrelease
    if part == "major":
        # 2.0.0rc1 → major → 2.0.0: finishing the pending release is the bump.
        if unreleased and minor == 0 and patch == 0:
            return Version(f"{major}.0.0")
        return Version(f"{major + 1}.0.0")
    if part == "minor":
        if unreleased and patch == 0:
            return Version(f"{major}.{minor}.0")
        return Version(f"{major}.{minor + 1}.0")
    if part == "patch":
        if unreleased:
            return Version(f"{major}.{minor}.{patch}")
        return Version(f"{major}.{minor}.{patch + 1}")
    if part == "pre":
        if current.pre is not None:
            label, number = current.pre
            return Version(f"{major}.{minor}.{patch}{label}{number + 1}")
        if current.is_devrelease:
            return Version(f"{major}.{minor}.{patch}rc1")
        return Version(f"{major}.{minor}.{patch + 1}rc1")
    if part == "release":
        if not unreleased:
            raise VersionError(f"{current} is already a final release; nothing to release")
        return Version(f"{major}.{minor}.{patch}")
    raise VersionError(f"unknown bump part {part!r}; use one of {', '.join(BUMP_PARTS)}")


def require_greater(current: Version, new: Version) -> None:
    """Refuse a version that does not move forward."""
    if new <= current:
        raise VersionError(f"new version {new} is not greater than the current {current}")


@dataclass(frozen=True, slots=True)
class ComponentTag:
    """A git tag naming one release of one component: `<prefix><version>`.

    `name` is the tag as it stands in git: a tag written by hand (`v1.0RC1`, `v01.0`) keeps
    its spelling, although its version is the normalized one (`1.0rc1`, `1.0`).
    """

    prefix: str
    version: Version
    name: str

    @classmethod
    def for_version(cls, prefix: str, version: str | Version) -> ComponentTag:
        """Build the (normalized) tag of a version, validating the version."""
        parsed = version if isinstance(version, Version) else parse_version(version)
        return cls(prefix, parsed, f"{prefix}{parsed}")

    @classmethod
    def parse(cls, prefix: str, name: str) -> ComponentTag | None:
        """Read a tag name of this prefix; None when the name is not such a tag."""
        if not name.startswith(prefix):
            return None
        rest = name[len(prefix) :]
        # A prefix like "v" must not swallow another component's "v"-less tags.
        if not rest or not rest[0].isdigit():
            return None
        try:
            return cls(prefix, Version(rest), name)
        except InvalidVersion:
            return None


def component_tags(prefix: str, names: Iterable[str]) -> list[ComponentTag]:
    """The tags among `names` that belong to `prefix`, in ascending PEP 440 order."""
    found = [tag for name in names if (tag := ComponentTag.parse(prefix, name)) is not None]
    # Two spellings of one version (`v1.0`, `v1.0.0`) sort by name: the order is stable.
    return sorted(found, key=lambda tag: (tag.version, tag.name))


def latest_tag(prefix: str, names: Iterable[str]) -> ComponentTag | None:
    """The highest PEP 440 tag of `prefix` among `names` (not git's version sort)."""
    tags = component_tags(prefix, names)
    return tags[-1] if tags else None


def latest_release(
    prefix: str, tags: Mapping[str, str], *, excluding_commit: str | None = None
) -> ComponentTag | None:
    """The highest PEP 440 tag of `prefix` in `tags` (names mapped to commits).

    `tags` are the ones reachable from the commit asked about (`git tag --merged`): a tag
    elsewhere is never the latest release. `excluding_commit`: leave out the tags on it
    (the release being made or published is not its own previous release).
    """
    mine = (name for name, commit in tags.items() if commit != excluding_commit)
    return latest_tag(prefix, mine)


def tag_of_version(prefix: str, version: Version, names: Iterable[str]) -> str | None:
    """The existing tag among `names` that releases `version`, however it is spelled."""
    names = list(names)
    canonical = f"{prefix}{version}"
    if canonical in names:
        return canonical
    for name in names:
        tag = ComponentTag.parse(prefix, name)
        if tag is not None and tag.version == version:
            return name
    return None

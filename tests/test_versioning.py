from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from dexops.domain.versioning import (
    ComponentTag,
    bump_version,
    component_tags,
    is_stable,
    latest_tag,
    parse_version,
    require_greater,
)
from dexops.errors import VersionError

releases = st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)).map(
    lambda t: f"{t[0]}.{t[1]}.{t[2]}"
)
suffixes = st.sampled_from(["", "a1", "b2", "rc1", "rc2", ".post1", ".dev3", "rc1.dev1"])
versions = st.builds(lambda r, s: Version(r + s), releases, suffixes)


@pytest.mark.parametrize(
    ("text", "stable"),
    [
        ("1.0.0", True),
        ("1.0.0.post1", True),
        ("1.0.0rc1", False),
        ("1.0.0a1", False),
        ("1.0.0b3", False),
        ("1.0.0.dev2", False),
        ("1.0.0+local", False),
        ("0.5.0rc1", False),
    ],
)
def test_stability_follows_pep440(text: str, stable: bool) -> None:
    assert is_stable(Version(text)) is stable


def test_rc_sorts_before_final_unlike_git_version_sort() -> None:
    names = ["lib-v1.0.0", "lib-v1.0.0rc1", "lib-v0.9.0", "lib-v1.0.0.post1", "other-v9.0.0"]
    ordered = [t.name for t in component_tags("lib-v", names)]
    assert ordered == ["lib-v0.9.0", "lib-v1.0.0rc1", "lib-v1.0.0", "lib-v1.0.0.post1"]


@pytest.mark.parametrize(
    ("current", "part", "expected"),
    [
        ("0.4.10", "patch", "0.4.11"),
        ("0.4.10", "minor", "0.5.0"),
        ("0.4.10", "major", "1.0.0"),
        ("0.4.10", "pre", "0.4.11rc1"),
        ("0.5.0rc1", "pre", "0.5.0rc2"),
        ("0.5.0rc2", "release", "0.5.0"),
        ("0.5.0rc2", "patch", "0.5.0"),
        ("0.5.0rc2", "minor", "0.5.0"),
        ("1.0.0rc1", "major", "1.0.0"),
        ("1.2", "patch", "1.2.1"),
    ],
)
def test_bump(current: str, part: str, expected: str) -> None:
    assert bump_version(Version(current), part) == Version(expected)  # type: ignore[arg-type]


def test_release_of_final_version_is_refused() -> None:
    with pytest.raises(VersionError, match="already a final release"):
        bump_version(Version("1.0.0"), "release")


@given(versions, st.sampled_from(["major", "minor", "patch", "pre"]))
def test_bumps_always_move_forward(current: Version, part: str) -> None:
    assert bump_version(current, part) > current  # type: ignore[arg-type]


@given(versions)
def test_tag_round_trip(version: Version) -> None:
    tag = ComponentTag.for_version("dataenginex-v", version)
    assert ComponentTag.parse("dataenginex-v", tag.name) == tag


@given(st.lists(versions, min_size=1, max_size=20))
def test_latest_tag_is_pep440_max(found: list[Version]) -> None:
    names = [f"c-v{v}" for v in found]
    latest = latest_tag("c-v", names)
    assert latest is not None
    assert latest.version == max(found)


@pytest.mark.parametrize("name", ["c-vnext", "c-v", "c-x1.0", "d-v1.0.0", "c-v1.0.0/extra"])
def test_foreign_or_invalid_tags_are_ignored(name: str) -> None:
    assert ComponentTag.parse("c-v", name) is None


@pytest.mark.parametrize("text", ["", "one", "1.0.0-beta_x", "v1 .0", "1..0"])
def test_invalid_versions_name_the_text(text: str) -> None:
    with pytest.raises(VersionError, match="not a valid PEP 440 version"):
        parse_version(text)


def test_require_greater() -> None:
    with pytest.raises(VersionError, match="not greater"):
        require_greater(Version("1.0.0"), Version("1.0.0rc1"))

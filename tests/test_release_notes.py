from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from dexops.domain.release_notes import (
    BREAKING_TITLE,
    GROUPS,
    OTHER_TITLE,
    Commit,
    changelog_section,
    group_commits,
    notes_from_commits,
    parse_commit,
)

EXAMPLE_CHANGELOG = (
    Path(__file__).resolve().parent.parent
    / "examples/dex-monorepo/packages/dataenginex/CHANGELOG.md"
)

CHANGELOG = """# Changelog

## [Unreleased]

### Added

- something not yet released

## [1.2.0] - 2026-10-02

### Added

- `thing` does it.

```markdown
## [0.0.1] inside a fence is not a heading
```

### Fixed

- a bug.

## [1.1.0] - 2026-09-01

- older.

[1.2.0]: https://example.com/compare/v1.1.0...v1.2.0
[1.1.0]: https://example.com/releases/v1.1.0
"""


def test_section_of_the_example_changelog() -> None:
    text = EXAMPLE_CHANGELOG.read_text(encoding="utf-8")
    assert changelog_section(text, "0.4.10") == (
        "### Fixed\n\n- `batched` no longer drops the last partial batch."
    )
    assert changelog_section(text, "0.4.9") == (
        "### Added\n\n- `normalize_skills` folds case and surrounding spaces."
    )
    assert changelog_section(text, "0.5.0") is None


def test_section_stops_at_the_next_heading_and_skips_fences() -> None:
    body = changelog_section(CHANGELOG, "1.2.0")
    assert body is not None
    assert body.startswith("### Added")
    assert "## [0.0.1] inside a fence" in body
    assert body.endswith("- a bug.")
    assert "older" not in body


def test_last_section_stops_at_link_definitions() -> None:
    assert changelog_section(CHANGELOG, "1.1.0") == "- older."


def test_versions_compare_by_pep440() -> None:
    assert changelog_section("## [1.0] - x\n\nbody\n", "1.0.0") == "body"
    assert changelog_section("## v2.0.0rc1\n\nbody\n", Version("2.0.0-rc.1")) == "body"
    assert changelog_section("## [1.0.1]\n\nbody\n", "1.0.0") is None


def test_empty_section_is_absent() -> None:
    assert changelog_section("## [1.0.0]\n\n\n## [0.9.0]\n\n- x\n", "1.0.0") is None
    assert changelog_section("## [Unreleased]\n\n- x\n", "1.0.0") is None


@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    st.data(),
)
def test_every_section_is_found_exactly(
    versions: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    names = [".".join(map(str, v)) for v in versions]
    text = "# Changelog\n\n## [Unreleased]\n\n" + "".join(
        f"## [{name}] - 2026-01-01\n\n- change in {name}\n\n" for name in names
    )
    chosen = data.draw(st.sampled_from(names))
    assert changelog_section(text, chosen) == f"- change in {chosen}"


@given(st.text(max_size=200))
def test_any_text_never_crashes(text: str) -> None:
    result = changelog_section(text, "1.0.0")
    assert result is None or result.strip()


def test_parse_commit() -> None:
    assert parse_commit("feat(api): add endpoint") == parse_commit("feat(api):  add endpoint")
    parsed = parse_commit("feat(api)!: drop v1")
    assert (parsed.type, parsed.scope, parsed.breaking, parsed.description) == (
        "feat",
        "api",
        True,
        "drop v1",
    )
    assert parse_commit("Fix: capitalised").type == "fix"
    assert parse_commit("fix: x", "details\n\nBREAKING CHANGE: gone").breaking
    plain = parse_commit("Merge branch 'dev'")
    assert (plain.type, plain.description, plain.breaking) == ("", "Merge branch 'dev'", False)
    assert parse_commit("feat(): empty scope").scope is None


def test_notes_group_commits_in_a_fixed_order() -> None:
    commits = [
        Commit("a" * 40, "chore: bump dataenginex to 0.5.0"),
        Commit("b" * 40, "fix(io): handle empty batches"),
        Commit("c" * 40, "feat!: new storage API"),
        Commit("d" * 40, "update readme"),
        Commit("e" * 40, "feat: normalize skills"),
    ]
    assert notes_from_commits(commits) == (
        "### Breaking changes\n\n- new storage API (ccccccc)\n\n"
        "### Features\n\n- new storage API (ccccccc)\n- normalize skills (eeeeeee)\n\n"
        "### Bug fixes\n\n- **io:** handle empty batches (bbbbbbb)\n\n"
        "### Chores\n\n- bump dataenginex to 0.5.0 (aaaaaaa)\n\n"
        "### Other changes\n\n- update readme (ddddddd)"
    )
    assert notes_from_commits([]) == ""


_TYPES = [t for t, _ in GROUPS] + ["wip", "release"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_TYPES),
            st.booleans(),
            st.text(alphabet="abcdefgh xyz", min_size=1, max_size=20).filter(str.strip),
        ),
        max_size=20,
    )
)
def test_every_commit_lands_in_exactly_one_type_section(
    entries: list[tuple[str, bool, str]],
) -> None:
    commits = [
        Commit(f"{i:040x}", f"{kind}{'!' if bang else ''}: {text}")
        for i, (kind, bang, text) in enumerate(entries)
    ]
    groups = group_commits(commits)
    titles = dict(GROUPS)
    typed = [b for title, bullets in groups.items() if title != BREAKING_TITLE for b in bullets]
    assert len(typed) == len(commits)
    assert len(groups.get(BREAKING_TITLE, [])) == sum(bang for _, bang, _ in entries)
    for kind, _, _ in entries:
        assert titles.get(kind, OTHER_TITLE) in groups
    order = [BREAKING_TITLE, *titles.values(), OTHER_TITLE]
    assert list(groups) == [t for t in order if t in groups]

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexops.domain.kustomize import (
    ImageEntry,
    ImagesReader,
    KustomizationError,
    parse_images,
    read_image,
    set_image,
)
from dexops.errors import DexopsError
from tests.gitrepo import EXAMPLE

DEV = (EXAMPLE / "infra/argocd/overlays/dev/kustomization.yaml").read_text(encoding="utf-8")
IMAGE = "ghcr.io/thedataenginex/dex"
DIGEST = "sha256:" + "0123456789abcdef" * 4

COMMENTED = """\
# top comment: kept
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
# a comment between entries
- name: "redis"   # quoted name
  newTag: '7.2'
-   name: thedataenginex/dex
    newName: ghcr.io/thedataenginex/dex   # where CI pushes
    newTag: sha-0a1b2c3d    # the tag
    digest: sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
resources: [../../base]   # after images
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_reads_the_example_overlay() -> None:
    assert read_image(DEV, IMAGE) == ImageEntry(
        "thedataenginex/dex", "ghcr.io/thedataenginex/dex", "sha-0a1b2c3d", None
    )
    assert read_image(DEV, "thedataenginex/dex") == read_image(DEV, IMAGE)
    assert ImagesReader().read(DEV) == parse_images(DEV)


def test_only_the_tag_bytes_change() -> None:
    after = set_image(DEV, IMAGE, tag="sha-11112222")
    assert changed_lines(DEV, after) == [
        (
            "    newTag: sha-0a1b2c3d  # updated by dexops (deploy.update / promote / rollback)",
            "    newTag: sha-11112222  # updated by dexops (deploy.update / promote / rollback)",
        )
    ]
    assert set_image(after, IMAGE, tag="sha-0a1b2c3d") == DEV  # and back, byte for byte


def test_quoting_comments_and_odd_indentation_survive() -> None:
    after = set_image(COMMENTED, "redis", tag="7.4")
    assert changed_lines(COMMENTED, after) == [("  newTag: '7.2'", "  newTag: '7.4'")]
    pinned = set_image(COMMENTED, IMAGE, tag="sha-22223333", digest=DIGEST)
    assert changed_lines(COMMENTED, pinned) == [
        ("    newTag: sha-0a1b2c3d    # the tag", "    newTag: sha-22223333    # the tag"),
        (
            "    digest: sha256:" + "f" * 64,
            f"    digest: {DIGEST}",
        ),
    ]
    reader = ImagesReader()
    assert reader.read(COMMENTED) == parse_images(COMMENTED)
    assert reader.read(pinned) == parse_images(pinned)


def test_a_digest_is_added_and_removed_on_its_own_line() -> None:
    pinned = set_image(DEV, IMAGE, tag="sha-11112222", digest=DIGEST)
    assert pinned.endswith(f"    digest: {DIGEST}\n")
    assert read_image(pinned, IMAGE).reference == f"{IMAGE}:sha-11112222@{DIGEST}"
    unpinned = set_image(pinned, IMAGE, tag="sha-0a1b2c3d")
    assert unpinned == DEV


def test_number_like_tags_are_quoted_so_they_stay_strings() -> None:
    after = set_image(DEV, IMAGE, tag="1.10")
    assert '    newTag: "1.10"  # updated by dexops' in after
    assert read_image(after, IMAGE).new_tag == "1.10"


def test_entries_are_created_only_on_request() -> None:
    with pytest.raises(KustomizationError, match="no images: entry has name or newName 'x/y'"):
        set_image(DEV, "x/y", tag="v1")
    created = set_image(DEV, "x/y", tag="v1", create=True)
    assert created.startswith(DEV)
    assert created[len(DEV) :] == "  - name: x/y\n    newTag: v1\n"
    bare = set_image("kind: Kustomization\n", "x/y", tag="v1", create=True)
    assert bare == "kind: Kustomization\nimages:\n  - name: x/y\n    newTag: v1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images: [\n", "is not valid YAML"),
        ("- a\n- b\n", "is not a YAML mapping"),
        ("images: 3\n", "images: must be a list"),
        ("images:\n  - newTag: v1\n", "has no name"),
        (
            "images:\n  - name: a/b\n    newTag: v1\n  - name: c\n    newName: a/b\n",
            "2 images: entries match 'a/b'",
        ),
        ("images:\n  - name: other\n", "no images: entry has name or newName 'a/b'"),
    ],
)
def test_malformed_missing_and_ambiguous_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(KustomizationError, match=message):
        read_image(text, "a/b", "overlay.yaml")
    with pytest.raises(KustomizationError, match=message):
        set_image(text, "a/b", tag="v2", source="overlay.yaml")


@pytest.mark.parametrize("tag", ["0b_", "0x_", "0o_", "1.10", "2024"])
def test_tags_that_look_like_numbers_are_quoted(tag: str) -> None:
    # 0b_ is a valid image tag that YAML 1.1 cannot load plain (found by hypothesis).
    after = set_image(DEV, IMAGE, tag=tag)
    assert f'newTag: "{tag}"' in after
    assert read_image(after, IMAGE).new_tag == tag


@pytest.mark.parametrize("tag", ["", "-x", "a b", "x" * 129, "a:b", "sha-XYZ12345"])
def test_bad_tags_are_refused(tag: str) -> None:
    with pytest.raises(DexopsError, match="image tag"):
        set_image(DEV, IMAGE, tag=tag)


# --- properties -----------------------------------------------------------------------------

tags = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z").filter(
    lambda t: not t.startswith("sha-")
)
names = st.from_regex(r"\A[a-z][a-z0-9]{0,6}(/[a-z][a-z0-9]{0,6}){0,2}\Z")
comments = st.sampled_from(["", "  # note", " # updated by dexops", "   #x"])
quotes = st.sampled_from(["", "'", '"'])


@st.composite
def kustomizations(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Block-style kustomizations with comments, quoting and indentation styles varied."""
    entry_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    dash = draw(st.sampled_from(["", "  ", "    "]))
    gap = draw(st.sampled_from([" ", "   "]))
    lines = [draw(st.sampled_from(["", "# overlay\n"])) + "kind: Kustomization"]
    if draw(st.booleans()):
        lines.append("resources:\n  - ../../base")
    lines.append("images:" + draw(comments))
    pad = " " * (len(dash) + 1 + len(gap))
    for name in entry_names:
        q = draw(quotes)
        lines.append(f"{dash}-{gap}name: {q}{name}{q}{draw(comments)}")
        if draw(st.booleans()):
            lines.append(f"{pad}newName: registry.example/{name}")
        if draw(st.booleans()):
            lines.append(f"{pad}# between keys")
        if draw(st.booleans()):
            q = draw(quotes)
            lines.append(f"{pad}newTag: {q}{draw(tags)}{q}{draw(comments)}")
    if draw(st.booleans()):
        lines.append("namespace: dex-dev  # after")
    return "\n".join(lines) + "\n", entry_names


@settings(max_examples=150, deadline=None)
@given(kustomizations(), kustomizations())
def test_the_reader_agrees_with_the_yaml_parser_after_any_other_text(
    case: tuple[str, list[str]], other: tuple[str, list[str]]
) -> None:
    reader = ImagesReader()
    for text in (other[0], case[0], case[0]):
        assert reader.read(text) == parse_images(text)


# Values put in place of one image value of a parsed text: plain ones the reader may take
# without parsing, and text that changes the YAML around it, which it must parse.
REPLACEMENTS = [
    "sha-99998888", "1.10", "null", "a:b", "x.y/z@w", "a #b", "a: b", "a:", "'q'", '"q"',
    "[a]", "{a: b}", "*ref", "&anchor x", "|", "-", "- x", "@x", "%x", "!tag x", "a\n  b",
    "a\n- name: extra", "", " ", "#", "a\nkind: Other", "a b",
]  # fmt: skip


@pytest.mark.parametrize("replacement", REPLACEMENTS)
@pytest.mark.parametrize("text", [DEV, COMMENTED])
def test_a_changed_value_reads_as_the_yaml_parser_reads_it(text: str, replacement: str) -> None:
    reader = ImagesReader()
    reader.read(text)
    for old in ("sha-0a1b2c3d", "thedataenginex/dex", "redis"):
        if old not in text:
            continue
        changed = text.replace(old, replacement, 1)
        try:
            expected = parse_images(changed)
        except KustomizationError as exc:
            with pytest.raises(KustomizationError, match=re.escape(str(exc))):
                reader.read(changed)
        else:
            assert reader.read(changed) == expected, (old, replacement)


def test_revisions_that_change_only_plain_values_are_parsed_once() -> None:
    reader = ImagesReader()
    pinned = set_image(COMMENTED, IMAGE, tag="sha-00000000", digest=DIGEST)
    for n in range(200):
        tag = f"sha-{n:08x}"
        assert reader.read(pinned.replace("sha-00000000", tag)) == parse_images(
            set_image(COMMENTED, IMAGE, tag=tag, digest=DIGEST)
        )
    assert reader.parsed == 1
    # A new shape is parsed, once, and is the template from then on.
    moved = pinned.replace("kind: Kustomization", "kind: Kustomization\nnamespace: dev")
    reader.read(moved)
    reader.read(moved.replace("sha-00000000", "sha-12345678"))
    assert reader.parsed == 2
    # A quoted or commented-out value is a new shape too.
    reader.read(pinned.replace("sha-00000000", "'sha-00000000'"))
    assert reader.parsed == 3


@settings(max_examples=150, deadline=None)
@given(kustomizations(), st.data())
def test_set_image_changes_one_entry_and_nothing_else(
    case: tuple[str, list[str]], data: st.DataObject
) -> None:
    text, entry_names = case
    name = data.draw(st.sampled_from(entry_names))
    tag = data.draw(tags)
    digest = data.draw(st.sampled_from([None, DIGEST]))
    after = set_image(text, name, tag=tag, digest=digest)
    before_entries = parse_images(text)
    after_entries = parse_images(after)
    for old, new in zip(before_entries, after_entries, strict=True):
        if old.name == name:
            assert (new.new_tag, new.digest) == (tag, digest)
            assert (new.name, new.new_name) == (old.name, old.new_name)
        else:
            assert new == old
    # Every line of the original is still there, in order, except the entry's tag line.
    kept = [line for line in text.splitlines() if "newTag" not in line]
    remaining = iter(after.splitlines())
    assert all(any(line == other for other in remaining) for line in kept)
    reader = ImagesReader()
    assert reader.read(text) == before_entries
    assert reader.read(after) == after_entries


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("x: &t 1.0\nimages:\n- name: app\n  newTag: *t\n", "is given through a YAML alias"),
        ("images:\n- name: app\n  newTag: &t 1.0\nother: *t\n", "carries a YAML anchor"),
        ("images:\n- name: app\n  newTag: |\n    1.0\n", "is a YAML block scalar"),
        ("images:\n- name: app\n  newTag: >-\n    1.0\n", "is a YAML block scalar"),
        (
            f"d: &d {DIGEST}\nimages:\n- name: app\n  newTag: '1.0'\n  digest: *d\n",
            "digest of image 'app' is given through a YAML alias",
        ),
    ],
)
def test_a_value_yaml_shares_or_folds_is_refused_not_rewritten(text: str, why: str) -> None:
    # Splicing there would rewrite another key's value, drop an anchor others use, or cut
    # a block scalar's text: refused in one line instead.
    with pytest.raises(KustomizationError, match=why):
        set_image("kind: Kustomization\n" + text, "app", tag="2.0")


def test_an_aliased_value_that_already_matches_needs_no_edit() -> None:
    text = "kind: Kustomization\nx: &t '2.0'\nimages:\n- name: app\n  newTag: *t\n"
    assert set_image(text, "app", tag="2.0") == text

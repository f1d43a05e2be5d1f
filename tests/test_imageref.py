from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dexops.domain import imageref
from dexops.domain.imageref import ImageRef, ImageRefError, is_immutable_tag, validate_tag

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        (
            "ghcr.io/thedataenginex/dex:sha-0a1b2c3d",
            "ghcr.io",
            "thedataenginex/dex",
            "sha-0a1b2c3d",
            None,
        ),
        ("ghcr.io/thedataenginex/dex", "ghcr.io", "thedataenginex/dex", None, None),
        ("127.0.0.1:5000/dex:latest", "127.0.0.1:5000", "dex", "latest", None),
        ("localhost/team/app:v1.2.3", "localhost", "team/app", "v1.2.3", None),
        ("nginx", "docker.io", "library/nginx", None, None),
        ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None),
        (f"ghcr.io/org/app@{DIGEST}", "ghcr.io", "org/app", None, DIGEST),
        (f"ghcr.io/org/app:v1@{DIGEST}", "ghcr.io", "org/app", "v1", DIGEST),
        ("[::1]:5000/app:dev", "[::1]:5000", "app", "dev", None),
        (
            "registry.example.com:8443/a/b/c__d-e.f:tag_1",
            "registry.example.com:8443",
            "a/b/c__d-e.f",
            "tag_1",
            None,
        ),
    ],
)
def test_parse(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-rf/app",
        "ghcr.io/Org/app",  # uppercase repository
        "ghcr.io/org/app:",  # empty tag
        "ghcr.io/org/app:-latest",
        "ghcr.io/org/app:.hidden",
        "ghcr.io/org/app:sha-0A1B2C3D",
        "ghcr.io/org/app:sha-0a1b2c3",
        "ghcr.io/org/app:sha-0a1b2c3d4",
        "ghcr.io/org/app;rm -rf /",
        "ghcr.io/org/app:$(id)",
        "ghcr.io/org/app:`id`",
        "ghcr.io/org/app:a|b",
        "ghcr.io/org/app:a&b",
        "ghcr.io/org/app@sha256:abc",
        "ghcr.io/org/app@md5:" + "a" * 32,
        "https://ghcr.io/org/app",
        "ghcr.io/org//app",
        "ghcr.io/org/app_",
        " ghcr.io/org/app",
        "ghcr.io/org/app:tag\n",
        "ghcr.io/" + "a" * 260,
        "ghcr.io/org/app:" + "t" * 129,
        "bad_host!/app",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ImageRefError):
        ImageRef.parse(text)


def test_str_round_trips_and_helpers() -> None:
    ref = ImageRef.parse("ghcr.io/thedataenginex/dex:latest")
    assert str(ref) == "ghcr.io/thedataenginex/dex:latest"
    assert ref.name == "ghcr.io/thedataenginex/dex"
    assert ref.reference == "latest"
    assert str(ref.with_tag("sha-0a1b2c3d")) == "ghcr.io/thedataenginex/dex:sha-0a1b2c3d"
    pinned = ref.with_digest(DIGEST)
    assert pinned.reference == DIGEST
    assert str(pinned) == f"ghcr.io/thedataenginex/dex:latest@{DIGEST}"
    assert pinned.with_tag("v1").digest is None
    moved = ref.with_registry("127.0.0.1:5000")
    assert str(moved) == "127.0.0.1:5000/thedataenginex/dex:latest"
    assert moved.is_loopback
    assert not ref.is_loopback
    assert ImageRef.parse("localhost:5000/a").is_loopback
    assert ImageRef.parse("[::1]:5000/a").is_loopback
    assert ImageRef.parse("nginx").api_host == "registry-1.docker.io"
    assert ImageRef.parse("nginx").reference == "latest"
    with pytest.raises(ImageRefError):
        ref.with_tag("sha-xyz")
    with pytest.raises(ImageRefError):
        ref.with_registry("evil host")


def test_validate_tag_messages_name_the_tag() -> None:
    assert validate_tag("sha-0a1b2c3d") == "sha-0a1b2c3d"
    with pytest.raises(ImageRefError, match="'sha-12'"):
        validate_tag("sha-12")
    with pytest.raises(ImageRefError, match="'--help'"):
        validate_tag("--help")
    assert is_immutable_tag("sha-0a1b2c3d")
    assert not is_immutable_tag("latest")


TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SHELL_META = set(";&|$`<>()\\\"' \t\n*?![]{}~#")


@given(st.text(max_size=140))
def test_validate_tag_agrees_with_the_grammar(text: str) -> None:
    expected = bool(TAG_RE.match(text)) and (
        not text.startswith("sha-") or bool(re.fullmatch(r"sha-[0-9a-f]{8}", text))
    )
    try:
        validate_tag(text)
    except ImageRefError:
        assert not expected
    else:
        assert expected
        assert not (set(text) & SHELL_META)
        assert not text.startswith("-")


@given(
    st.from_regex(r"[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,2}", fullmatch=True),
    st.from_regex(TAG_RE, fullmatch=True),
)
def test_valid_references_round_trip(repository: str, tag: str) -> None:
    if tag.startswith("sha-") and not is_immutable_tag(tag):
        return
    ref = ImageRef.parse(f"ghcr.io/{repository}:{tag}")
    assert str(ref) == f"ghcr.io/{repository}:{tag}"
    assert ImageRef.parse(str(ref)) == ref


@given(st.text(min_size=1, max_size=40))
def test_no_reference_with_shell_metacharacters_is_accepted(text: str) -> None:
    candidate = f"ghcr.io/org/app:{text}"
    try:
        ref = ImageRef.parse(candidate)
    except ImageRefError:
        return
    assert not (set(str(ref)) & SHELL_META)


@given(st.from_regex(r"[0-9a-f]{8}", fullmatch=True))
def test_every_8_hex_sha_tag_is_valid(hexdigits: str) -> None:
    assert validate_tag(f"sha-{hexdigits}") == f"sha-{hexdigits}"


@pytest.mark.parametrize(
    ("tag", "commit"),
    [
        ("sha-a1b2c3d4", "a1b2c3d4"),  # what dexops makes
        ("sha-a1b2c3d", "a1b2c3d"),  # docker/metadata-action's 7 digits
        ("sha-" + "f" * 40, "f" * 40),
        ("sha-a1b2c3", None),
        ("sha-A1B2C3D4", None),
        ("v1.0.0", None),
        ("", None),
        (None, None),
    ],
)
def test_commit_prefix_reads_sha_tags_whoever_made_them(
    tag: str | None, commit: str | None
) -> None:
    assert imageref.commit_prefix(tag) == commit

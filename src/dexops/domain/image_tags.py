"""Which tags and OCI labels an image built from one commit on one branch gets. Pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from dexops.domain.imageref import IMMUTABLE_PREFIX, ImageRefError, validate_tag
from dexops.errors import ConfigError

_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
SHA_LENGTH = 8


@dataclass(frozen=True)
class TagRules:
    """The configurable part of tagging: default-branch tags and each branch's moving tag."""

    default_branch: str
    release_tags: tuple[str, ...] = ("latest", "v{version}")
    # branch -> moving tags (from each environment's `moving-tag`).
    moving_tags: Mapping[str, tuple[str, ...]] | None = None


def sha_tag(commit: str) -> str:
    """The immutable tag of a commit: `sha-` and its first 8 hex digits."""
    if not _COMMIT.match(commit):
        raise ImageRefError(f"{commit!r} is not a full commit hash (40 or 64 lowercase hex)")
    return f"{IMMUTABLE_PREFIX}{commit[:SHA_LENGTH]}"


def version_tag(template: str, version: str) -> str:
    """Expand `{version}` in a tag template; '+' (a PEP 440 local part) becomes '-'."""
    # '+' is not allowed in image tags; docker/metadata-action makes the same substitution.
    try:
        text = template.format(version=version.replace("+", "-"))
    except (KeyError, IndexError, ValueError):
        raise ConfigError(
            f"release tag template {template!r} may only use the {{version}} placeholder"
        ) from None
    return text


def _checked(tag: str, origin: str) -> str:
    try:
        validate_tag(tag)
    except ImageRefError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    if tag.startswith(IMMUTABLE_PREFIX):
        raise ConfigError(
            f"{origin}: tag {tag!r} may not start with 'sha-' (reserved for commit tags)"
        )
    return tag


def image_tags(
    *, commit: str, branch: str | None, version: str, rules: TagRules
) -> tuple[str, ...]:
    """Tags for an image of `commit` built on `branch` (None: detached, or a pull request).

    Always `sha-<8 hex>` first; on the default branch the release tags; on a branch an
    environment tracks, that environment's moving tag. Order is stable, duplicates dropped.
    """
    tags = [sha_tag(commit)]
    if branch is not None and branch == rules.default_branch:
        tags += [
            _checked(version_tag(t, version), f"release tag {t!r}") for t in rules.release_tags
        ]
    if branch is not None and rules.moving_tags:
        tags += [
            _checked(t, f"moving tag of branch {branch!r}")
            for t in rules.moving_tags.get(branch, ())
        ]
    return tuple(dict.fromkeys(tags))


def moving_tags_by_branch(pairs: Iterable[tuple[str, str | None]]) -> dict[str, tuple[str, ...]]:
    """Group (branch, moving tag) pairs of environments into branch -> tags."""
    grouped: dict[str, list[str]] = {}
    for branch, tag in pairs:
        if tag:
            grouped.setdefault(branch, [])
            if tag not in grouped[branch]:
                grouped[branch].append(tag)
    return {branch: tuple(tags) for branch, tags in grouped.items()}


OCI = "org.opencontainers.image"


def oci_labels(
    *, commit: str, source: str | None, version: str, created: str, title: str
) -> dict[str, str]:
    """The `org.opencontainers.image.*` labels of an image (source omitted when unknown)."""
    labels = {
        f"{OCI}.revision": commit,
        f"{OCI}.version": version,
        f"{OCI}.created": created,
        f"{OCI}.title": title,
    }
    if source:
        labels[f"{OCI}.source"] = source
    return dict(sorted(labels.items()))


_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


def source_url(remote: str) -> str | None:
    """A browsable https URL for a git remote URL; None for local paths. Credentials dropped."""
    text = remote.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host = parts.hostname
        path = parts.path
    else:
        match = _SCP_LIKE.match(text)
        if match is None:
            return None
        host, path = match["host"], "/" + match["path"]
    path = path.rstrip("/").removesuffix(".git")
    if not path.strip("/"):
        return None
    return f"https://{host}{path}"

"""Image references (registry, repository, tag, digest): parsing and validation. Pure, no I/O.

The grammar is the one of the distribution project (`distribution/reference`), narrowed
where dexops is stricter: an immutable `sha-` tag must be exactly 8 lowercase hex digits,
and only sha256/sha512 digests are accepted.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from dexops.errors import DexopsError

DOCKER_HUB = "docker.io"
# Docker Hub's API does not answer on its canonical name.
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"
IMMUTABLE_PREFIX = "sha-"

TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_TAG = re.compile(rf"^{TAG_PATTERN}$")
# The immutable tag dexops makes: exactly 8 hex digits of the commit.
_SHA_TAG = re.compile(r"^sha-[0-9a-f]{8}$")
# Tags other tools make still name a commit (docker/metadata-action writes 7 hex digits).
_COMMIT_TAG = re.compile(r"^sha-(?P<commit>[0-9a-f]{7,40})$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?$"
)
_DIGESTS = {"sha256": 64, "sha512": 128}
MAX_NAME_LENGTH = 255


class ImageRefError(DexopsError):
    """An image reference, tag or digest is malformed."""


def validate_tag(tag: str) -> str:
    """Return `tag` when it is a valid image tag; `sha-` tags must be 8 lowercase hex digits."""
    if not isinstance(tag, str) or not tag:
        raise ImageRefError("an image tag may not be empty")
    if not _TAG.match(tag):
        raise ImageRefError(
            f"image tag {tag!r} is invalid: it must match {TAG_PATTERN} "
            "(letters, digits, '_', '.', '-'; no leading '.' or '-'; at most 128 characters)"
        )
    if tag.startswith(IMMUTABLE_PREFIX) and not _SHA_TAG.match(tag):
        raise ImageRefError(
            f"image tag {tag!r} is invalid: a 'sha-' tag is 'sha-' and exactly 8 lowercase "
            "hex digits of the commit"
        )
    return tag


def is_immutable_tag(tag: str) -> bool:
    """Whether a tag names one commit forever (`sha-<8 hex>`)."""
    return bool(_SHA_TAG.match(tag))


def commit_prefix(tag: str | None) -> str | None:
    """The (abbreviated) commit a `sha-<hex>` tag names, whoever made it; None otherwise."""
    match = _COMMIT_TAG.match(tag or "")
    return match["commit"] if match else None


def validate_digest(digest: str) -> str:
    """Return `digest` when it is `sha256:<64 hex>` or `sha512:<128 hex>` (lowercase)."""
    algorithm, _, encoded = digest.partition(":")
    length = _DIGESTS.get(algorithm)
    if length is None or len(encoded) != length or not re.fullmatch(r"[0-9a-f]+", encoded):
        raise ImageRefError(
            f"image digest {digest!r} is invalid: expected sha256:<64 lowercase hex digits>"
        )
    return digest


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    # The first component is a registry only when it looks like a host (as docker decides).
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first, rest
    return DOCKER_HUB, name


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: `registry/repository[:tag][@digest]`."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse and validate a reference such as `ghcr.io/org/app:sha-0a1b2c3d`."""
        if not isinstance(text, str) or not text:
            raise ImageRefError("an image reference may not be empty")
        if text != text.strip() or any(ch.isspace() for ch in text):
            raise ImageRefError(f"image reference {text!r} may not contain whitespace")
        if text.startswith("-"):
            raise ImageRefError(f"image reference {text!r} may not start with '-'")
        if "://" in text:
            raise ImageRefError(
                f"image reference {text!r} must not have a scheme (write registry/repository:tag)"
            )
        remainder, at, digest = text.partition("@")
        if at:
            validate_digest(digest)
        name, tag = remainder, None
        slash = remainder.rfind("/")
        colon = remainder.rfind(":")
        if colon > slash:
            name, tag = remainder[:colon], remainder[colon + 1 :]
            validate_tag(tag)
        registry, repository = _split_domain(name)
        if not _DOMAIN.match(registry):
            raise ImageRefError(f"image reference {text!r} has an invalid registry {registry!r}")
        if not repository:
            raise ImageRefError(f"image reference {text!r} has no repository")
        for part in repository.split("/"):
            if not _PATH_COMPONENT.match(part):
                raise ImageRefError(
                    f"image reference {text!r} has an invalid repository component {part!r} "
                    "(lowercase letters, digits and single separators '.', '_', '__', '-')"
                )
        if registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"
        if len(registry) + 1 + len(repository) > MAX_NAME_LENGTH:
            raise ImageRefError(f"image reference {text!r} is longer than {MAX_NAME_LENGTH}")
        return cls(registry=registry, repository=repository, tag=tag, digest=digest or None)

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the registry's manifest endpoint is asked for: the digest, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host:port that serves the registry API for this reference."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def is_loopback(self) -> bool:
        """Whether the registry is on this machine (127.0.0.0/8, ::1, localhost)."""
        host = self.registry
        if host.startswith("["):
            host = host[1 : host.index("]")]
        else:
            host = host.rsplit(":", 1)[0] if ":" in host else host
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def with_tag(self, tag: str) -> ImageRef:
        """The same repository at another tag (any digest dropped)."""
        return replace(self, tag=validate_tag(tag), digest=None)

    def with_digest(self, digest: str) -> ImageRef:
        """The same repository pinned to a digest (the tag kept for readability)."""
        return replace(self, digest=validate_digest(digest))

    def with_registry(self, registry: str) -> ImageRef:
        """The same repository on another registry (e.g. a local mirror)."""
        if not _DOMAIN.match(registry):
            raise ImageRefError(f"registry {registry!r} is not a host[:port]")
        return replace(self, registry=registry)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

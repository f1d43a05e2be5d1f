"""Kustomization `images:` entries: read them, and edit one value keeping every other byte.

Edits are splices at the exact character spans ruamel.yaml's composer reports for the
scalars, so comments, key order, quoting and indentation outside the changed value stay
as they were. A small line scanner reads the common block-style file fast (history reads
thousands of revisions); anything it does not recognise goes to the full YAML parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dexops.domain import imageref
from dexops.errors import DexopsError

if TYPE_CHECKING:
    from ruamel.yaml.nodes import ScalarNode

IMAGE_KEYS = ("name", "newName", "newTag", "digest")


class KustomizationError(DexopsError):
    """A kustomization file is malformed, or its `images:` do not name the image once."""


@dataclass(frozen=True)
class ImageEntry:
    """One `images:` entry: the name workloads use and what kustomize replaces it with."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """The image reference kustomize renders into the workloads."""
        ref = self.new_name or self.name
        if self.new_tag:
            ref += f":{self.new_tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref

    def matches(self, image: str) -> bool:
        """Whether this entry is the one for `image` (by `name` or `newName`)."""
        return image in (self.name, self.new_name)


def validate_tag(tag: str) -> str:
    """Return `tag` if it is a valid image tag (`sha-` tags: 8 hex digits), else fail."""
    if not tag:
        raise KustomizationError("image tag '' is empty; pass a tag")
    return imageref.validate_tag(tag)


def validate_digest(digest: str) -> str:
    """Return `digest` if it is `sha256:<64 hex>` or `sha512:<128 hex>`, else fail."""
    return imageref.validate_digest(digest)


def select(entries: list[ImageEntry], image: str, source: str) -> ImageEntry:
    """The one entry for `image`; missing or ambiguous is an error naming the file."""
    found = [e for e in entries if e.matches(image)]
    if not found:
        raise KustomizationError(f"{source}: no images: entry has name or newName {image!r}")
    if len(found) > 1:
        raise KustomizationError(f"{source}: {len(found)} images: entries match {image!r}")
    return found[0]


# --- the full parser: exact spans ---------------------------------------------------------


@dataclass(frozen=True)
class _Scalar:
    value: str
    start: int
    end: int
    style: str | None
    key_start: int
    key_column: int
    # Why the value cannot be edited where it stands: an anchor or alias shares it with other
    # keys, and a block scalar's text is not the one span a plain or quoted value is.
    unsafe: str | None = None


@dataclass(frozen=True)
class _Entry:
    scalars: dict[str, _Scalar]
    start: int
    end: int
    flow: bool
    dash_column: int

    def image(self) -> ImageEntry:
        def get(key: str) -> str | None:
            scalar = self.scalars.get(key)
            return scalar.value if scalar is not None else None

        return ImageEntry(get("name") or "", get("newName"), get("newTag"), get("digest"))


@dataclass(frozen=True)
class _Images:
    entries: list[_Entry]
    key_end: int | None
    sequence_end: int | None
    flow: bool


def _compose(text: str, source: str) -> object:
    # ruamel.yaml (~8 ms) only to edit: history and status read with the scanner.
    from ruamel.yaml import YAML  # noqa: PLC0415
    from ruamel.yaml.error import YAMLError  # noqa: PLC0415

    try:
        return YAML(typ="rt").compose(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KustomizationError(
            f"{source} is not valid YAML: {problem}{where}",
            file=source,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except RecursionError:
        raise KustomizationError(f"{source} is nested too deeply to read as YAML") from None


def _unsafe(value: ScalarNode, key_end: int) -> str | None:
    """Why a value node is not one span to splice: shared through YAML, or a block scalar."""
    # An alias resolves to the anchored node, whose text lies before this key.
    if value.start_mark.index < key_end:
        return "is given through a YAML alias"
    if getattr(value, "anchor", None):
        return "carries a YAML anchor other keys may share"
    if value.style in ("|", ">"):
        return "is a YAML block scalar"
    return None


def _structure(text: str, source: str) -> _Images:
    # ruamel.yaml (~8 ms) only to edit: history and status read with the scanner.
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode  # noqa: PLC0415

    root = _compose(text, source)
    if root is None:
        return _Images([], None, None, flow=False)
    if not isinstance(root, MappingNode):
        raise KustomizationError(f"{source} is not a YAML mapping")
    for key, value in root.value:
        if not (isinstance(key, ScalarNode) and key.value == "images"):
            continue
        if isinstance(value, ScalarNode) and value.value in ("", "~", "null"):
            return _Images([], key.end_mark.index, None, flow=False)
        if not isinstance(value, SequenceNode):
            raise KustomizationError(f"{source}: images: must be a list")
        entries = []
        for item in value.value:
            if not isinstance(item, MappingNode):
                raise KustomizationError(f"{source}: every images: entry must be a mapping")
            scalars: dict[str, _Scalar] = {}
            for k, v in item.value:
                if isinstance(k, ScalarNode) and k.value in IMAGE_KEYS:
                    if not isinstance(v, ScalarNode):
                        raise KustomizationError(f"{source}: images: {k.value} must be a string")
                    scalars[k.value] = _Scalar(
                        v.value,
                        v.start_mark.index,
                        v.end_mark.index,
                        v.style,
                        k.start_mark.index,
                        k.start_mark.column,
                        _unsafe(v, k.end_mark.index),
                    )
            if "name" not in scalars:
                raise KustomizationError(f"{source}: an images: entry has no name")
            entries.append(
                _Entry(
                    scalars,
                    item.start_mark.index,
                    item.end_mark.index,
                    bool(item.flow_style),
                    max(item.start_mark.column - 2, 0),
                )
            )
        return _Images(entries, key.end_mark.index, value.end_mark.index, bool(value.flow_style))
    return _Images([], None, None, flow=False)


def parse_images(text: str, source: str = "kustomization.yaml") -> list[ImageEntry]:
    """Every `images:` entry of a kustomization, by the full YAML parser."""
    return [entry.image() for entry in _structure(text, source).entries]


def read_image(text: str, image: str, source: str = "kustomization.yaml") -> ImageEntry:
    """The entry for `image`; malformed YAML, no entry or two entries are errors."""
    return select(parse_images(text, source), image, source)


# --- edits ----------------------------------------------------------------------------------


def _plain_is_string(value: str) -> bool:
    # ruamel.yaml (~8 ms) only to edit: history and status read with the scanner.
    from ruamel.yaml import YAML  # noqa: PLC0415

    # A tag like 1.10 or 2024 would load as a number when written plain; one like 0b_ looks
    # like a number to YAML 1.1 and cannot be loaded plain at all (ruamel raises ValueError).
    try:
        return isinstance(YAML(typ="safe", pure=True).load(value), str)
    except ValueError:
        return False


def _render(value: str, style: str | None) -> str:
    if style == "'":
        return f"'{value}'"
    if style == '"' or not _plain_is_string(value):
        return f'"{value}"'
    return value


def _line_end(text: str, index: int) -> int:
    """Index just after the newline that ends the line holding `index` (or the text's end)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _insert_line(text: str, at: int, line: str) -> str:
    prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
    return text[:at] + prefix + line + "\n" + text[at:]


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    replacement: str


def _value_splices(
    text: str, entry: _Entry, source: str, *, tag: str, digest: str | None
) -> list[_Splice]:
    splices: list[_Splice] = []
    inserts: list[str] = []
    for key, value in (("newTag", tag), ("digest", digest)):
        scalar = entry.scalars.get(key)
        if scalar is not None and scalar.unsafe and scalar.value != value:
            raise KustomizationError(
                f"{source}: {key} of image {entry.image().name!r} {scalar.unsafe}; edit it by hand"
            )
        if scalar is not None and value is not None:
            if scalar.value != value:
                splices.append(_Splice(scalar.start, scalar.end, _render(value, scalar.style)))
        elif scalar is not None:
            # A pinned digest outlives a new tag in kustomize's render: drop it with the tag.
            line_start = text.rfind("\n", 0, scalar.key_start) + 1
            if entry.flow or text[line_start : scalar.key_start].strip():
                raise KustomizationError(
                    f"{source}: cannot remove {key} of image {entry.image().name!r} "
                    "(not on a line of its own); edit it by hand"
                )
            splices.append(_Splice(line_start, _line_end(text, scalar.end), ""))
        elif value is not None:
            inserts.append(f"{key}: {_render(value, None)}")
    if inserts:
        if entry.flow:
            raise KustomizationError(
                f"{source}: cannot add {inserts[0].split(':')[0]} to a flow-style images: entry"
            )
        column = max(s.key_column for s in entry.scalars.values())
        last_end = max(s.end for s in entry.scalars.values())
        at = _line_end(text, last_end)
        block = "\n".join(" " * column + line for line in inserts)
        splices.append(
            _Splice(at, at, ("" if text[at - 1 : at] in ("", "\n") else "\n") + block + "\n")
        )
    return splices


def set_image(
    text: str,
    image: str,
    *,
    tag: str,
    digest: str | None = None,
    create: bool = False,
    source: str = "kustomization.yaml",
) -> str:
    """`text` with the entry for `image` set to `tag` (and `digest`, or none pinned).

    Only the changed values' bytes move. Without `create`, a missing entry is an error;
    with it, an entry `name: <image>` is appended to `images:` (made when absent).
    """
    validate_tag(tag)
    if digest is not None:
        validate_digest(digest)
    structure = _structure(text, source)
    found = [e for e in structure.entries if e.image().matches(image)]
    if len(found) > 1:
        raise KustomizationError(f"{source}: {len(found)} images: entries match {image!r}")
    if found:
        splices = _value_splices(text, found[0], source, tag=tag, digest=digest)
        for splice in sorted(splices, key=lambda s: s.start, reverse=True):
            text = text[: splice.start] + splice.replacement + text[splice.end :]
        return text
    if not create:
        raise KustomizationError(f"{source}: no images: entry has name or newName {image!r}")
    return _create_entry(text, structure, source, image=image, tag=tag, digest=digest)


def _create_entry(
    text: str, structure: _Images, source: str, *, image: str, tag: str, digest: str | None
) -> str:
    if structure.flow:
        raise KustomizationError(f"{source}: images: is a flow-style list; add {image!r} by hand")
    keys = [f"name: {_render(image, None)}", f"newTag: {_render(tag, None)}"]
    if digest is not None:
        keys.append(f"digest: {_render(digest, None)}")
    if structure.entries:
        last = structure.entries[-1]
        dash = last.dash_column
        at = _line_end(text, max(s.end for s in last.scalars.values()))
        lines = [" " * dash + "- " + keys[0], *(" " * (dash + 2) + k for k in keys[1:])]
        return _insert_line(text, at, "\n".join(lines))
    lines = ["  - " + keys[0], *("    " + k for k in keys[1:])]
    if structure.key_end is not None:
        # `images:` with nothing (or null) under it: put the entry right below the key.
        at = _line_end(text, structure.key_end)
        line_start = text.rfind("\n", 0, structure.key_end) + 1
        head = text[line_start:at]
        if head.split("#")[0].strip() != "images:":
            raise KustomizationError(f"{source}: images: holds a value; add {image!r} by hand")
        return _insert_line(text, at, "\n".join(lines))
    return _insert_line(text, len(text), "\n".join(["images:", *lines]))


# --- the fast scanner ---------------------------------------------------------------------

# Why a scanner beside ruamel.yaml (benchmarks/bench_history.py, 2026-12): ruamel's composer
# costs ~3-5 ms a revision in pure Python, so a history of 1,000 revisions took 2.9 s instead
# of 0.12 s (36x `git log -p`, target 3x). Its C parser (ruamel.yaml.clib, not a dependency)
# still costs ~0.2 ms: 5,000 revisions took 1.6 s instead of 0.6 s (5.9x, target 3x). Blobs
# are parsed once each already (deploy_history caches by blob id). The scanner defers to the
# parser on anything it is unsure of, and tests/test_kustomize.py holds the two equal.

_IMAGES_KEY = re.compile(r"^images[ ]*:[ ]*(?:#.*)?$")
_ENTRY_LINE = re.compile(
    r"^(?P<indent>[ ]*)(?P<dash>-[ ]+)?(?P<key>[A-Za-z_][A-Za-z0-9_-]*)[ ]*:"
    r"(?:[ ]+(?P<value>[^-#'\"\s{}\[\]&*!|>%@`][^#]*?|'[^'\n]*'|\"[^\"\\\n]*\"))?[ ]*(?:[ ]#.*)?$"
)


class _UnsureError(Exception):
    """The scanner met a construct it does not handle; the full parser decides."""


def _scan(text: str) -> list[ImageEntry]:  # noqa: PLR0912 - one branch per YAML construct
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("images")]
    if not starts:
        if "images" in text:
            raise _UnsureError
        return []
    if len(starts) != 1 or not _IMAGES_KEY.match(lines[starts[0]]) or "\t" in text:
        raise _UnsureError
    entries: list[dict[str, str]] = []
    key_indent: int | None = None
    for line in lines[starts[0] + 1 :]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):
            break  # the next top-level key
        match = _ENTRY_LINE.match(line)
        if match is None:
            raise _UnsureError
        indent = len(match["indent"])
        if match["dash"]:
            entries.append({})
            key_indent = indent + len(match["dash"])
        elif not entries or indent != key_indent:
            raise _UnsureError
        value = match["value"]
        if value is None:
            raise _UnsureError
        if value[0] in "'\"":
            value = value[1:-1]
        entries[-1][match["key"]] = value.rstrip()
    result = []
    for entry in entries:
        if "name" not in entry:
            raise _UnsureError
        result.append(
            ImageEntry(
                entry["name"], entry.get("newName"), entry.get("newTag"), entry.get("digest")
            )
        )
    return result


def scan_images(text: str, source: str = "kustomization.yaml") -> list[ImageEntry]:
    """Like `parse_images`, fast for plain block-style files (the parser decides the rest)."""
    if "---" in text or "..." in text:
        return parse_images(text, source)
    try:
        return _scan(text)
    except _UnsureError:
        return parse_images(text, source)

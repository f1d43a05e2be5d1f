"""Kustomization `images:` entries: read them, and edit one value keeping every other byte.

Edits are splices at the exact character spans ruamel.yaml's composer reports for the
scalars, so comments, key order, quoting and indentation outside the changed value stay
as they were. ruamel.yaml is the only reader: `ImagesReader` reads the thousands of
revisions of a history by reusing one parse while only image values change.
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

    def values(self) -> dict[str, str]:
        """The entry's image keys and their values."""
        return {key: scalar.value for key, scalar in self.scalars.items()}

    def image(self) -> ImageEntry:
        """The entry as `images:` describes it."""
        return _image(self.values())


def _image(values: dict[str, str]) -> ImageEntry:
    """The entry that an `images:` mapping's values describe."""
    get = values.get
    return ImageEntry(get("name") or "", get("newName"), get("newTag"), get("digest"))


@dataclass(frozen=True)
class _Images:
    entries: list[_Entry]
    key_end: int | None
    sequence_end: int | None
    flow: bool


def _compose(text: str, source: str) -> object:
    # ruamel.yaml costs ~8 ms to import: only tasks that read or edit an overlay pay it.
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
    # ruamel.yaml costs ~8 ms to import: only tasks that read or edit an overlay pay it.
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
    # ruamel.yaml costs ~8 ms to import: only tasks that read or edit an overlay pay it.
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


# --- many revisions of one file --------------------------------------------------------

# A plain scalar that YAML reads as itself where a plain value ended a line or stood before
# " #": no indicator first, no space or "#" inside, no ":" last (YAML 1.2, 7.3.3).
_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_.@/+:-]*(?<!:)")


@dataclass(frozen=True)
class _Template:
    """A parsed text as literal pieces around the image values that may change alone."""

    literals: tuple[str, ...]  # one more than slots: before, between and after them
    slots: tuple[tuple[int, str], ...]  # (entry index, key) of each replaceable value
    entries: tuple[dict[str, str], ...]

    @classmethod
    def of(cls, text: str, images: _Images) -> _Template:
        """The template of a parsed text: every plain value at the end of its line is a slot."""
        spans = []
        for index, entry in enumerate(images.entries):
            if entry.flow:
                continue
            for key, scalar in entry.scalars.items():
                after = text[scalar.end : scalar.end + 1]
                if (
                    scalar.style is None
                    and after in ("", "\n", " ")
                    and text[scalar.start : scalar.end] == scalar.value
                    and _PLAIN.fullmatch(scalar.value)
                ):
                    spans.append((scalar.start, scalar.end, index, key))
        spans.sort()
        literals, at = [], 0
        for start, end, _, _ in spans:
            literals.append(text[at:start])
            at = end
        literals.append(text[at:])
        entries = tuple(entry.values() for entry in images.entries)
        slots = tuple((index, key) for _, _, index, key in spans)
        return cls(tuple(literals), slots, entries)

    def fill(self, text: str) -> list[ImageEntry] | None:
        """The entries of `text` if it is this template with other plain values, else None."""
        values, at = [], 0
        for literal in self.literals[:-1]:
            if not text.startswith(literal, at):
                return None
            match = _PLAIN.match(text, at + len(literal))
            if match is None:
                return None
            values.append(match.group())
            at = match.end()
        if len(text) - at != len(self.literals[-1]) or not text.endswith(self.literals[-1]):
            return None
        entries = [dict(entry) for entry in self.entries]
        for (index, key), value in zip(self.slots, values, strict=True):
            entries[index][key] = value
        return [_image(entry) for entry in entries]


class ImagesReader:
    """Reads the `images:` of many revisions of one file, parsing each new shape once.

    A history reads thousands of revisions that differ only in a tag or a digest, and the
    YAML parser costs ~3-5 ms a revision (benchmarks/bench_history.py). A revision that is
    the last parsed text with only plain image values changed, each still a plain value in
    the same place, has the same YAML structure (the text around each value is the same
    bytes, and the new value cannot end or extend its scalar), so its entries are the last
    parse's with the new values. Any other text is parsed, and becomes the new template.
    """

    def __init__(self, source: str = "kustomization.yaml") -> None:
        self.source = source
        self.parsed = 0  # how many texts the YAML parser read
        self._template: _Template | None = None

    def read(self, text: str) -> list[ImageEntry]:
        """Every `images:` entry of `text`, as `parse_images` reads it."""
        if self._template is not None:
            entries = self._template.fill(text)
            if entries is not None:
                return entries
        images = _structure(text, self.source)
        self.parsed += 1
        self._template = _Template.of(text, images)
        return [entry.image() for entry in images.entries]

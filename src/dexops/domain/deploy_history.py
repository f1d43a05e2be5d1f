"""Deployment history: the image tags an overlay held on its branch, from one `git log`.

The log is read once with `--raw` (each revision's blob id of the overlay file); the blobs
are then read in one batched `git cat-file`, never one git process per revision. Parsing
is pure and lives here; the workflows run the two git commands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from dexops.domain import holds
from dexops.domain.kustomize import ImageEntry, KustomizationError, scan_images

Kind = Literal["deploy", "promote", "rollback", "hold-release", "manual"]

_RECORD = "\x1e"
_FIELD = "\x1f"
_TRAILER = "\x1d"
LOG_FORMAT = "%x1e%H%x1f%cI%x1f%an%x1f%s%x1f%(trailers:only=true,unfold=true,separator=%x1d)%x1f"
_NULL_BLOB = "0" * 40

# Messages of commits made before dexops (the shell scripts of the reference pipeline).
_SUBJECT_KINDS: tuple[tuple[re.Pattern[str], Kind], ...] = (
    (re.compile(r"^chore: update \S+(?:/\S+)* image to "), "deploy"),
    (re.compile(r"^chore: promote \S+ to "), "promote"),
    (re.compile(r"^Merge pull request #\d+ from \S+/promote-"), "promote"),
    (re.compile(r"^fix: rollback \S+ to "), "rollback"),
)


def log_arguments(ref: str, path: str, *, max_count: int | None = None) -> list[str]:
    """The `git log` argument list whose output `parse_log` reads."""
    limit = [f"--max-count={max_count}"] if max_count else []
    return [
        "log",
        f"--format={LOG_FORMAT}",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "--diff-merges=first-parent",
        *limit,
        "--end-of-options",
        ref,
        "--",
        path,
    ]


class LogRecord(NamedTuple):
    """One commit of a `git log` stream in `LOG_FORMAT`, with the file's blob after it."""

    commit: str
    date: str
    author: str
    subject: str
    trailers: Mapping[str, Sequence[str]]
    blob: str | None


def parse_log(stream: str) -> list[LogRecord]:
    """Parse `git log` output made with `log_arguments` (newest first, as git prints it)."""
    return list(iter_log([stream]))


def iter_log(pieces: Iterable[str]) -> Iterator[LogRecord]:
    """Parse a `git log` stream given in pieces, each record as soon as the next one begins."""
    pending = None  # text after the last record mark seen (None: no mark yet)
    for piece in pieces:
        *complete, tail = piece.split(_RECORD)
        if complete:
            if pending is not None:
                yield _log_record(pending + complete[0])
            yield from map(_log_record, complete[1:])
            pending = tail
        elif pending is not None:
            pending += tail
    if pending is not None:
        yield _log_record(pending)


def _log_record(chunk: str) -> LogRecord:
    parts = chunk.split(_FIELD, 5)
    if len(parts) != 6:
        raise ValueError(f"unexpected git log record: {chunk[:80]!r}")
    commit, date, author, subject, trailer_text, rest = parts
    blob: str | None = None
    for line in rest.splitlines():
        if line.startswith(":"):
            fields = line.split("\t", 1)[0].split(" ")
            blob = None if fields[3] == _NULL_BLOB else fields[3]
    items = [item for item in trailer_text.split(_TRAILER) if item.strip()]
    return LogRecord(commit, date, author, subject, holds.parse_trailer_items(items), blob)


def classify(subject: str, trailers: Mapping[str, Sequence[str]]) -> Kind:
    """What a commit was: a trailer says; else the reference pipeline's subjects; else manual."""
    action = holds.first(trailers, holds.ACTION)
    if action in holds.ACTIONS:
        return action
    for pattern, kind in _SUBJECT_KINDS:
        if pattern.match(subject):
            return kind
    return "manual"


@dataclass(frozen=True)
class Revision:
    """The overlay at one commit: which image it ran and how it got there."""

    commit: str
    date: str
    author: str
    subject: str
    kind: Kind
    tag: str | None
    digest: str | None
    changed: bool
    trailers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    error: str | None = None

    @property
    def previous_tag(self) -> str | None:
        """The tag this revision replaced, as its trailer records it."""
        return holds.first(self.trailers, holds.PREVIOUS_TAG)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "commit": self.commit,
            "date": self.date,
            "author": self.author,
            "kind": self.kind,
            "tag": self.tag,
            "digest": self.digest,
            "subject": self.subject,
            "previous_tag": self.previous_tag,
        }


def _entry(blob: bytes | None, image: str, source: str) -> tuple[ImageEntry | None, str | None]:
    if blob is None:
        return None, "overlay file absent"
    try:
        entries = [
            e for e in scan_images(blob.decode("utf-8", "replace"), source) if e.matches(image)
        ]
    except KustomizationError as exc:
        return None, str(exc)
    if len(entries) != 1:
        return None, f"{len(entries)} images: entries match {image!r}"
    return entries[0], None


def build_history(
    records: Sequence[LogRecord], blobs: Mapping[str, bytes], image: str, source: str
) -> list[Revision]:
    """Revisions newest first; `changed` marks those whose tag or digest differ from before."""
    cache: dict[str | None, tuple[ImageEntry | None, str | None]] = {}
    parsed = []
    for record in records:
        if record.blob not in cache:
            data = blobs.get(record.blob) if record.blob is not None else None
            cache[record.blob] = _entry(data, image, source)
        parsed.append(cache[record.blob])
    revisions: list[Revision] = []
    # Walk oldest to newest so each revision is compared with the one before it.
    before: tuple[str | None, str | None] | None = None
    for record, (entry, error) in zip(reversed(records), reversed(parsed), strict=True):
        state = (entry.new_tag, entry.digest) if entry else (None, None)
        revisions.append(
            Revision(
                commit=record.commit,
                date=record.date,
                author=record.author,
                subject=record.subject,
                kind=classify(record.subject, record.trailers),
                tag=state[0],
                digest=state[1],
                changed=state != before,
                trailers=record.trailers,
                error=error,
            )
        )
        before = state
    revisions.reverse()
    return revisions


def deployments(revisions: Iterable[Revision]) -> list[Revision]:
    """The revisions that changed what runs (newest first)."""
    return [r for r in revisions if r.changed and r.tag is not None]


def rolled_back_tags(revisions: Iterable[Revision]) -> set[str]:
    """Tags that a rollback replaced: never picked again as a rollback target."""
    return {r.previous_tag for r in revisions if r.kind == "rollback" and r.previous_tag}


def rollback_candidates(revisions: Sequence[Revision], current: str) -> list[Revision]:
    """Earlier distinct tags newest first, skipping the current one and rolled-back ones."""
    skip = rolled_back_tags(revisions) | {current}
    seen: set[str] = set()
    found = []
    for revision in deployments(revisions):
        tag = revision.tag
        if tag is None or tag in skip or tag in seen:
            continue
        seen.add(tag)
        found.append(revision)
    return found


def deployed_by(revisions: Sequence[Revision], tag: str) -> Revision | None:
    """The revision that made the overlay hold `tag` most recently."""
    for revision in revisions:
        if revision.changed and revision.tag == tag:
            return revision
    return None

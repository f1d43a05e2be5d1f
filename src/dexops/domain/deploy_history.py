"""Deployment history: the image tags an overlay held on its branch, from one `git log`.

The log is read once with `--raw` (each revision's blob id of the overlay file); the blobs
are then read in one batched `git cat-file`, never one git process per revision. Parsing
is pure and lives here; the workflows run the two git commands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dexops.domain import holds
from dexops.domain.kustomize import ImageEntry, ImagesReader, KustomizationError

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


@dataclass(frozen=True, slots=True)
class LogRecord:
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


def classify(
    subject: str, trailers: Mapping[str, Sequence[str]], bots: re.Pattern[str] | None = None
) -> Kind:
    """What a commit was: a trailer says; else a known subject; else manual.

    Known subjects are the reference pipeline's and the configured bots' (`bots`, an
    environment's `deploy-commit-pattern`).
    """
    action = holds.first(trailers, holds.ACTION)
    if action in holds.ACTIONS:
        return action
    for pattern, kind in _SUBJECT_KINDS:
        if pattern.match(subject):
            return kind
    if bots is not None and bots.search(subject):
        return "deploy"
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
    # The image name the entry had here, and the one it had before when it was renamed here.
    image: str | None = None
    renamed_from: str | None = None

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
            "image": self.image,
            "renamed_from": self.renamed_from,
        }


def _entry(
    blob: bytes | None, names: Sequence[str], reader: ImagesReader
) -> tuple[ImageEntry | None, str | None]:
    """The overlay's entry for the image: by its name, else a former one, else the only entry."""
    if blob is None:
        return None, "overlay file absent"
    try:
        entries = reader.read(blob.decode("utf-8", "replace"))
    except KustomizationError as exc:
        return None, str(exc)
    for name in names:
        matching = [e for e in entries if e.matches(name)]
        if len(matching) == 1:
            return matching[0], None
        if matching:
            return None, f"{len(matching)} images: entries match {name!r}"
    # An overlay with a single image entry runs that image, whatever it was called then.
    if len(entries) == 1:
        return entries[0], None
    return None, f"{len(entries)} images: entries, none named {names[0]!r}"


def build_history(
    records: Sequence[LogRecord],
    blobs: Mapping[str, bytes],
    image: str,
    source: str,
    *,
    former: Sequence[str] = (),
    bots: str | None = None,
) -> list[Revision]:
    """Revisions newest first; `changed` marks those whose tag or digest differ from before.

    The image entry is followed through renames (`former` names, or the overlay's only
    entry); a rename alone changes nothing that runs, so the tag keeps the date of the
    commit that introduced it, and the renaming revision says `renamed_from`.
    """
    names = (image, *former)
    bot_pattern = re.compile(bots) if bots else None
    cache: dict[str | None, tuple[ImageEntry | None, str | None]] = {}
    parsed = []
    reader = ImagesReader(source)
    for record in records:
        if record.blob not in cache:
            data = blobs.get(record.blob) if record.blob is not None else None
            cache[record.blob] = _entry(data, names, reader)
        parsed.append(cache[record.blob])
    revisions: list[Revision] = []
    # Walk oldest to newest so each revision is compared with the one before it.
    before: tuple[str | None, str | None] | None = None
    before_name: str | None = None
    for record, (entry, error) in zip(reversed(records), reversed(parsed), strict=True):
        state = (entry.new_tag, entry.digest) if entry else (None, None)
        name = (entry.new_name or entry.name) if entry else None
        revisions.append(
            Revision(
                commit=record.commit,
                date=record.date,
                author=record.author,
                subject=record.subject,
                kind=classify(record.subject, record.trailers, bot_pattern),
                tag=state[0],
                digest=state[1],
                changed=state != before,
                trailers=record.trailers,
                error=error,
                image=name,
                renamed_from=before_name if name and before_name and name != before_name else None,
            )
        )
        before = state
        before_name = name or before_name
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

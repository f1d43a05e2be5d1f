"""Git trailers on overlay commits, and the rollback hold they record.

Every commit dexops makes on an environment's branch carries trailers (see docs/gitops.md):

    Dexops-Action: deploy | promote | rollback | hold-release
    Dexops-Environment: <env>
    Dexops-Image-Tag: <tag the overlay holds after the commit>
    Dexops-Previous-Tag: <tag it held before>            (when there was one)
    Dexops-Digest: <digest pinned>                        (when one is pinned)
    Dexops-Hold: true | false                             (rollback, hold-release)

An environment is on hold when the newest commit on its branch that carries both
`Dexops-Environment: <env>` and a `Dexops-Hold` trailer says `true`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

ACTION = "Dexops-Action"
ENVIRONMENT = "Dexops-Environment"
IMAGE_TAG = "Dexops-Image-Tag"
PREVIOUS_TAG = "Dexops-Previous-Tag"
DIGEST = "Dexops-Digest"
HOLD = "Dexops-Hold"
TRAILER_NAMES = (ACTION, ENVIRONMENT, IMAGE_TAG, PREVIOUS_TAG, DIGEST, HOLD)

Action = Literal["deploy", "promote", "rollback", "hold-release"]
ACTIONS: tuple[Action, ...] = ("deploy", "promote", "rollback", "hold-release")

# `git log` arguments that list the commits bearing a hold decision (newest first).
HOLD_GREP = ("-E", f"--grep=^{HOLD}: (true|false)$")


@dataclass(frozen=True)
class Trailers:
    """The dexops trailers of one commit."""

    action: Action
    environment: str
    image_tag: str | None = None
    previous_tag: str | None = None
    digest: str | None = None
    hold: bool | None = None

    def lines(self) -> list[str]:
        """The trailer lines, in a fixed order."""
        pairs: list[tuple[str, str | None]] = [
            (ACTION, self.action),
            (ENVIRONMENT, self.environment),
            (IMAGE_TAG, self.image_tag),
            (PREVIOUS_TAG, self.previous_tag),
            (DIGEST, self.digest),
            (HOLD, None if self.hold is None else str(self.hold).lower()),
        ]
        return [f"{key}: {value}" for key, value in pairs if value]


def commit_message(subject: str, body: str, trailers: Sequence[Trailers]) -> str:
    """A commit message: subject, optional body, then one trailer block."""
    parts = [subject.strip()]
    if body.strip():
        parts.append(body.strip())
    lines = [line for t in trailers for line in t.lines()]
    if lines:
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def parse_trailer_items(items: Iterable[str]) -> dict[str, list[str]]:
    """`Key: value` strings (git's unfolded trailers) grouped by key; others ignored."""
    result: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition(":")
        if sep and key.strip() and " " not in key.strip():
            result.setdefault(key.strip(), []).append(value.strip())
    return result


def first(trailers: Mapping[str, Sequence[str]], key: str) -> str | None:
    """The first value of a trailer, or None."""
    values = trailers.get(key)
    return values[0] if values else None


@dataclass(frozen=True)
class HoldRecord:
    """One commit that decided an environment's hold."""

    commit: str
    date: str
    environment: str
    held: bool
    action: str | None
    image_tag: str | None
    previous_tag: str | None


def hold_records(commit: str, date: str, trailers: Mapping[str, Sequence[str]]) -> list[HoldRecord]:
    """The hold decisions one commit records (one per environment trailer it carries)."""
    holds = trailers.get(HOLD, [])
    if not holds:
        return []
    held = holds[-1].lower() == "true"
    return [
        HoldRecord(
            commit=commit,
            date=date,
            environment=env,
            held=held,
            action=first(trailers, ACTION),
            image_tag=first(trailers, IMAGE_TAG),
            previous_tag=first(trailers, PREVIOUS_TAG),
        )
        for env in trailers.get(ENVIRONMENT, [])
    ]


def current_holds(records_newest_first: Iterable[HoldRecord]) -> dict[str, HoldRecord]:
    """Environments on hold now: the newest decision per environment, kept when it holds."""
    decided: dict[str, HoldRecord] = {}
    for record in records_newest_first:
        decided.setdefault(record.environment, record)
    return {env: record for env, record in decided.items() if record.held}

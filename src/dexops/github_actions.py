"""GitHub Actions integration: outputs, step summaries, masks and annotations."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from dexops.secrets import known_secrets, mask


def active() -> bool:
    """Whether we run inside a GitHub Actions job."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def add_masks() -> None:
    """Ask the runner to mask every secret value we know of in its logs."""
    if active():
        # stderr: the runner reads workflow commands from both streams, and stdout may be JSON.
        for secret in known_secrets():
            sys.stderr.write(f"::add-mask::{secret}\n")


def set_output(name: str, value: object) -> None:
    """Append `name=value` to `$GITHUB_OUTPUT` (JSON for non-strings, heredoc for newlines)."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    text = mask(text)
    with Path(path).open("a", encoding="utf-8") as handle:
        if "\n" in text:
            import uuid  # here, not at the top: it costs every task ~3 ms of start-up

            delimiter = f"dexops_{uuid.uuid4().hex}"
            handle.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
        else:
            handle.write(f"{name}={text}\n")


def add_summary(markdown: str) -> None:
    """Append Markdown to `$GITHUB_STEP_SUMMARY`."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(mask(markdown).rstrip("\n") + "\n\n")


def error_annotation(message: str) -> None:
    """Print an `::error::` annotation for the job's page."""
    if active():
        sys.stdout.write(f"::error::{mask(message)}\n")
        sys.stdout.flush()


def _event() -> dict[str, object] | None:
    """The JSON payload of the event that started the job, when there is one."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not active() or not path or not Path(path).is_file():
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return event if isinstance(event, dict) else None


def _pull_request_sha(event: dict[str, object], side: str) -> str | None:
    pull = event.get("pull_request")
    if not isinstance(pull, dict):
        return None
    sha = pull.get(side, {}).get("sha")
    return sha if isinstance(sha, str) else None


def event_base() -> str | None:
    """The commit a push or pull request event compares against, when the event says."""
    event = _event()
    if event is None:
        return None
    if isinstance(event.get("pull_request"), dict):
        return _pull_request_sha(event, "base")
    before = event.get("before")
    # A new branch's first push has before = 0000…; there is no base then.
    if isinstance(before, str) and before.strip("0"):
        return before
    return None


def event_head() -> str | None:
    """The pushed head commit (for a pull request, its head, never the merge commit)."""
    event = _event()
    if event is None:
        return None
    if isinstance(event.get("pull_request"), dict):
        return _pull_request_sha(event, "head")
    after = event.get("after")
    return after if isinstance(after, str) and after.strip("0") else os.environ.get("GITHUB_SHA")

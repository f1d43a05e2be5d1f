"""Terminal output: plain lines, tables and JSON; every string passes the secret mask."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from dexops.secrets import mask


def say(message: str = "") -> None:
    """Print a line to stdout, secrets masked."""
    sys.stdout.write(mask(message) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    """Print a warning line to stderr (an annotation under GitHub Actions)."""
    from dexops import github_actions

    line = mask(message)
    if github_actions.active():
        sys.stderr.write(f"::warning::{line}\n")
    else:
        sys.stderr.write(f"warning: {line}\n")
    sys.stderr.flush()


def warn_each(messages: Iterable[str]) -> None:
    """Print each warning, in order (the warnings a plan or result carries)."""
    for message in messages:
        warn(message)


def would(action: str) -> None:
    """Describe, under --dry-run, one thing that would be done."""
    say(f"[dry-run] would {action}")


def emit_json(data: Any) -> None:  # noqa: ANN401 - any JSON-serialisable value
    """Print a JSON document to stdout."""
    say(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str = "") -> None:
    """Print a table: rich on a terminal, aligned plain text otherwise."""
    cells = [[mask("" if c is None else str(c)) for c in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(title=title or None)
        for header in headers:
            rich_table.add_column(header)
        for row in cells:
            rich_table.add_row(*row)
        Console().print(rich_table)
        return
    # Plain text keeps logs and tests readable without terminal escapes.
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    if title:
        say(title)
    say("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    say("  ".join("-" * w for w in widths))
    for row in cells:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

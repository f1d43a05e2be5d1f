"""Terminal output: plain lines, tables and JSON; every string passes the secret mask."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

from dexops import github_actions
from dexops.secrets import mask, masker

# C0 controls but newline and tab, DEL, and C1 controls: ESC sequences, carriage returns and
# backspaces in a commit subject or an API message would rewrite what the terminal shows.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    r"""`text` with every terminal control character shown escaped (`\x1b`), never obeyed."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def say(message: str = "") -> None:
    """Print a line to stdout, secrets masked, control characters escaped."""
    sys.stdout.write(printable(mask(message)) + "\n")
    sys.stdout.flush()


def progress(message: str, *, stderr: bool = False) -> None:
    """Print a line of a long step's progress as it happens (stderr when stdout is JSON)."""
    stream = sys.stderr if stderr else sys.stdout
    stream.write(printable(mask(message)) + "\n")
    stream.flush()


def warn(message: str) -> None:
    """Print a warning line to stderr (an annotation under GitHub Actions)."""
    line = printable(mask(message))
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


def rich_table(headers: Sequence[str], cells: Sequence[Sequence[str]], *, title: str = "") -> Table:
    """The terminal form of a table: cells as plain text, folded rather than cut when narrow."""
    # rich (~25 ms) only on a terminal: logs and CI get plain text.
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    # Text, not str: rich would read `[bold]` in a commit subject as markup. A narrow terminal
    # folds a long image tag onto the next line; the default ellipsis would cut its digits.
    made = Table(title=Text(title) if title else None)
    for header in headers:
        made.add_column(Text(header), overflow="fold")
    for row in cells:
        made.add_row(*(Text(printable(c), overflow="fold") for c in row))
    return made


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str = "") -> None:
    """Print a table: rich on a terminal, aligned plain text otherwise."""
    hide = masker()
    cells = [[hide("" if c is None else str(c)) for c in row] for row in rows]
    if sys.stdout.isatty():
        # rich (~25 ms) only on a terminal: logs and CI get plain text.
        from rich.console import Console  # noqa: PLC0415

        Console().print(rich_table(headers, cells, title=title))
        return
    # Plain text keeps logs and tests readable without terminal escapes.
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
    # The title and headers pass the same mask as the cells.
    sys.stdout.write(printable(hide("\n".join(lines))) + "\n")
    sys.stdout.flush()

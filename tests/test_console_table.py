"""Terminal tables: a narrow terminal folds a long image tag instead of cutting it."""

from __future__ import annotations

import io

from rich.console import Console

from dexops.console import rich_table

TAG = "careerdex-v1.2.3-sha-a1b2c3d4-build-20261201"


def _render(width: int, *rows: list[str]) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(
        rich_table(["env", "image tag", "deployed by"], list(rows))
    )
    return out.getvalue()


def test_a_long_tag_folds_at_80_columns_and_nothing_is_cut() -> None:
    text = _render(80, ["prod", TAG, "a1b2c3d4 promote: a long subject " * 3])
    assert "…" not in text
    # Folded pieces, read top to bottom in the tag's column, give back the whole tag.
    column = "".join(
        line.split("│")[2].strip() for line in text.splitlines() if line.count("│") == 4
    )
    assert TAG in column


def test_markup_in_a_cell_is_shown_as_text() -> None:
    text = _render(120, ["dev", "[bold red]x[/]", "\x1b[31mred"])
    assert "[bold red]x[/]" in text
    assert "\x1b[31m" not in text

"""Confirmation on a terminal; never waits for input without one."""

from __future__ import annotations

import sys


def confirm(question: str, *, yes: bool) -> None:
    """Ask on a terminal unless --yes; without a terminal never wait for input."""
    from dexops.errors import DexopsError

    if yes or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    try:
        answer = input(f"{question} [y/N] ").strip().lower()
    except EOFError:  # Ctrl-D at the prompt is a "no", not a traceback
        sys.stdout.write("\n")
        answer = ""
    if answer not in ("y", "yes"):
        raise DexopsError("not confirmed; nothing was changed (pass --yes to skip the question)")

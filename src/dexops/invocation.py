"""The program the user ran (`dexops` or `invoke`), so a message names a command they can type."""

from __future__ import annotations

_program = "invoke"


def set_program(name: str) -> None:
    """Record the program's name: `dexops` from its entry point, `invoke` from a tasks.py."""
    global _program  # noqa: PLW0603 - one name per process, set once at the entry point
    _program = name


def command(task_line: str) -> str:
    """`task_line` as the user would type it with the program they ran."""
    return f"{_program} {task_line}"

"""The CLI edge: wraps task bodies so expected failures become one `error: …` line."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from dexops.errors import DexopsError
from dexops.secrets import mask

F = TypeVar("F", bound=Callable[..., Any])

INTERRUPTED = 130


def fail(message: str, code: int = 1) -> Exit:
    """Print one `error:` line (and an annotation under Actions); return the Exit to raise."""
    from dexops import actions

    line = " ".join(mask(message).split())
    actions.error_annotation(line)
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()
    return Exit(code=code)


def guarded(body: F) -> F:
    """Run a task body, turning `DexopsError` and Ctrl-C into one line and an exit code."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - mirrors the body
        from dexops import actions

        actions.add_masks()
        try:
            return body(*args, **kwargs)
        except DexopsError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing further was done", INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def task(**kwargs: Any) -> Callable[[Callable[..., None]], Task[Any]]:  # noqa: ANN401
    """`@invoke.task(...)` with the dexops error edge; takes invoke's keyword options."""

    def decorate(body: Callable[..., None]) -> Task[Any]:
        made: Task[Any] = invoke_task(**kwargs)(guarded(body))
        return made

    return decorate

"""The CLI edge: wraps task bodies so expected failures become one `error: …` line."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import signal
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from invoke.exceptions import Exit
from invoke.parser.argument import Argument
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from dexops.errors import DexopsError, ExitCode, Terminated
from dexops.secrets import mask

F = TypeVar("F", bound=Callable[..., Any])


def fail(
    message: str,
    code: ExitCode = ExitCode.FAILURE,
    *,
    file: str | None = None,
    line: int | None = None,
) -> Exit:
    """Print one `error:` line (and an annotation under Actions); return the Exit to raise."""
    from dexops import github_actions
    from dexops.console import printable

    text = printable(" ".join(mask(message).split()))
    github_actions.error_annotation(text, file=file, line=line)
    sys.stderr.write(f"error: {text}\n")
    sys.stderr.flush()
    return Exit(code=int(code))


# invoke's core flags for commands it runs itself; dexops tasks run none through invoke.
_RUNNER_FLAGS = {"echo": "--echo", "pty": "--pty", "warn": "--warn-only", "hide": "--hide"}


def core_flags(context: object, kwargs: dict[str, Any], *, read_only: bool) -> None:
    """Honour invoke's `--dry` as `--dry-run`; refuse the core flags a task would ignore."""
    run = getattr(getattr(context, "config", None), "run", None)
    if run is None:
        return
    given = [flag for key, flag in _RUNNER_FLAGS.items() if run.get(key)]
    if given:
        raise Exit(f"error: {', '.join(given)} has no effect on dexops tasks", ExitCode.USAGE)
    if not run.get("dry"):
        return
    if "dry_run" in kwargs:
        kwargs["dry_run"] = True
    elif not read_only:
        raise Exit("error: --dry: this task has no dry run; run it without --dry", ExitCode.USAGE)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_like_sigint() -> Iterator[None]:
    """While a task runs, SIGTERM raises `Terminated` (a KeyboardInterrupt) where it lands."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def guarded(body: F, *, read_only: bool = False) -> F:
    """Run a task body, turning `DexopsError`, Ctrl-C and SIGTERM into one line and an exit code.

    SIGTERM unwinds like Ctrl-C (every clean-up runs) and exits 143; Ctrl-C exits 130.
    """
    needed = required(body)

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - mirrors the body
        from dexops import github_actions

        missing = [name for name in needed if kwargs.get(name, "") is None]
        if missing:
            flags = ", ".join("--" + name.replace("_", "-") for name in missing)
            verb = "is" if len(missing) == 1 else "are"
            raise Exit(f"error: {flags} {verb} required", ExitCode.USAGE)
        core_flags(args[0] if args else None, kwargs, read_only=read_only)
        github_actions.add_masks()
        try:
            with _sigterm_like_sigint():
                return body(*args, **kwargs)
        except DexopsError as exc:
            raise fail(str(exc), exc.exit_code, file=exc.file, line=exc.line) from None
        except OSError as exc:
            # The backstop for a path dexops reads or writes (--output, reports) failing.
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(f"{where}{exc.strerror or type(exc).__name__}") from None
        except RecursionError:
            # The backstop for a parser that recursed on a deeply nested input no site named.
            raise fail("an input is nested too deeply to read; nothing was changed") from None
        except Terminated:
            raise fail(
                "terminated by SIGTERM; nothing further was done", ExitCode.TERMINATED
            ) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing further was done", ExitCode.INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


# The one short-flag scheme: a short flag means the same in every task, and only these
# have one (`-h` is always help). docs/cli.md lists them.
SHORT_FLAGS = {"env": "e", "dry_run": "n", "json": "j", "yes": "y", "repo": "r", "timeout": "t"}


class DexopsTask(Task[Any]):
    """An invoke task with the dexops flag scheme.

    A parameter is positional only when the task says so (`positional=[...]`): a required
    value is otherwise a flag (`--env`), so `TASK --help` is never taken for that value.
    Short flags come from SHORT_FLAGS. A flag's kind comes from the body's annotation too:
    invoke infers it from the default only, so `steps: int | None = None` would be STRING.
    """

    def fill_implicit_positionals(self, positional: Iterable[str] | None) -> Iterable[str]:
        """Positional parameters: only those the task names."""
        return list(positional or [])

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        """The options invoke gets for one parameter, with its kind and short flag."""
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if "kind" not in opts:
            hint = typing.get_type_hints(inspect.unwrap(self.body)).get(name)
            numbers = [t for t in typing.get_args(hint) if t in (int, float)]
            if len(numbers) == 1:
                opts["kind"] = numbers[0]
        short = SHORT_FLAGS.get(name)
        if short is not None:
            opts["names"] = [*opts["names"], short]
        return opts

    # A task the command line does not name is listed (`--list`, `--help`) but never parsed.
    listed_only = False

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        """The task's flags, for invoke's parser: none for a task that is only listed."""
        if self.listed_only:
            return []
        arguments: list[Argument] = super().get_arguments(ignore_unknown_help)
        return arguments

    def without_positionals(self) -> DexopsTask:
        """This task with every parameter a flag: for a command line asking for help."""
        flat = copy.copy(self)
        flat.positional = []
        return flat

    def only_listed(self) -> DexopsTask:
        """This task without flags: for a command line that does not name it.

        invoke builds (and deep-copies) a parser context for every task on each parse;
        a task the command line does not name is never entered, so it needs none.
        """
        listed = copy.copy(self)
        listed.listed_only = True
        return listed


def required(body: Callable[..., Any]) -> list[str]:
    """The parameters a task body has no default for (its context excepted)."""
    params = list(inspect.signature(body).parameters.values())[1:]
    return [p.name for p in params if p.default is inspect.Parameter.empty]


def task(*, read_only: bool = False, **kwargs: Any) -> Callable[[Callable[..., None]], Task[Any]]:  # noqa: ANN401
    """`@invoke.task(...)` with the dexops error edge; takes invoke's keyword options.

    `read_only` says the task changes nothing, so invoke's `--dry` leaves it as it is; a task
    that changes something honours `--dry` as its `--dry-run`, or refuses it.
    """

    def decorate(body: Callable[..., None]) -> Task[Any]:
        options = {"klass": DexopsTask, "auto_shortflags": False, **kwargs}
        made: Task[Any] = invoke_task(**options)(guarded(body, read_only=read_only))
        return made

    return decorate

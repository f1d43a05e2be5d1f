"""The CLI edge: wraps task bodies so expected failures become one `error: …` line."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import re
import signal
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.exceptions import Exit
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from dexops.errors import DexopsError, ExitCode, Terminated
from dexops.secrets import mask

if TYPE_CHECKING:
    from invoke.collection import Collection

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

    def without_positionals(self) -> DexopsTask:
        """This task with every parameter a flag: for a command line asking for help."""
        flat = copy.copy(self)
        flat.positional = []
        return flat


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


def repo_from_argv(argv: list[str]) -> str | None:
    """A `--repo` given on the command line: per-component tasks must exist before parsing."""
    for index, arg in enumerate(argv):
        if arg == "--repo" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--repo="):
            return arg.removeprefix("--repo=")
    return None


_INSTALLED = False


_UNKNOWN_TASK = re.compile(r"^No idea what '(?P<name>.+)' is!$")


def did_you_mean(message: str, collection: Collection | None) -> str:
    """For invoke's unknown-task message, the close task names (difflib), as a suffix."""
    unknown = _UNKNOWN_TASK.match(message)
    if unknown is None or collection is None:
        return ""
    import difflib

    names = [n for name, aliases in collection.task_names.items() for n in (name, *aliases)]
    # Task names keep a component's capitals: the name typed in other case is the one meant.
    same_letters = [n for n in names if n.casefold() == unknown["name"].casefold()]
    close = same_letters or difflib.get_close_matches(unknown["name"], names, n=3)
    return f" did you mean {' or '.join(close)}?" if close else ""


def install_usage_errors() -> None:
    """Make invoke's own command-line mistakes one `error:` line, under `invoke` too.

    invoke prints an unknown task or a missing argument without the `error:` prefix, and a
    flag value its type cannot take (`--steps abc`) as a traceback. The `invoke` binary
    runs its own Program, which imports tasks.py before it parses the task arguments, so
    wrapping the parsing steps here covers `uv run invoke …` and `dexops …` alike.

    While task arguments are parsed, the parser also knows only the tasks the command line
    names: invoke deep-copies every task's parser context on each parse (about 15 ms).
    """
    global _INSTALLED  # noqa: PLW0603 - patch once per process
    if _INSTALLED:
        return
    from invoke.exceptions import ParseError
    from invoke.parser import Parser
    from invoke.parser.context import ParserContext
    from invoke.program import Program

    words_attr = "_dexops_words"
    make_parser = Program._make_parser

    def guard(step: Callable[[Program], None]) -> Callable[[Program], None]:
        @functools.wraps(step)
        def parse(self: Program) -> None:
            try:
                step(self)
            except ParseError as exc:
                hint = did_you_mean(str(exc), self.collection)
                raise Exit(f"error: {mask(str(exc))}{hint}", code=ExitCode.USAGE) from None
            except ValueError as exc:
                # A typed flag given a value of another type (int("abc")).
                raise Exit(
                    f"error: bad flag value: {mask(str(exc))}", code=ExitCode.USAGE
                ) from None

        return parse

    def parse_tasks(self: Program) -> None:
        words = frozenset(
            part for word in self.argv for part in (word, word.partition("=")[2]) if part
        )
        setattr(self, words_attr, words)
        try:
            original_parse_tasks(self)
        finally:
            setattr(self, words_attr, None)

    def narrowed_parser(self: Program) -> Parser:
        words: frozenset[str] | None = getattr(self, words_attr, None)
        if words is None or self.collection is None:
            return make_parser(self)
        ignore = self.config.tasks.ignore_unknown_help
        contexts = [
            ParserContext(
                name=name,
                aliases=aliases,
                args=self.collection[name].get_arguments(ignore_unknown_help=ignore),
            )
            for name, aliases in self.collection.task_names.items()
            if name in words or not words.isdisjoint(aliases)
        ]
        return Parser(initial=self.initial_context, contexts=contexts)

    original_parse_tasks = Program.parse_tasks
    Program.parse_tasks = guard(parse_tasks)  # type: ignore[method-assign, assignment]
    Program.parse_cleanup = guard(Program.parse_cleanup)  # type: ignore[method-assign, assignment]
    Program._make_parser = narrowed_parser  # type: ignore[method-assign]
    _INSTALLED = True

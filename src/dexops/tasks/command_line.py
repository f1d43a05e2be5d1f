"""Usage mistakes on the command line: one `error:` line and exit code USAGE, under both programs.

invoke reports a command line it cannot parse (an unknown task or flag, a missing value) as a
bare message with exit code 1, and a typed flag given a value of another type (`--steps abc`)
as a ValueError traceback. The `dexops` script runs `DexopsProgram`, which turns both into
one line where invoke parses. The `invoke` binary runs its own Program, whose only step that
runs dexops code before it parses is the import of tasks.py: there `namespace(argv)` parses
the command line first, with invoke's own parser, through `check_command_line`.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.parser import Parser, ParseResult
from invoke.program import Program

from dexops.errors import ExitCode
from dexops.secrets import mask

_UNKNOWN = re.compile(r"^No idea what '(?P<name>.+)' is!$")


def named_words(argv: Sequence[str]) -> set[str]:
    """The words of a command line that may name a task: each word, and a flag's `=VALUE`.

    invoke enters a task's context only at a word that is its name, and `--help=TASK` asks
    for the help of TASK.
    """
    return {part for word in argv for part in (word, word.partition("=")[2]) if part}


def repo_from_argv(argv: Sequence[str]) -> str | None:
    """The `--repo` a command line gives: per-component tasks must exist before it is parsed."""
    for index, arg in enumerate(argv):
        if arg == "--repo" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--repo="):
            return arg.removeprefix("--repo=")
    return None


def did_you_mean(message: str, collection: Collection | None) -> str:
    """For invoke's unknown-task message, the close task names (difflib), as a suffix."""
    unknown = _UNKNOWN.match(message)
    if unknown is None or collection is None:
        return ""
    import difflib

    names = [n for name, aliases in collection.task_names.items() for n in (name, *aliases)]
    # Task names keep a component's capitals: the name typed in other case is the one meant.
    same_letters = [n for n in names if n.casefold() == unknown["name"].casefold()]
    close = same_letters or difflib.get_close_matches(unknown["name"], names, n=3)
    return f" did you mean {' or '.join(close)}?" if close else ""


def usage_error(exc: ParseError | ValueError, collection: Collection | None) -> Exit:
    """The Exit that prints a parse failure as one `error:` line with exit code USAGE."""
    if isinstance(exc, ParseError):
        hint = did_you_mean(str(exc), collection)
        return Exit(f"error: {mask(str(exc))}{hint}", code=ExitCode.USAGE)
    # A typed flag given a value of another type: int("abc") inside invoke's parser.
    return Exit(f"error: bad flag value: {mask(str(exc))}", code=ExitCode.USAGE)


class DexopsProgram(Program):
    """invoke's Program whose command-line mistakes are one `error:` line and USAGE."""

    def parse_core_args(self) -> None:
        """Parse invoke's core flags; a mistake (`--list-depth x`) is a usage error."""
        try:
            super().parse_core_args()
        except (ParseError, ValueError) as exc:
            raise usage_error(exc, None) from None

    def parse_tasks(self) -> None:
        """Parse the tasks and their flags; a mistake is a usage error."""
        try:
            super().parse_tasks()
        except (ParseError, ValueError) as exc:
            raise usage_error(exc, self.collection) from None

    def parse_cleanup(self) -> None:
        """The steps after parsing (`--help TASK`, `--list`); an unknown TASK is a usage error."""
        try:
            super().parse_cleanup()
        except ParseError as exc:
            raise usage_error(exc, self.collection) from None


def _parse(argv: Sequence[str], collection: Collection) -> None:
    """Parse `argv` as the `invoke` binary will: its core flags first, then the tasks."""
    initial = Program().initial_context  # the `invoke` binary's: no bundled namespace
    core = Parser(initial=initial, ignore_unknown=True).parse_argv(list(argv))
    # A task's context is needed only where a word names it.
    words = named_words(argv)
    contexts = [c for c in collection.to_contexts() if words & {c.name, *c.aliases}]
    parser = Parser(initial=initial, contexts=contexts)
    tasks: ParseResult = parser.parse_argv(core.unparsed)
    for asked in (core[0].args.help.value, tasks[0].args.help.value):
        # `--help TASK` for a TASK it lacks: invoke says so only after parsing.
        if isinstance(asked, str) and asked not in parser.contexts:
            raise ParseError(f"No idea what '{asked}' is!")


def check_command_line(
    argv: Sequence[str], collection: Collection, offered: Container[str]
) -> None:
    """Raise a usage error for a mistake `argv` makes with the tasks of `collection`.

    `offered` are the top-level names dexops provides. A word that names none of them is
    left to invoke: the tasks.py may add tasks of its own after `namespace(argv)`, which
    this parse cannot see, and invoke then reports the word itself if no task has it.
    """
    try:
        _parse(argv, collection)
    except ParseError as exc:
        unknown = _UNKNOWN.match(str(exc))
        if unknown is not None:
            word = unknown["name"]
            if not word.startswith("-") and word.split(".")[0] not in offered:
                return
        raise usage_error(exc, collection) from None
    except ValueError as exc:
        raise usage_error(exc, collection) from None

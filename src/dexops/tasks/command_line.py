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
from invoke.parser.context import ParserContext
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


def core_context(*, bundled: bool) -> ParserContext:
    """The core flags invoke parses: `invoke`, which loads a tasks.py, adds -c, -r, --no-dedupe.

    `invoke -r PATH` is its search root for a tasks.py: only after a task's name is `-r` `--repo`.
    """
    return Program(namespace=Collection() if bundled else None).initial_context


def given_repos(
    argv: Sequence[str], collection: Collection, *, bundled: bool, read_from: Container[str]
) -> set[str | None]:
    """The `--repo` values `argv` gives the tasks of the `read_from` collections (None: none given).

    The tasks of those collections come from a repository's configuration, so they must exist
    before invoke parses `argv`: `collection` holds them under the names `argv` gives. invoke's
    own parser reads `argv`, so every spelling it takes (`--repo P`, `--repo=P`, `-r P`, `-rP`,
    `-r=P`) counts, and only where it is that task's flag, not a value or the `invoke` binary's
    `-r` (its search root). The parse stops at a word none of the tasks has: a tasks.py may add
    tasks of its own, whose flags only invoke knows. Raises ParseError or ValueError as invoke
    would for a command line it cannot parse.
    """
    core, parser = _parser(argv, collection, core_context(bundled=bundled), ignore_unknown=True)
    return {
        context.args["repo"].value
        for context in parser.parse_argv(core.unparsed)
        if context.name and context.name.split(".")[0] in read_from and "repo" in context.args
    }


def completed_words(argv: Sequence[str]) -> list[str]:
    """The command line that `--complete -- PROGRAM WORDS...` asks to complete: its WORDS."""
    return list(argv[argv.index("--") + 2 :]) if "--" in argv else []


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


def _parser(
    argv: Sequence[str], collection: Collection, initial: ParserContext, *, ignore_unknown: bool
) -> tuple[ParseResult, Parser]:
    """The core flags of `argv` parsed as invoke parses them, and the parser of the tasks after."""
    core = Parser(initial=initial, ignore_unknown=True).parse_argv(list(argv))
    # A task's context is needed only where a word names it.
    words = named_words(argv)
    contexts = [c for c in collection.to_contexts() if words & {c.name, *c.aliases}]
    return core, Parser(initial=initial, contexts=contexts, ignore_unknown=ignore_unknown)


def _parse(argv: Sequence[str], collection: Collection) -> None:
    """Parse `argv` as the `invoke` binary will: its core flags first, then the tasks."""
    core, parser = _parser(argv, collection, core_context(bundled=False), ignore_unknown=False)
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

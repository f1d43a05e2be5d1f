"""`dexops` console script: the invoke namespace without a tasks.py."""

from __future__ import annotations

from invoke.exceptions import Exit, ParseError
from invoke.parser import Parser, ParserContext
from invoke.program import Program

from dexops import __version__
from dexops.tasks import namespace

USAGE_ERROR = 2


class DexopsProgram(Program):
    """invoke's Program whose command-line mistakes read `error: …` like every other failure."""

    # While task arguments are parsed: every word of the command line (and what follows a
    # `=`). invoke deep-copies every task's parser context on each parse; only tasks named
    # here can match, so the others are left out (about 15 ms of every run).
    _words: frozenset[str] | None = None

    def parse_tasks(self) -> None:
        """Parse task arguments; an unknown task or flag is one `error:` line."""
        self._words = frozenset(
            part for word in self.argv for part in (word, word.partition("=")[2]) if part
        )
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(f"error: {exc}", code=USAGE_ERROR) from None
        finally:
            self._words = None

    def _make_parser(self) -> Parser:
        """The task parser; while parsing tasks, it knows only the tasks the command line names."""
        words = self._words
        if words is None:
            return super()._make_parser()
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


def program() -> DexopsProgram:
    """The dexops program over the namespace of the repository in the working directory."""
    return DexopsProgram(namespace=namespace(), name="dexops", binary="dexops", version=__version__)


def main() -> None:
    """Run the dexops program."""
    program().run()


if __name__ == "__main__":
    main()

"""`dexops` console script: the invoke namespace without a tasks.py."""

from __future__ import annotations

from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from dexops import __version__
from dexops.tasks import namespace

USAGE_ERROR = 2


class DexopsProgram(Program):
    """invoke's Program whose command-line mistakes read `error: …` like every other failure."""

    def parse_tasks(self) -> None:
        """Parse task arguments; an unknown task or flag is one `error:` line."""
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(f"error: {exc}", code=USAGE_ERROR) from None


def program() -> DexopsProgram:
    """The dexops program over the namespace of the repository in the working directory."""
    return DexopsProgram(namespace=namespace(), name="dexops", binary="dexops", version=__version__)


def main() -> None:
    """Run the dexops program."""
    program().run()


if __name__ == "__main__":
    main()

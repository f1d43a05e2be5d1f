"""`dexops` console script: the invoke namespace without a tasks.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from dexops import __version__
from dexops.invocation import set_program
from dexops.tasks import tasks_for
from dexops.tasks.command_line import DexopsProgram


def program(argv: Sequence[str] | None = None) -> DexopsProgram:
    """The dexops program over the namespace of the repository in the working directory.

    Given the command line it will run (`argv`, without the program's name), the namespace
    holds just the tasks it names.
    """
    # Messages name the program the user ran.
    set_program("dexops")
    return DexopsProgram(
        namespace=tasks_for(argv), name="dexops", binary="dexops", version=__version__
    )


def main() -> None:
    """Run the dexops program."""
    try:
        program(sys.argv[1:]).run()
    except BrokenPipeError:
        # The reader left early (`dexops --list | head`): no traceback, and no second error
        # when Python flushes stdout on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()

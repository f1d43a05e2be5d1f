"""`dexops` console script: the invoke namespace without a tasks.py."""

from __future__ import annotations

from invoke.program import Program

from dexops import __version__
from dexops.tasks import namespace


def program() -> Program:
    """The dexops program over the namespace of the repository in the working directory."""
    # namespace() also makes invoke's usage mistakes one `error:` line (tasks._edge).
    return Program(namespace=namespace(), name="dexops", binary="dexops", version=__version__)


def main() -> None:
    """Run the dexops program."""
    program().run()


if __name__ == "__main__":
    main()

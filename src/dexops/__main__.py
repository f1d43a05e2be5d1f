"""`dexops` console script: the invoke namespace without a tasks.py."""

from __future__ import annotations

from invoke.program import Program

from dexops import __version__
from dexops.tasks import namespace


def main() -> None:
    """Run the dexops program."""
    Program(namespace=namespace(), name="dexops", binary="dexops", version=__version__).run()


if __name__ == "__main__":
    main()

"""Outside programs on PATH: whether one is installed and which version it says it is."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dexops.adapters.tool import run_tool
from dexops.errors import DexopsError

# A version query that hangs (a docker client waiting on its daemon) must not stall a check-up.
VERSION_TIMEOUT = 10.0

# How each program is asked for its version, when `--version` is not the way.
_VERSION_ARGS: dict[str, tuple[str, ...]] = {"kubectl": ("version", "--client")}


@dataclass(frozen=True, slots=True)
class Program:
    """An installed program: where it is and the first line of its version output."""

    path: str
    version: str


def probe(name: str) -> Program | None:
    """The program `name` on PATH and its version line, or None when it is not installed."""
    path = shutil.which(name)
    if path is None:
        return None
    argv = [path, *_VERSION_ARGS.get(name, ("--version",))]
    try:
        done = run_tool(argv, what=f"{name} --version", timeout=VERSION_TIMEOUT, error=DexopsError)
    except DexopsError:
        return Program(path, "installed; its version did not answer")
    lines = (done.stdout or done.stderr).strip().splitlines()
    return Program(path, lines[0].strip() if lines else "installed")


def probe_all(names: Sequence[str]) -> dict[str, Program | None]:
    """`probe` of every program, side by side.

    Each answer is a process start, and one may take its whole `VERSION_TIMEOUT` (a docker
    client waiting on its daemon): asked together, a check-up waits for the slowest once.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(probe, names), strict=True))

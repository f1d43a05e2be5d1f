"""Running an outside program: an argument list, a time limit, and its own words on failure."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from dexops.errors import DexopsError, ToolMissingError


def run_tool(
    argv: Sequence[str],
    *,
    what: str,
    timeout: float,
    error: type[DexopsError],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    hint: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run `argv` to completion; the caller judges its exit status.

    A program that is not installed is a `ToolMissingError`; one still running after
    `timeout` seconds is killed and reported as `error`, naming `what`, the limit and `hint`.
    """
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    except FileNotFoundError:
        raise ToolMissingError(f"{argv[0]} is not installed (needed for {what})") from None
    except subprocess.TimeoutExpired:
        raise error(f"{what} did not finish within {timeout:g}s{hint}") from None


def failure_line(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed run said last on stderr (its own error line), else its exit status."""
    lines = [" ".join(line.split()) for line in done.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"


def run_checked(
    argv: Sequence[str],
    *,
    what: str,
    timeout: float,
    error: type[DexopsError],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run `argv` and return its stdout; a non-zero exit is `error` with the tool's last words."""
    done = run_tool(argv, what=what, timeout=timeout, error=error, env=env, cwd=cwd)
    if done.returncode != 0:
        raise error(f"{what} failed: {failure_line(done)}")
    return done.stdout

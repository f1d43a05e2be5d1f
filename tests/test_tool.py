"""The one tool runner every CLI adapter uses: missing programs, time limits, the tool's words."""

from __future__ import annotations

import sys

import pytest

from dexops.adapters.tool import failure_line, run_checked, run_tool
from dexops.errors import DexopsError, ToolMissingError


class ProbeError(DexopsError):
    """The error a caller asks for."""


def test_a_missing_program_is_tool_missing() -> None:
    with pytest.raises(ToolMissingError, match=r"no-such-tool-here is not installed.*probing"):
        run_tool(["no-such-tool-here"], what="probing", timeout=5, error=ProbeError)


def test_a_program_past_its_time_limit_is_killed_and_named() -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(ProbeError, match=r"^sleeping did not finish within 0.5s$"):
        run_tool(argv, what="sleeping", timeout=0.5, error=ProbeError)


def test_a_failure_carries_the_tools_own_last_line_not_a_status() -> None:
    script = "import sys; print('progress', file=sys.stderr); print('ERROR: no python3.99', file=sys.stderr); sys.exit(3)"  # noqa: E501
    with pytest.raises(ProbeError, match=r"^building failed: ERROR: no python3.99$"):
        run_checked([sys.executable, "-c", script], what="building", timeout=10, error=ProbeError)


def test_a_silent_failure_says_its_exit_status() -> None:
    done = run_tool(
        [sys.executable, "-c", "raise SystemExit(7)"], what="x", timeout=10, error=ProbeError
    )
    assert failure_line(done) == "exit status 7"


def test_success_returns_stdout() -> None:
    out = run_checked([sys.executable, "-c", "print('hi')"], what="x", timeout=10, error=ProbeError)
    assert out == "hi\n"

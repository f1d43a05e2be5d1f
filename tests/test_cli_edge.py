"""Usage mistakes are one `error:` line through `invoke` itself, not only through `dexops`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.gitrepo import GitRepo


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (("rollback", "--env", "dev", "--steps", "abc"), "'abc'"),
        (("history", "--env", "dev", "--limit", "x"), "'x'"),
        (("argocd.wait", "--env", "dev", "--timeout", "soon"), "'soon'"),
        (("release.nosuch",), "release.nosuch"),
        (("version.bump",), "component"),
        (("version.show", "--bogus"), "--bogus"),
    ],
)
def test_invoke_binary_reports_usage_errors_in_one_line(
    dex_repo: GitRepo, argv: tuple[str, ...], names: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *argv],
        cwd=dex_repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert names in lines[0]

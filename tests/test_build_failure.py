"""A failed build says what the failing tool said, not a temporary folder and an exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from dexops.errors import PackageError
from dexops.workflows.package import build
from tests.conftest import require_tool


def test_the_installers_own_error_line_is_the_reason(tmp_path: Path) -> None:
    require_tool("uv", "pip install uv")
    project = tmp_path / "lib"
    (project / "src/lib").mkdir(parents=True)
    (project / "src/lib/__init__.py").write_text("")
    # A build requirement uv cannot install: `python -m build` then ends with
    # "ERROR Command ['…uv', 'pip', 'install', …, '/tmp/build-env-…/bin/python'] returned
    # non-zero exit status 1"; uv's own line above it says why.
    (project / "pyproject.toml").write_text(
        '[project]\nname = "lib"\nversion = "1.0"\n'
        '[build-system]\nrequires = ["hatchling @ file:///nonexistent/hatchling"]\n'
        'build-backend = "hatchling.build"\n'
    )
    with pytest.raises(PackageError) as caught:
        build(project, tmp_path / "dist")
    message = str(caught.value)
    assert (
        message
        == "build of lib failed: error: Distribution not found at: file:///nonexistent/hatchling"
    )
    assert "build-env" not in message
    assert "exit status" not in message

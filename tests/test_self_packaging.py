"""dexops' own sdist and wheel: built, checked by twine, and holding exactly the right files."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from dexops import __version__

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.package


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--installer=uv", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    files = sorted(out.iterdir())
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], check=True
    )
    return {p.suffix: p for p in files}


def _tracked(*paths: str) -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line for line in out.splitlines() if line}


def test_wheel_holds_the_package_and_nothing_else(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists[".whl"]) as wheel:
        names = set(wheel.namelist())
    dist_info = f"dexops-{__version__}.dist-info"
    expected = {name.removeprefix("src/") for name in _tracked("src/dexops")} | {
        f"{dist_info}/METADATA",
        f"{dist_info}/WHEEL",
        f"{dist_info}/RECORD",
        f"{dist_info}/entry_points.txt",
        f"{dist_info}/licenses/LICENSE",
    }
    assert names == expected
    assert "dexops/py.typed" in names
    assert "dexops/schemas/tool-dexops.schema.json" in names


def test_sdist_holds_what_its_tests_need(dists: dict[str, Path]) -> None:
    sdist = dists[".gz"]
    prefix = f"dexops-{__version__}/"
    with tarfile.open(sdist) as archive:
        names = {m.name.removeprefix(prefix) for m in archive.getmembers() if m.isfile()}
    folders = ("src/dexops", "tests", "examples", "scripts", "docs", "benchmarks", ".github")
    expected = _tracked(*folders) | {
        "noxfile.py",
        "tasks.py",
        "uv.lock",
        "README.md",
        "CHANGELOG.md",
        "CONTRIBUTING.md",
        "LICENSE",
        "pyproject.toml",
        "PKG-INFO",
        ".gitignore",  # hatchling always ships it so the sdist rebuilds the same files
    }
    assert names == expected

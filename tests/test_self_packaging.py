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


# The exact file lists, written out: a stray file (or a missing one) in either archive fails
# the test. Adding a file to the package or the sdist means adding its line here.
MANIFESTS = Path(__file__).resolve().parent / "data" / "packaging"


def _manifest(name: str) -> set[str]:
    lines = (MANIFESTS / name).read_text(encoding="utf-8").splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def test_wheel_holds_exactly_its_manifest(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists[".whl"]) as wheel:
        names = set(wheel.namelist())
    dist_info = f"dexops-{__version__}.dist-info"
    expected = {name.replace("{dist_info}", dist_info) for name in _manifest("wheel.txt")}
    assert sorted(names - expected) == [], "files in the wheel that wheel.txt does not name"
    assert sorted(expected - names) == [], "files wheel.txt names that the wheel lacks"
    assert "dexops/py.typed" in names
    assert "dexops/schemas/tool-dexops.schema.json" in names


def test_sdist_holds_exactly_its_manifest(dists: dict[str, Path]) -> None:
    prefix = f"dexops-{__version__}/"
    with tarfile.open(dists[".gz"]) as archive:
        names = {m.name.removeprefix(prefix) for m in archive.getmembers() if m.isfile()}
    expected = _manifest("sdist.txt")
    assert sorted(names - expected) == [], "files in the sdist that sdist.txt does not name"
    assert sorted(expected - names) == [], "files sdist.txt names that the sdist lacks"

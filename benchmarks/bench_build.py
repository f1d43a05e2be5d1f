"""Building the example's library with `build`: pip isolation versus uv as the installer.

Run: `uv run python benchmarks/bench_build.py [--repeat 3]`.

Each round builds the sdist and the wheel from it (what `package.validate` does) into a
fresh output folder, with `python -m build` (pip in a venv) and with
`python -m build --installer=uv`. One warm-up round per installer fills the caches first,
so the numbers compare installers, not downloads. Prints both medians and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent.parent / "examples" / "dex-monorepo" / "packages"
LIBRARY = LIBRARY / "dataenginex"


def build_once(source: Path, out: Path, installer: str) -> float:
    """Build sdist then wheel into an empty `out`; return the wall time in seconds."""
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-m", "build", f"--installer={installer}", "--outdir", str(out)]
    started = time.perf_counter()
    done = subprocess.run([*argv, str(source)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"build with {installer} failed:\n{done.stdout}\n{done.stderr}")
    built = sorted(p.name for p in out.iterdir())
    if len(built) != 2:
        raise SystemExit(f"build with {installer} made {built}")
    return elapsed


def main() -> None:
    """Time both installers on a copy of the library (the checkout stays untouched)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("uv") is None:
        raise SystemExit("uv is not installed (pip install uv)")
    with tempfile.TemporaryDirectory(prefix="dexops-bench-build-") as scratch:
        source = Path(scratch) / "dataenginex"
        shutil.copytree(LIBRARY, source, ignore=shutil.ignore_patterns("__pycache__", "dist"))
        out = Path(scratch) / "dist"
        results: dict[str, float] = {}
        for installer in ("pip", "uv"):
            build_once(source, out, installer)  # warm-up: caches, not installers
            results[installer] = statistics.median(
                build_once(source, out, installer) for _ in range(args.repeat)
            )
    print(f"build with pip (venv + pip)   {results['pip']:6.2f} s  (median of {args.repeat})")
    print(f"build with --installer=uv     {results['uv']:6.2f} s")
    print(f"ratio pip / uv: {results['pip'] / results['uv']:.2f}x")


if __name__ == "__main__":
    main()

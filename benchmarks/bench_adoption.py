"""`init`, `doctor` and `report` on the 20,000-commit repository, as the console script runs them.

Run: `uv run python benchmarks/bench_adoption.py [--commits 20000] [--repeat 3]`.

Writes the synthetic monorepo (benchmarks/synthetic_repo.py: 400 tags, 5,000 overlay
revisions, a bare origin), then prints the median wall time of
  - `init --dry-run` on a clone whose `[tool.dexops]` was removed (what init infers),
  - `doctor` (every row; tool version probes run side by side),
  - `report --html` (the metrics walk plus status, rendered with uPlot inlined),
  - `metrics --json` beside it, the walk the report reuses,
  - `python -c "import invoke"`, the floor every task pays.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_repo import add_origin, generate


def _median_seconds(argv: list[str], cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dexops = shutil.which("dexops")
    if dexops is None:
        sys.exit("dexops is not on PATH: run with `uv run`")
    with tempfile.TemporaryDirectory() as scratch:
        repo = generate(Path(scratch) / "repo", commits=args.commits, overlay_revisions=5_000)
        add_origin(repo)
        bare = Path(scratch) / "bare"
        subprocess.run(["git", "clone", "--quiet", str(repo.path), str(bare)], check=True)
        pyproject = bare / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8")
        pyproject.write_text(text[: text.index("[tool.dexops]")], encoding="utf-8")
        page = Path(scratch) / "report.html"
        rows = [
            ("init --dry-run", [dexops, "init", "--dry-run"], bare),
            ("doctor", [dexops, "doctor"], repo.path),
            ("report --html", [dexops, "report", "--html", str(page)], repo.path),
            ("metrics --json", [dexops, "metrics", "--json"], repo.path),
            ("import invoke", [sys.executable, "-c", "import invoke"], repo.path),
        ]
        print(f"{args.commits} commits, median of {args.repeat}:")
        for name, argv, cwd in rows:
            print(f"  {name:<16} {_median_seconds(argv, cwd, args.repeat):6.2f} s")


if __name__ == "__main__":
    main()

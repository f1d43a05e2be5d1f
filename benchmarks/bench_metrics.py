"""`metrics` on a generated 20,000-commit repository against the raw git commands it needs.

Run: `uv run python benchmarks/bench_metrics.py [--commits 20000] [--repeat 5]`.
Prints both medians and their ratio (the target is at most 2x).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures_metrics import generate

from dexops.domain.delivery_metrics import Window
from dexops.workflows.metrics import delivery_metrics, read_refs
from dexops.workflows.workspace import Workspace

START = 1_600_000_000
BATCH = 8  # changes per merged feature; a batch writes about 11 commits


def raw_git(ws: Workspace) -> None:
    """The git processes `metrics` runs, with their output read and nothing else done."""
    refs = read_refs(ws)
    commands = [
        [
            "for-each-ref",
            "--format=%(refname)%1f%(creatordate:unix)",
            "refs/tags",
            "refs/heads",
            "refs/remotes",
        ],
        ["rev-list", "--parents", "--timestamp", "--branches", "--remotes", "--tags"],
    ]
    for env in ws.config.promotion_order():
        ref = refs.branch_ref(env.branch)
        assert ref is not None
        commands.append(
            [
                "log",
                "--reverse",
                "--format=%x1e%H%x1f%ct%x1f%(trailers:only,unfold)",
                ref,
                "--",
                env.kustomization,
            ]
        )
    for command in commands:
        subprocess.run(["git", *command], cwd=ws.root, capture_output=True, check=True)


def timed(action: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dexops-bench-") as tmp:
        began = time.perf_counter()
        history = generate(Path(tmp) / "repo", start=START, batches=args.commits // 11, size=BATCH)
        history.finish()
        made = time.perf_counter() - began
        ws = Workspace.open(str(history.path))
        window = Window(START, history.clock)
        report = delivery_metrics(ws, window=window)
        deployments = sum(e.count for e in report.environments)
        leads = sum(len(e.lead_times) for e in report.environments)
        print(
            f"repository: {history.commits} commits, {deployments} deployments, "
            f"{leads} lead times (generated in {made:.1f}s)"
        )
        git_time = timed(lambda: raw_git(ws), args.repeat)
        metrics_time = timed(lambda: delivery_metrics(ws, window=window), args.repeat)
        print(f"raw git commands: {git_time * 1000:.0f} ms (median of {args.repeat})")
        print(f"metrics:          {metrics_time * 1000:.0f} ms (median of {args.repeat})")
        print(f"ratio metrics / raw git: {metrics_time / git_time:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()

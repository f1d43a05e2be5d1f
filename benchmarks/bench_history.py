"""`history` over an overlay with 5,000 revisions, against the raw git it needs.

Run: `uv run python benchmarks/bench_history.py [--revisions 5000] [--repeat 5]`.

Prints the medians of
  - dexops' history read (one `git log --raw` + one batched `git cat-file`, parsed),
  - the raw `git log -p` over the overlay file (the target: history within 3x of it),
  - one `git show <commit>:<overlay>` per revision (the target: history at least 10x faster),
and both ratios. The repository is written with one `git fast-import` process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dexops.domain import holds
from dexops.workflows.environments import read_history
from dexops.workflows.workspace import Workspace

OVERLAY = "infra/overlays/prod/kustomization.yaml"
PYPROJECT = """\
[project]
name = "app"
version = "1.0.0"

[tool.dexops.components.app]
kind = "app"
path = "."
image = "ghcr.io/acme/app"

[tool.dexops.environments.prod]
overlay = "infra/overlays/prod"
branch = "main"
"""


def overlay(tag: str, revision: int) -> str:
    return (
        "# prod overlay (generated)\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "namespace: app-prod\n"
        "resources:\n  - ../../base\n"
        f"replicas:\n  - name: app\n    count: {1 + revision % 3}  # scaled\n"
        "images:\n"
        "  - name: acme/app\n"
        "    newName: ghcr.io/acme/app\n"
        f"    newTag: {tag}  # updated by dexops\n"
    )


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def generate(root: Path, revisions: int) -> None:
    """A repository whose overlay has `revisions` revisions among as many other commits."""
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(root)], check=True)
    stream = bytearray()
    when = 1_600_000_000
    actions: tuple[holds.Action, ...] = ("deploy", "promote", "rollback")
    for i in range(revisions * 2):
        when += 600
        files: list[tuple[str, str]] = []
        if i == 0:
            files.append(("pyproject.toml", PYPROJECT))
        if i % 2 == 0:
            n = i // 2
            tag = f"sha-{n:08x}"
            action = actions[n % 3]
            files.append((OVERLAY, overlay(tag, n)))
            trailers = holds.Trailers(
                action, "prod", image_tag=tag, previous_tag=f"sha-{max(n - 1, 0):08x}"
            )
            message = holds.commit_message(f"chore: {action} {tag} to prod", "", [trailers])
        else:
            files.append((f"src/module{i % 50}.py", f"VALUE = {i}\n"))
            message = f"feat: change {i}\n"
        stream += b"commit refs/heads/main\n"
        stream += b"mark :%d\n" % (i + 1)
        stream += b"committer Bench <bench@example.com> %d +0000\n" % when
        stream += _data(message)
        if i:
            stream += b"from :%d\n" % i
        for path, text in files:
            stream += f"M 100644 inline {path}\n".encode() + _data(text)
    stream += b"done\n"
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"], cwd=root, input=bytes(stream), check=True
    )
    subprocess.run(["git", "checkout", "--quiet", "main"], cwd=root, check=True)
    (root / "infra/base").mkdir(parents=True, exist_ok=True)


def timed(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--revisions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dexops-bench-history-") as tmp:
        root = Path(tmp) / "repo"
        start = time.perf_counter()
        generate(root, args.revisions)
        print(f"generated {args.revisions * 2} commits in {time.perf_counter() - start:.1f}s")
        ws = Workspace.open(str(root))
        env = ws.config.environment("prod")

        def history() -> None:
            revisions = read_history(ws, env, ref="main")
            assert len(revisions) == args.revisions, len(revisions)

        def raw_log() -> None:
            subprocess.run(
                ["git", "log", "-p", "main", "--", OVERLAY],
                cwd=root,
                capture_output=True,
                check=True,
            )

        commits = subprocess.run(
            ["git", "log", "--format=%H", "main", "--", OVERLAY],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

        def show_each() -> None:
            for commit in commits:
                subprocess.run(
                    ["git", "show", f"{commit}:{OVERLAY}"],
                    cwd=root,
                    capture_output=True,
                    check=True,
                )

        ours = timed(history, args.repeat)
        raw = timed(raw_log, args.repeat)
        each = timed(show_each, 1)
        print(f"history (log --raw + cat-file --batch, parsed): {ours * 1000:8.1f} ms")
        print(f"raw git log -p over the overlay:                 {raw * 1000:8.1f} ms")
        print(f"one git show per revision ({len(commits)}):          {each * 1000:8.1f} ms")
        print(f"ratio history / raw git log -p:   {ours / raw:5.2f}x (target <= 3x)")
        print(f"ratio per-revision show / history: {each / ours:5.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()

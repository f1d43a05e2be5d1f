"""`publish.<library>`'s change detection on 20,000 commits and 400 tags, against raw git.

Run: `uv run python benchmarks/bench_change_detection.py [--commits 20000] [--tags 400]
[--repeat 7] [--repo PATH]`.

The repository (benchmarks/synthetic_repo.py) has a library tag on HEAD with only app
changes since the previous library tag, so the task resolves the tag, finds the previous
release in PEP 440 order among the ancestors, diffs the library's paths and stops:
"nothing to publish". Prints the medians of
  - `python -c "import invoke"` (the bare start-up every invoke task pays),
  - the task, as a process: `python -m dexops publish.dataenginex --json`,
  - the raw git commands the decision needs (tag at HEAD, tag list, ancestry, diff),
and the ratio (task - start-up) / raw git; the target is at most 1.5.

Python runs as it does after `pip install` (which compiles bytecode at install time): the
script first byte-compiles dexops and the environment's site-packages. Without that, an
environment made by `uv sync` under PYTHONDONTWRITEBYTECODE recompiles invoke on every start,
and invoke itself never writes bytecode for modules imported while a task runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_repo import LIB, generate

TARGET = 1.5


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    """Median wall time of `run` after one warm-up call."""
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _git(repo: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def raw_git(repo: Path, previous: str) -> None:
    """What a shell script needs for the same decision, given the previous tag's name."""
    head = _git(repo, "rev-parse", "HEAD").strip()
    _git(
        repo,
        "for-each-ref",
        "--format=%(refname:strip=2) %(objectname) %(*objectname)",
        "refs/tags/dataenginex-v*",
    )
    _git(repo, "merge-base", "--is-ancestor", f"refs/tags/{previous}", head)
    _git(repo, "diff", "--name-only", f"refs/tags/{previous}", head, "--", LIB)


def compile_bytecode() -> dict[str, str]:
    """Byte-compile dexops and site-packages as an install would; the env to run with."""
    import sysconfig

    import dexops

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    paths = [str(Path(dexops.__file__).parent), sysconfig.get_paths()["purelib"]]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *paths],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env


def task(repo: Path, env: dict[str, str]) -> dict[str, object]:
    """Run the task as a user would and return its plan."""
    done = subprocess.run(
        [sys.executable, "-m", "dexops", "publish.dataenginex", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"publish failed: {done.stderr.strip()}")
    plan: dict[str, object] = json.loads(done.stdout)
    return plan


def in_process(repo: Path) -> None:
    """The same decision as library calls: open the repository, resolve, detect changes."""
    from dexops.workflows.publish import detect_changes, resolve_tag
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(str(repo))
    component = ws.config.component("dataenginex")
    refs = ws.git.head_and_tags()
    resolved = resolve_tag(ws, component, None, refs)
    assert resolved is not None
    assert not detect_changes(ws, component, resolved, refs[1]).any


def main() -> None:
    """Generate (or reuse) the repository, time the three, print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--repo", type=Path, help="reuse a repository made by synthetic_repo.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dexops-bench-") as scratch:
        repo = args.repo
        if repo is None:
            started = time.perf_counter()
            made = generate(Path(scratch) / "repo", commits=args.commits, tags=args.tags)
            repo = made.path
            print(
                f"generated {made.commits} commits, {len(made.library_tags) + len(made.app_tags)} "
                f"tags with git fast-import in {time.perf_counter() - started:.1f}s"
            )
        env = compile_bytecode()
        plan = task(repo, env)
        if plan["decision"] != "skip" or not plan["previous_tag"]:
            raise SystemExit(f"expected a skip after a previous tag, got {plan}")
        previous = str(plan["previous_tag"])
        print(f"decision: {plan['decision']} ({plan['reason']})")

        startup = median_seconds(
            lambda: subprocess.run([sys.executable, "-c", "import invoke"], env=env, check=True),
            args.repeat,
        )
        whole = median_seconds(lambda: task(repo, env), args.repeat)
        raw = median_seconds(lambda: raw_git(repo, previous), args.repeat)
        library = median_seconds(lambda: in_process(repo), args.repeat)
    own = whole - startup
    ratio = own / raw
    print(f"python -c 'import invoke'       {startup * 1000:8.1f} ms")
    print(f"publish.dataenginex (process)   {whole * 1000:8.1f} ms")
    print(f"  minus the start-up            {own * 1000:8.1f} ms")
    print(f"raw git commands (4 processes)  {raw * 1000:8.1f} ms")
    print(f"in-process decision (3 git)     {library * 1000:8.1f} ms  ({library / raw:.2f}x raw)")
    if own <= 0:
        # Two medians of ~200 ms on a loaded machine: their difference can be pure noise.
        print("the start-up's noise exceeds the task's own time; bench_tasks.py measures it inside")
        return
    verdict = "within" if ratio <= TARGET else "OVER"
    print(f"ratio (task - start-up) / raw git: {ratio:.2f}x ({verdict} the {TARGET}x target)")


if __name__ == "__main__":
    main()

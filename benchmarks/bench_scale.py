"""The read tasks on an 80,000-commit monorepo: time against raw git, memory against revisions.

Run: `uv run python benchmarks/bench_scale.py [--commits 80000] [--revisions 2000 10000]
[--repeat 3] [--keep DIR]`.

Each size is a repository from `synthetic_repo.generate` (one `git fast-import`) with the
same number of commits and a different number of overlay revisions, pushed to a bare origin.
For `pipeline.plan`, `status`, `history` and `metrics` it prints

    ratio = (task - bare `python -c "import invoke"`) / raw git work        target <= 2

where the raw git work is what a shell script would need to give the same answer. As in
bench_tasks.py (whose helpers this uses) the start-up is left out two ways, `sub` (one best
time minus another) and `in` (timed inside the task's process from just after `import
invoke`), and the verdict takes the larger. Before measuring, the environment's bytecode is
written (`bench_tasks.precompile`, see bench_tasks.py). It also prints the task's peak RSS
(`resource.getrusage(RUSAGE_SELF)` read by the task's own process at its end) per size, so
that growth can be set against the growth of the overlay's revisions. `--keep DIR` keeps
the repositories there and reuses them on the next run with the same arguments.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tasks import (
    APP_PATHS,
    DEXOPS,
    LIB_PATHS,
    PYTHON,
    RUN_TASK,
    Command,
    after_import_invoke,
    best_seconds,
    precompile,
    probe,
    run,
    run_all,
    verdict,
)
from synthetic_repo import OVERLAY, SyntheticRepo, reuse_or_generate

TARGET = 2.0

PEAK = "dexops-bench-peak-kib="
# The task in a process that reports its own peak resident set at the end (KiB on Linux).
MEASURED = f"""
import resource, sys
{RUN_TASK}
sys.stderr.write("\\n{PEAK}%d\\n" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def raw_git_work(repo: SyntheticRepo) -> dict[str, list[Command]]:
    """The git commands each task needs at least, one after another."""
    fetch = ["git", "fetch", "--quiet", "--no-tags", "origin", "+main:refs/remotes/origin/main"]
    # The overlay's every version: its commits with their trailers and the lines they changed.
    overlay_log = ["git", "log", "-p", "--format=%H%x1f%cI%x1f%an%x1f%s%x1f%b",
                   "origin/main", "--", OVERLAY]  # fmt: skip
    # Whether dev is on hold: the overlay's newest commits, back to the first hold decision
    # or dexops deploy (here the newest overlay commit, a deploy.update one).
    hold_scan = ["git", "log", "--max-count=1", "--format=%H%x1f%b", "origin/main", "--", OVERLAY]
    app_last, lib_last = repo.app_tags[-1], repo.head_tag
    return {
        "pipeline.plan": [
            ["git", "rev-parse", "HEAD", "HEAD~1"],
            ["git", "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)",
             "refs/tags"],
            ["git", "ls-remote", "--tags", "--heads", "origin"],
            ["git", "diff", "--name-only", "HEAD~1", "HEAD"],
            ["git", "rev-list", "--count", f"{lib_last}..HEAD", "--", *LIB_PATHS],
            ["git", "rev-list", "--count", f"{app_last}..HEAD", "--", *APP_PATHS],
            # Whether each component's newest earlier tag is in HEAD's history (the gate).
            ["git", "for-each-ref", "--format=%(refname)", "--merged=HEAD",
             f"refs/tags/{lib_last}", f"refs/tags/{app_last}"],
            fetch,
            hold_scan,
            # The tag dev runs now (the plan's `current_tag`).
            ["git", "show", f"origin/main:{OVERLAY}"],
        ],
        "status": [
            fetch,
            ["git", "show", f"origin/main:{OVERLAY}"],
            # Who deployed the tag: the newest overlay commit, and the one before to see that
            # it changed the tag (here every overlay commit does); the patch shows the tags.
            ["git", "log", "--max-count=2", "-p", "--format=%H%x1f%cI", "origin/main", "--",
             OVERLAY],
            hold_scan,
        ],
        "history --env dev --limit 0": [fetch, overlay_log],
        "metrics": [
            ["git", "for-each-ref", "--format=%(refname)%x1f%(creatordate:unix)",
             "refs/tags", "refs/heads", "refs/remotes"],
            ["git", "rev-list", "--parents", "--timestamp", "--branches", "--remotes", "--tags"],
            overlay_log,
        ],
    }  # fmt: skip


INDEXES_SUBJECT = "chore: local indexes"


def local_indexes(repo: SyntheticRepo, port: int) -> None:
    """Point the library's indexes at a local server that knows no project (pushed).

    A kept repository has this commit from its last run, for another port: it is made again
    in its place, so every run plans the same history.
    """
    git = ["git", "-c", "user.name=Bench", "-c", "user.email=b@example.com"]
    last = subprocess.run(
        ["git", "log", "-1", "--format=%s"], cwd=repo.path, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    if last == INDEXES_SUBJECT:
        run(["git", "reset", "--quiet", "--hard", "HEAD~1"], repo.path)
    simple = f"http://127.0.0.1:{port}/simple/"
    tables = "".join(
        f'\n[tool.dexops.indexes.{name}]\nupload-url = "{simple}"\nsimple-url = "{simple}"\n'
        f'role = "{role}"\n'
        for name, role in (("local-test", "test"), ("local", "production"))
    )
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") + tables, encoding="utf-8")
    for argv in (
        [*git, "add", "pyproject.toml"],
        [*git, "commit", "--quiet", "-m", INDEXES_SUBJECT],
        [*git, "push", "--quiet", "--force", "origin", "main"],
    ):
        run(argv, repo.path)


# Linux keeps a process's peak RSS across exec, and a child started by this (large) process
# starts from this process's memory: a small launcher in between gives the task a clean count.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def peak_kib(args: list[str], cwd: Path) -> int:
    """The peak RSS of the task's own process (its git children not included)."""
    argv = [PYTHON, "-c", LAUNCHER, PYTHON, "-c", MEASURED, *args]
    return int(probe(argv, cwd, PEAK, f"dexops {' '.join(args)}"))


@dataclass(frozen=True)
class Figures:
    """One task's figures at one size (seconds, KiB)."""

    task: float  # the dexops console script, best wall time
    raw: float  # its raw git work, best wall time
    inside: float  # the task in its process from just after `import invoke` (see bench_tasks)
    subtracted: float  # (task - import invoke) / raw
    peak_kib: int

    @property
    def ratio(self) -> float:
        """The verdict's ratio: the larger of the two ways of leaving start-up out."""
        return max(self.subtracted, self.inside / self.raw)


def measure(repo: SyntheticRepo, repeat: int) -> dict[str, Figures]:
    """Per task: its time against the raw git time, two ways, and its peak RSS."""
    cwd = repo.path
    results = {}
    import_invoke = run_all([[PYTHON, "-c", "import invoke"]], cwd)
    for name, commands in raw_git_work(repo).items():
        task, raw, start = best_seconds(
            run_all([[DEXOPS, *name.split()]], cwd),
            run_all(commands, cwd),
            import_invoke,
            repeat=repeat,
        )
        inside = after_import_invoke(name.split(), cwd, repeat)
        results[name] = Figures(
            task, raw, inside, (task - start) / raw, peak_kib(name.split(), cwd)
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=80_000)
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--revisions", type=int, nargs=2, default=[2_000, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate (or reuse) the repositories here")
    args = parser.parse_args()
    precompile()
    sizes: dict[int, dict[str, Figures]] = {}
    # pipeline.plan asks the indexes what they hold: a local server that holds nothing.
    empty = tempfile.mkdtemp(prefix="dexops-scale-index-")
    server = subprocess.Popen(
        [PYTHON, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", empty],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split(" port ")[1].split()[0])
    with server, tempfile.TemporaryDirectory(prefix="dexops-scale-") as scratch:
        where = args.keep or Path(scratch)
        for revisions in args.revisions:
            started = time.perf_counter()
            path = where / f"repo-{revisions}"
            repo = reuse_or_generate(
                path,
                commits=args.commits,
                tags=args.tags,
                overlay_revisions=revisions,
                stray_head_tag=False,
            )
            local_indexes(repo, port)
            # What the generator made, as git counts it (the figure memory is set against).
            made = int(
                subprocess.run(
                    ["git", "rev-list", "--count", "main", "--", OVERLAY],
                    cwd=repo.path, check=True, capture_output=True, text=True,
                ).stdout
            )  # fmt: skip
            print(
                f"\nrepository: {repo.commits} commits, {made} overlay revisions "
                f"(ready in {time.perf_counter() - started:.1f}s); best of {args.repeat}"
            )
            sizes[revisions] = measure(repo, args.repeat)
            print(
                f"{'task':30} {'task ms':>8} {'raw git ms':>10} {'in ms':>7} {'sub ratio':>9} "
                f"{'in ratio':>8} {'peak MiB':>9}"
            )
            for name, f in sizes[revisions].items():
                print(
                    f"{name:30} {f.task * 1000:8.0f} {f.raw * 1000:10.0f} {f.inside * 1000:7.0f} "
                    f"{f.subtracted:9.2f} {f.inside / f.raw:8.2f} {f.peak_kib / 1024:9.1f}  "
                    f"{verdict(f.ratio, TARGET)}"
                )
        server.terminate()
    small, large = args.revisions
    print(f"\nmemory growth from {small} to {large} overlay revisions ({large / small:.1f}x):")
    for name in sizes[small]:
        low, high = sizes[small][name].peak_kib, sizes[large][name].peak_kib
        per = (high - low) / (large - small)
        print(
            f"{name:30} {low / 1024:7.1f} -> {high / 1024:7.1f} MiB  "
            f"({per:.2f} KiB per added revision)"
        )


if __name__ == "__main__":
    main()

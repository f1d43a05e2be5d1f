"""Task cost on a large monorepo, each as a ratio against the raw git work it needs.

Run: `uv run python benchmarks/bench_tasks.py [--repeat 10] [--keep DIR] [--only TASK]`.

The repository comes from `synthetic_repo.generate` (20,000 commits, 400 tags, a `dev`
overlay with 5,000 revisions) with a bare origin. Each task runs as CI runs it: the `dexops`
console script in a fresh process. The raw git commands it needs run one after another, as
one shell script would run them, and

    ratio = (task - bare `python -c "import invoke"`) / raw git        target <= 1.5

is reported two ways: `sub` subtracts the best time of `import invoke` from the best time of
the task (two noisy minimums of ~150-250 ms on a loaded 2-core machine), and `in` measures
the same quantity inside the task's own process, from just after `import invoke` to the
end. Both are printed; the verdict uses the larger.

Modules are imported from bytecode, as after any `pip install`: the environment this runs in
may set PYTHONDONTWRITEBYTECODE, and invoke itself turns bytecode writing off before it runs
a task (`--write-pyc` turns it back on), so a module a task imports lazily would be compiled
again on every run and the compiler measured instead of the task. `precompile` writes the
bytecode of the environment first, as pip does when it installs.

`publish --dry-run` change detection is timed in-process (the full dry run also builds the
distributions and reads the indexes, which is not git work). Start-up is reported as
`invoke --list` / `import invoke` (target <= 1.3) and a no-op task against `python -c pass`
and `import invoke`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_repo import OVERLAY, SyntheticRepo, reuse_or_generate

# A tasks.py as `dexops init` writes it (namespace(sys.argv[1:]) builds, and parses, only
# the tasks the command line names), plus a task that does nothing (start-up cost).
TASKS_PY = '''"""The dexops namespace and a task that does nothing (start-up cost)."""

import sys

from invoke.context import Context

from dexops.tasks import namespace
from dexops.tasks._edge import task


@task()
def noop(c: Context) -> None:
    """Do nothing."""


ns = namespace(sys.argv[1:])
ns.add_task(noop)
'''

LIB_PATHS = ["packages/dataenginex"]
APP_PATHS = ["src/careerdex", "Dockerfile", "pyproject.toml"]
TASK_TARGET = 1.5
LIST_TARGET = 1.3

Command = Sequence[str]


def _once(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def best_seconds(*actions: Callable[[], object], repeat: int) -> list[float]:
    """The best wall time of each action over `repeat` interleaved rounds, after a warm-up.

    Interleaving puts each measurement next to its baseline, and the minimum is the figure a
    loaded 2-core CI machine disturbs least (start-up is subtracted, so noise would dominate).
    """
    for action in actions:
        action()
    rounds = [[_once(action) for action in actions] for _ in range(repeat)]
    return [min(column) for column in zip(*rounds, strict=True)]


def run(argv: Command, cwd: Path) -> None:
    """Run one command, failing loudly: a benchmark of an error is no benchmark."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")


def run_all(commands: Sequence[Command], cwd: Path) -> Callable[[], None]:
    def action() -> None:
        for command in commands:
            run(command, cwd)

    return action


ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("GITHUB_", "GH_", "ARGOCD_"))
    # Bytecode, as after any install (see the module docstring).
    and k != "PYTHONDONTWRITEBYTECODE"
}
PYTHON = sys.executable
INVOKE = str(Path(sys.executable).with_name("invoke"))
DEXOPS = str(Path(sys.executable).with_name("dexops"))


def precompile() -> None:
    """Write the bytecode of dexops and the environment's packages, as `pip install` does."""
    import sysconfig

    import dexops

    places = {str(Path(dexops.__file__).parent), sysconfig.get_paths()["purelib"]}
    run([PYTHON, "-m", "compileall", "-q", "-j", "0", *sorted(places)], Path.cwd())


ELAPSED = "dexops-bench-elapsed="
# The task named on the script's command line, as the `dexops` console script runs it; a
# failure exits non-zero, success goes on to the lines after it.
RUN_TASK = """
from dexops.__main__ import main
sys.argv = ["dexops", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
"""
# The task in its own process, timed from just after `import invoke`: the start-up the ratio
# subtracts is left out by construction rather than by subtracting one minimum from another.
AFTER_IMPORT_INVOKE = f"""
import sys, time, invoke
started = time.perf_counter()
{RUN_TASK}
sys.stderr.write("\\n{ELAPSED}%f\\n" % (time.perf_counter() - started))
"""


# What every task pays after `import invoke` before any work of its own: invoke's Program
# running one empty task, and the two parsers a task cannot do without (TOML for the
# configuration, PEP 440 for versions). A task within TASK_TARGET of its raw git work r has
# (TASK_TARGET - 1) * r for all of its Python; below this floor that is out of reach.
FLOOR = f"""
import sys, time, invoke
started = time.perf_counter()
from invoke import Collection, Program, task

@task
def floor(c):
    import tomllib, packaging.version

Program(namespace=Collection(floor), name="floor").run(["floor", "floor"])
sys.stderr.write("\\n{ELAPSED}%f\\n" % (time.perf_counter() - started))
"""


def probe(argv: Sequence[str], cwd: Path, marker: str, what: str) -> str:
    """What a script says of its own process on stderr after `marker` (`what` it runs)."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, env=ENV)
    if done.returncode != 0 or marker not in done.stderr:
        raise SystemExit(f"{what} failed: {done.stderr}")
    return done.stderr.rpartition(marker)[2].strip()


def after_import_invoke(
    args: Sequence[str], cwd: Path, repeat: int, script: str = AFTER_IMPORT_INVOKE
) -> float:
    """The best time of a task from just after `import invoke` to its end, in its process."""
    what = f"dexops {' '.join(args)}"
    argv = [PYTHON, "-c", script, *args]
    runs = [float(probe(argv, cwd, ELAPSED, what)) for _ in range(repeat + 1)]
    return min(runs[1:])  # the first run is the warm-up


def latest(tags: list[str], before: str) -> str:
    """The tag just before `before` in history order."""
    return tags[tags.index(before) - 1]


def raw_git_work(repo: SyntheticRepo) -> dict[str, list[list[str]]]:
    """The git commands each task needs at least, as one shell script would run them."""
    lib_prev = latest(repo.library_tags, repo.head_tag)
    app_last = repo.app_tags[-1]
    return {
        "version.show": [
            ["git", "rev-parse", "HEAD"],
            ["git", "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)",
             "refs/tags"],
            # The latest release must be in HEAD's history (git tag --merged HEAD).
            ["git", "merge-base", "--is-ancestor", app_last, "HEAD"],
            ["git", "rev-list", "--count", f"{repo.head_tag}..HEAD", "--", *LIB_PATHS],
            ["git", "rev-list", "--count", f"{app_last}..HEAD", "--", *APP_PATHS],
        ],
        "version.changed": [
            ["git", "show", "HEAD~1:pyproject.toml"],
            ["git", "show", "HEAD~1:packages/dataenginex/pyproject.toml"],
        ],
        "release.dataenginex --dry-run": [
            ["git", "symbolic-ref", "--short", "HEAD"],
            ["git", "status", "--porcelain", "--untracked-files=no"],
            ["git", "ls-remote", "--tags", "origin"],
            ["git", "ls-remote", "--heads", "origin"],
            ["git", "for-each-ref", "refs/tags/dataenginex-v*"],
            ["git", "merge-base", "--is-ancestor", lib_prev, "HEAD"],
            ["git", "log", "--max-count=100", "--format=%H%x1f%s%x1f%b%x1e",
             f"{lib_prev}..HEAD", "--", *LIB_PATHS],
        ],
        "history --env dev": [
            ["git", "fetch", "--quiet", "origin", "main"],
            ["git", "log", "-p", "--format=%H%x1f%ct%x1f%an%x1f%s", "origin/main", "--",
             OVERLAY],
        ],
        "status": [
            ["git", "fetch", "--quiet", "origin", "main"],
            ["git", "show", f"origin/main:{OVERLAY}"],
            ["git", "log", "-1", "--format=%H%x1f%ct", "origin/main", "--", OVERLAY],
            # Whether the environment is on hold: a hold lives only in the trailers of commits
            # on the branch, the newest decision wins, and a release is an empty commit, so
            # only a search of the branch's messages can tell (docs/gitops.md).
            ["git", "log", "--format=%H", "-E", "--grep=^Dexops-Hold: (true|false)$",
             "origin/main"],
        ],
    }  # fmt: skip


def publish_detection(repo: SyntheticRepo, repeat: int) -> tuple[float, float]:
    """In-process: dexops' tag resolution and change detection against the raw git."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from dexops.workflows.publish import detect_changes, resolve_tag
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(str(repo.path))
    component = ws.config.component("dataenginex")

    def dexops() -> None:
        refs = ws.git.head_and_tags()
        tag = resolve_tag(ws, component, None, refs)
        if tag is None:
            raise SystemExit("the synthetic repository has no library tag at HEAD")
        detect_changes(ws, component, tag, refs[1])

    prev = latest(repo.library_tags, repo.head_tag)
    raw = run_all(
        [
            ["git", "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)",
             "refs/tags/dataenginex-v*"],
            ["git", "diff", "--name-only", prev, "HEAD", "--", *LIB_PATHS],
        ],
        repo.path,
    )  # fmt: skip
    ours, theirs = best_seconds(dexops, raw, repeat=repeat)
    return ours, theirs


def verdict(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else f"MISSED (target {target}x)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--only", action="append", default=[], help="report only this task (repeatable)"
    )
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--overlay-revisions", type=int, default=5_000)
    parser.add_argument("--keep", type=Path, help="generate (or reuse) the repository here")
    args = parser.parse_args()
    precompile()
    with tempfile.TemporaryDirectory(prefix="dexops-bench-") as scratch:
        where = args.keep or Path(scratch)
        started = time.perf_counter()
        repo = reuse_or_generate(
            where / "repo",
            commits=args.commits,
            tags=args.tags,
            overlay_revisions=args.overlay_revisions,
            stray_head_tag=False,  # HEAD is the library's latest release: re-planned, not new
        )
        (repo.path / "tasks.py").write_text(TASKS_PY, encoding="utf-8")
        print(
            f"repository: {repo.commits} commits, "
            f"{len(repo.library_tags) + len(repo.app_tags)} tags, "
            f"{args.overlay_revisions} overlay revisions "
            f"(ready in {time.perf_counter() - started:.1f}s); best of {args.repeat}"
        )
        report(repo, args.repeat, args.only)


def report(repo: SyntheticRepo, repeat: int, only: Sequence[str] = ()) -> None:
    cwd = repo.path
    python_pass = run_all([[PYTHON, "-c", "pass"]], cwd)
    import_invoke = run_all([[PYTHON, "-c", "import invoke"]], cwd)
    bare, with_invoke = best_seconds(python_pass, import_invoke, repeat=repeat)
    print(f"\n{'python -c pass':42} {bare * 1000:8.1f} ms")
    label = 'python -c "import invoke"'
    print(f"{label:42} {with_invoke * 1000:8.1f} ms")

    floor = after_import_invoke([], cwd, repeat, FLOOR)
    print(f"{'floor after import invoke':42} {floor * 1000:8.1f} ms  (see FLOOR)")

    print(
        f"\n{'task':34} {'task ms':>8} {'raw git ms':>10} {'in ms':>7} "
        f"{'sub ratio':>9} {'in ratio':>8}"
    )
    for name, commands in raw_git_work(repo).items():
        if only and name.split()[0] not in only:
            continue
        task, raw, start = best_seconds(
            run_all([[DEXOPS, *name.split()]], cwd),
            run_all(commands, cwd),
            import_invoke,
            repeat=repeat,
        )
        inside = after_import_invoke(name.split(), cwd, repeat)
        subtracted, measured = (task - start) / raw, inside / raw
        print(
            f"{name:34} {task * 1000:8.1f} {raw * 1000:10.1f} {inside * 1000:7.1f} "
            f"{subtracted:9.2f} {measured:8.2f}  {verdict(max(subtracted, measured), TASK_TARGET)}"
            + (
                f"; below the floor: the target leaves {room * 1000:.1f} ms of Python"
                if (room := (TASK_TARGET - 1) * raw) < floor
                else ""
            )
        )
    if only:
        return
    dexops, raw = publish_detection(repo, repeat)
    ratio = dexops / raw
    print(
        f"{'publish change detection (in-proc)':34} {dexops * 1000:9.1f} {raw * 1000:11.1f} "
        f"{ratio:7.2f}  {verdict(ratio, TASK_TARGET)}"
    )

    listing, noop, bare, with_invoke = best_seconds(
        run_all([[INVOKE, "--list"]], cwd),
        run_all([[INVOKE, "noop"]], cwd),
        python_pass,
        import_invoke,
        repeat=repeat,
    )
    print(f"\n{'start-up':34} {'ms':>9} {'vs pass':>11} {'vs import invoke':>17}")
    for name, seconds, target in (
        ("invoke --list", listing, LIST_TARGET),
        ("invoke noop", noop, None),
    ):
        ratio = seconds / with_invoke
        note = verdict(ratio, target) if target else ""
        print(f"{name:34} {seconds * 1000:9.1f} {seconds / bare:11.2f} {ratio:17.2f}  {note}")


if __name__ == "__main__":
    main()

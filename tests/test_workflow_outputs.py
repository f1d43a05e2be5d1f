"""Outputs as read: every `needs.X.outputs.Y` and `steps.X.outputs.Y` a workflow reads exists.

Step outputs are checked against what the tasks really write: each task a workflow reads
outputs from is run here under a fake `$GITHUB_OUTPUT`, in a state where it writes them all.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.fixtures_pypi import PypiServers
from tests.gitrepo import GitRepo
from tests.test_workflows import EXPRESSION, WORKFLOWS, Call, ids, jobs

STEP_OUTPUT = re.compile(r"\bsteps\.([\w-]+)\.outputs\.([\w-]+)")
NEEDS_OUTPUT = re.compile(r"\bneeds\.([\w-]+)\.outputs\.([\w-]+)")


def _expressions(node: object) -> list[str]:
    """Every `${{ … }}` body and every `if:` in a job or step, as text."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "if" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_expressions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_expressions(item))
    elif isinstance(node, str):
        found.extend(EXPRESSION.findall(node))
    return found


def step_reads(path: Path) -> dict[tuple[str, str], set[str]]:
    """(job, step id) -> the output names the job reads from that step."""
    reads: dict[tuple[str, str], set[str]] = {}
    for name, job in jobs(path).items():
        for text in _expressions(job):
            for step, output in STEP_OUTPUT.findall(text):
                reads.setdefault((name, step), set()).add(output)
    return reads


def task_of(path: Path, job: str, step_id: str) -> str:
    """The invoke task the step runs, a component expansion written as `<component>`."""
    step = next(s for s in jobs(path)[job]["steps"] if s.get("id") == step_id)
    argv = shlex.split(" ".join(step["run"].split()))
    at = argv.index("invoke") + 1
    return Call(path.name, job, "invoke", tuple(argv[at:])).task


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids(WORKFLOWS))
def test_needs_outputs_read_are_declared_by_the_job_needed(path: Path) -> None:
    all_jobs = jobs(path)
    for name, job in all_jobs.items():
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        for text in _expressions(job):
            for needed, output in NEEDS_OUTPUT.findall(text):
                assert needed in needs, f"{path.name}:{name} reads {needed} without needing it"
                declared = all_jobs[needed].get("outputs", {})
                assert output in declared, (
                    f"{path.name}:{name} reads needs.{needed}.outputs.{output}; "
                    f"{needed} declares {sorted(declared)}"
                )


@pytest.mark.parametrize("path", WORKFLOWS, ids=ids(WORKFLOWS))
def test_step_outputs_read_come_from_a_step_with_that_id(path: Path) -> None:
    for (job, step), _ in step_reads(path).items():
        step_ids = {s.get("id") for s in jobs(path)[job]["steps"]}
        assert step in step_ids, f"{path.name}:{job} reads steps.{step} but has no such step"


def _written(output: Path) -> set[str]:
    names = set()
    for line in output.read_text(encoding="utf-8").splitlines():
        if "<<dexops_" in line:
            names.add(line.split("<<", 1)[0])
        elif "=" in line and re.match(r"^[\w-]+=", line):
            names.add(line.split("=", 1)[0])
    return names


@pytest.fixture
def written_by_task(
    dex_repo: GitRepo,
    cli: Cli,
    pypi_servers: PypiServers,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> dict[str, set[str]]:
    """What each task the workflows read outputs of writes to `$GITHUB_OUTPUT`, for real."""
    pypi_servers.configure(dex_repo.path, monkeypatch)
    dex_repo.write("packages/dataenginex/src/dataenginex/extra.py", "X = 1\n")
    dex_repo.commit("feat: something to publish")
    dex_repo.git("tag", "dataenginex-v0.4.10")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    written: dict[str, set[str]] = {}
    runs: dict[str, tuple[str, ...]] = {
        "pipeline.plan": ("pipeline.plan", "--json"),
        "image.tags": ("image.tags", "--json"),
        "version.changed": ("version.changed", "--json"),
        "publish.<component>": ("publish.dataenginex", "--build-only", "--json"),
    }
    for task, argv in runs.items():
        output = tmp_path / f"{task}.out"
        output.touch()
        monkeypatch.setenv("GITHUB_OUTPUT", str(output))
        result = cli(*argv, cwd=dex_repo.path)
        assert result.code == 0, f"{task}: {result.err}"
        written[task] = _written(output)
    return written


def test_every_step_output_a_workflow_reads_is_written_by_its_task(
    written_by_task: dict[str, set[str]],
) -> None:
    missing: list[str] = []
    for path in WORKFLOWS:
        for (job, step), outputs in step_reads(path).items():
            task = task_of(path, job, step)
            assert task in written_by_task, f"{path.name}:{job}: no check runs {task}"
            missing += [
                f"{path.name}:{job} reads steps.{step}.outputs.{o} ({task} writes "
                f"{sorted(written_by_task[task])})"
                for o in sorted(outputs - written_by_task[task])
            ]
    assert not missing, "\n".join(missing)

"""What a rehearsal is given (services) and what it reports (run, job and step results)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.rehearsal.errors import RehearsalError

LOG_TAIL = 40


@dataclass(frozen=True)
class IndexTarget:
    """A local package index standing in for an upload URL written in a workflow."""

    url: str
    username: str = "__token__"
    password: str = "rehearsal"


@dataclass
class Services:
    """The local systems the stand-ins use in place of GitHub's and the internet's."""

    # repository-url as written in the workflow (or the action's default) -> local index
    indexes: dict[str, IndexTarget] = field(default_factory=dict)
    # registry host in a workflow (ghcr.io) -> local host:port (127.0.0.1:5000)
    registries: dict[str, str] = field(default_factory=dict)
    api_url: str = "https://api.github.com"
    # variables every step sees in addition (e.g. pointing a tool at a local service)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOverride:
    """A `run:` step whose command a rehearsal replaces: named exactly, with its reason.

    `command` is the step's script as the workflow has it once `${{ }}` is evaluated (a
    matrix leg's value included), stripped; only a step of job `job` with exactly that
    script runs `replacement` instead, and its StepResult records the override. An override
    that matches no step of a job that succeeded fails the rehearsal (RehearsalError), and so
    does one naming no job of the workflow: none goes stale silently.
    """

    job: str
    command: str
    replacement: str
    reason: str

    def __post_init__(self) -> None:
        if not (self.job and self.command.strip() and self.replacement.strip() and self.reason):
            raise RehearsalError(f"an override needs job, command, replacement, reason: {self}")


@dataclass
class StepResult:
    """One step: its outcome (before continue-on-error) and conclusion (after)."""

    name: str
    id: str | None
    uses: str | None
    outcome: str  # success, failure, skipped
    conclusion: str
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""
    summary: str = ""
    annotations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    override: StepOverride | None = None  # the replaced command, when the rehearsal replaced it

    def tail(self, lines: int = LOG_TAIL) -> str:
        """The last lines of the step's log."""
        return "\n".join(self.log.rstrip("\n").splitlines()[-lines:])


@dataclass
class JobRun:
    """One run of a job (one leg of a matrix): its steps, outputs and summary."""

    job_id: str
    name: str
    matrix: dict[str, Any] | None
    result: str = "success"
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    environment: str | None = None
    environment_url: str | None = None
    runs_on: Any = None
    concurrency: str | None = None
    error: str | None = None  # an evaluation failure GitHub would also report
    workspace: Path | None = None

    @property
    def summary(self) -> str:
        """The job summary: every step's $GITHUB_STEP_SUMMARY, in order."""
        return "".join(step.summary for step in self.steps)

    def step(self, key: str) -> StepResult:
        """A step by id or name."""
        for step in self.steps:
            if key in (step.id, step.name):
                return step
        raise KeyError(f"job {self.name!r} has no step {key!r}: {[s.name for s in self.steps]}")

    def failure_report(self) -> str:
        """Which step failed and the tail of its log."""
        if self.error:
            return f"job {self.name!r} failed: {self.error}"
        failed = [step for step in self.steps if step.outcome == "failure"]
        if not failed:
            return f"job {self.name!r}: {self.result}"
        step = (
            failed[-1]
            if all(s.conclusion == "success" for s in failed)
            else next(s for s in failed if s.conclusion == "failure")
        )
        return f"job {self.name!r} failed at step {step.name!r}; its log ends:\n{step.tail()}"


@dataclass
class JobResult:
    """A job of the workflow: its result as `needs.<job>.result` reports it, and its runs."""

    job_id: str
    result: str  # success, failure, cancelled, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    runs: list[JobRun] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)
    condition: str | None = None

    @property
    def environments(self) -> list[str]:
        """The GitHub environments the job's runs ran in."""
        return [run.environment for run in self.runs if run.environment]

    @property
    def only(self) -> JobRun:
        """The single run of a job without a matrix."""
        if len(self.runs) != 1:
            raise AssertionError(f"job {self.job_id} has {len(self.runs)} runs, not one")
        return self.runs[0]

    def step(self, key: str) -> StepResult:
        """A step of the single run, by id or name."""
        return self.only.step(key)


@dataclass
class RunResult:
    """A workflow run: whether it triggered, and every job's result."""

    workflow: str
    path: Path
    event_name: str
    triggered: bool
    reason: str
    run_id: int
    sha: str = ""
    ref: str = ""
    head_sha: str = ""  # what a workflow_run event reports as head_sha / head_branch
    head_branch: str = ""
    run_name: str = ""
    concurrency: str | None = None  # the workflow's concurrency group, evaluated
    jobs: dict[str, JobResult] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)  # properties that evaluated to null
    warnings: list[str] = field(default_factory=list)

    @property
    def conclusion(self) -> str:
        """success unless a job failed (or nothing ran)."""
        if not self.triggered:
            return "not triggered"
        if any(job.result == "failure" for job in self.jobs.values()):
            return "failure"
        return "success"

    @property
    def results(self) -> dict[str, str]:
        """Job id -> result."""
        return {job_id: job.result for job_id, job in self.jobs.items()}

    def job(self, job_id: str) -> JobResult:
        """One job's result."""
        if job_id not in self.jobs:
            raise KeyError(f"{self.workflow} has no job {job_id!r}: {list(self.jobs)}")
        return self.jobs[job_id]

    def summary(self) -> str:
        """Every job's summary, in order."""
        return "".join(run.summary for job in self.jobs.values() for run in job.runs)

    @property
    def overridden(self) -> list[tuple[str, str]]:
        """(job run name, replaced command) of every step whose command the rehearsal replaced."""
        return [
            (run.name, step.override.command)
            for job in self.jobs.values()
            for run in job.runs
            for step in run.steps
            if step.override is not None
        ]

    def report(self) -> str:
        """A readable account: trigger, each job's result, and each failure's log tail."""
        lines = [f"{self.workflow} on {self.event_name} ({self.reason}): {self.conclusion}"]
        for job in self.jobs.values():
            lines.append(f"  {job.job_id}: {job.result}")
        for job in self.jobs.values():
            lines.extend(run.failure_report() for run in job.runs if run.result == "failure")
        return "\n".join(lines)

    def assert_success(self) -> None:
        """Fail with the failing steps' names and log tails unless every job succeeded."""
        if not self.triggered:
            raise AssertionError(f"{self.workflow} did not trigger: {self.reason}")
        if self.conclusion != "success":
            raise AssertionError(self.report())

"""One step of a job: its `if:`, environment, `run:` script or `uses:` stand-in, and files."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.rehearsal.actionkit import ActionContext, ActionError, JobState, action_name
from tests.rehearsal.commands import FileCommands, run_script
from tests.rehearsal.context import RunContext
from tests.rehearsal.errors import RehearsalError
from tests.rehearsal.expressions import Scope, Status, condition, evaluate_value, interpolate
from tests.rehearsal.model import StepResult
from tests.rehearsal.values import to_text, truthy

STEP_KEYS = {
    "id", "name", "if", "uses", "run", "with", "env", "shell", "working-directory",
    "continue-on-error", "timeout-minutes",
}  # fmt: skip
ANNOTATIONS = ("::error", "::warning", "::notice")


@dataclass
class JobSteps:
    """A job run's mutable state while its steps run."""

    run: RunContext
    job: dict[str, Any]
    contexts: dict[str, Any]  # github, needs, strategy, matrix, vars, inputs
    secrets: dict[str, str]
    job_env: dict[str, str]
    workspace: Path
    temp: Path
    permissions: dict[str, str]
    deadline: float
    status: str = "success"
    timed_out: bool = False
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    github_env: dict[str, str] = field(default_factory=dict)
    path_entries: list[str] = field(default_factory=list)
    state: JobState = field(default_factory=JobState)
    results: list[StepResult] = field(default_factory=list)
    run_count: int = 0

    def scope(self, *, env: dict[str, str], secrets: bool, status: bool = False) -> Scope:
        """The step-level contexts (secrets only where GitHub allows them)."""
        contexts = {
            **self.contexts,
            "job": {"status": self.status, "container": {}, "services": {}},
            "runner": self.runner_context(),
            "env": env,
            "steps": self.steps,
        }
        if secrets:
            contexts["secrets"] = self.secrets
        state = Status(success=self.status == "success", failure=self.status == "failure")
        return Scope(
            contexts,
            status=state if status else None,
            workspace=self.workspace,
            misses=self.run.misses,
        )

    def runner_context(self) -> dict[str, str]:
        """The `runner` context."""
        return {
            "os": "Linux",
            "arch": "X64",
            "name": "rehearsal",
            "environment": "github-hosted",
            "temp": str(self.temp),
            "tool_cache": str(self.temp.parent / "tool-cache"),
            "debug": "",
        }

    def env_context(self) -> dict[str, str]:
        """The `env` context before a step's own env: workflow, job, then $GITHUB_ENV."""
        return {**self.run.workflow_env, **self.job_env, **self.github_env}

    def execute(self, index: int, step: dict[str, Any]) -> StepResult:
        """Run one step (or skip it) and record it in the `steps` context."""
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise RehearsalError(
                f"step {index + 1}: keys the harness does not know: {sorted(unknown)}"
            )
        if ("run" in step) == ("uses" in step):
            raise RehearsalError(f"step {index + 1}: exactly one of run: and uses: is needed")
        step_id = step.get("id")
        default_name = (
            f"Run {step['uses']}"
            if "uses" in step
            else f"Run {str(step['run']).strip().splitlines()[0]}"
        )
        env = self.env_context()
        if self.timed_out or not condition(
            step.get("if"), self.scope(env=env, secrets=False, status=True)
        ):
            result = StepResult(
                str(step.get("name", default_name)), step_id, step.get("uses"), "skipped", "skipped"
            )
            self._record(result)
            return result
        scope = self.scope(env=env, secrets=True)
        step_env = {
            str(k): to_text(evaluate_value(v, scope)) for k, v in (step.get("env") or {}).items()
        }
        scope = self.scope(env={**env, **step_env}, secrets=True)
        name = interpolate(str(step["name"]), scope) if "name" in step else default_name
        continue_on_error = truthy(evaluate_value(step.get("continue-on-error", False), scope))
        limit = float(to_text(evaluate_value(step.get("timeout-minutes", 360), scope))) * 60
        files = FileCommands.create(self.temp / "_runner_file_commands")
        process_env = self._process_env(step_id, {**env, **step_env}, files)
        started = time.monotonic()
        timeout = max(0.0, min(limit, self.deadline - started))
        override = None
        if "run" in step:
            script = interpolate(str(step["run"]), scope)
            override = self.run.override_for(str(self.contexts["github"]["job"]), script)
            if override is not None:
                script = override.replacement
            outcome, log, job_timeout = self._run(step, script, scope, process_env, timeout)
            outputs: dict[str, str] = {}
        else:
            outcome, log, outputs = self._uses(step, scope, process_env)
            job_timeout = False
        outputs.update(files.outputs())
        self.github_env.update(files.env_updates())
        self.path_entries.extend(files.path_entries())
        log = self.run.mask(log)
        result = StepResult(
            name=name,
            id=step_id,
            uses=step.get("uses"),
            outcome=outcome,
            conclusion="success" if continue_on_error else outcome,
            outputs=outputs,
            log=log,
            summary=files.summary_text(),
            annotations=[line for line in log.splitlines() if line.startswith(ANNOTATIONS)],
            seconds=time.monotonic() - started,
            override=override,
        )
        if result.conclusion == "failure":
            self.status = "failure"
        if job_timeout:
            self.timed_out, self.status = True, "failure"
        self._record(result)
        return result

    def _record(self, result: StepResult) -> None:
        self.results.append(result)
        if result.id:
            self.steps[result.id] = {
                "outputs": result.outputs,
                "outcome": result.outcome,
                "conclusion": result.conclusion,
            }

    def _process_env(
        self, step_id: str | None, env: dict[str, str], files: FileCommands
    ) -> dict[str, str]:
        self.run_count += 1
        action = step_id or ("__run" if self.run_count == 1 else f"__run_{self.run_count}")
        base = dict(self.run.base_env)
        path = [*reversed(self.path_entries), base.get("PATH", "")]
        return {
            **base,
            **self.run.services.env,
            **env,
            **default_variables(self.contexts["github"], self.runner_context(), action),
            **files.variables(),
            "PATH": os.pathsep.join(entry for entry in path if entry),
        }

    def _run(
        self, step: dict[str, Any], script: str, scope: Scope, env: dict[str, str], timeout: float
    ) -> tuple[str, str, bool]:
        defaults = self.run.defaults_run(self.job)
        shell = step.get("shell", defaults.get("shell"))
        directory = step.get("working-directory", defaults.get("working-directory"))
        cwd = self.workspace / interpolate(str(directory), scope) if directory else self.workspace
        done = run_script(
            script,
            shell=str(shell) if shell else None,
            env=env,
            cwd=cwd,
            temp=self.temp,
            timeout=timeout,
        )
        outcome = "success" if done.code == 0 else "failure"
        job_timeout = done.timed_out and time.monotonic() >= self.deadline
        log = (
            done.log
            if done.code == 0
            else done.log + f"Error: Process completed with exit code {done.code}.\n"
        )
        return outcome, log, job_timeout

    def _uses(
        self, step: dict[str, Any], scope: Scope, env: dict[str, str]
    ) -> tuple[str, str, dict[str, str]]:
        uses = str(step["uses"])
        name = action_name(uses)
        stand_in = self.run.stand_ins.get(name)
        if stand_in is None:
            raise RehearsalError(
                f"uses: {uses} has no stand-in; known: {sorted(self.run.stand_ins)}"
            )
        given = {
            str(k): to_text(evaluate_value(v, scope)) for k, v in (step.get("with") or {}).items()
        }
        ctx = ActionContext(
            action=name,
            inputs=stand_in.check_inputs(uses, given),
            env=env,
            workspace=self.workspace,
            temp=self.temp,
            origin=self.run.origin,
            github=self.contexts["github"],
            permissions=self.permissions,
            services=self.run.services,
            artifacts=self.run.artifacts,
            state=self.state,
        )
        outcome = "success"
        try:
            stand_in.run(ctx)
        except ActionError as exc:
            ctx.log(f"Error: {exc}")
            outcome = "failure"
        self.github_env.update(ctx.env_updates)
        self.path_entries.extend(ctx.path_entries)
        return outcome, "\n".join(ctx.log_lines) + "\n", dict(ctx.outputs)


def default_variables(
    github: dict[str, Any], runner: dict[str, str], action: str
) -> dict[str, str]:
    """The default environment variables GitHub sets for every step."""
    names = {
        "GITHUB_ACTOR": "actor",
        "GITHUB_ACTOR_ID": "actor_id",
        "GITHUB_API_URL": "api_url",
        "GITHUB_BASE_REF": "base_ref",
        "GITHUB_EVENT_NAME": "event_name",
        "GITHUB_EVENT_PATH": "event_path",
        "GITHUB_GRAPHQL_URL": "graphql_url",
        "GITHUB_HEAD_REF": "head_ref",
        "GITHUB_JOB": "job",
        "GITHUB_REF": "ref",
        "GITHUB_REF_NAME": "ref_name",
        "GITHUB_REF_PROTECTED": "ref_protected",
        "GITHUB_REF_TYPE": "ref_type",
        "GITHUB_REPOSITORY": "repository",
        "GITHUB_REPOSITORY_ID": "repository_id",
        "GITHUB_REPOSITORY_OWNER": "repository_owner",
        "GITHUB_RETENTION_DAYS": "retention_days",
        "GITHUB_RUN_ATTEMPT": "run_attempt",
        "GITHUB_RUN_ID": "run_id",
        "GITHUB_RUN_NUMBER": "run_number",
        "GITHUB_SERVER_URL": "server_url",
        "GITHUB_SHA": "sha",
        "GITHUB_TRIGGERING_ACTOR": "triggering_actor",
        "GITHUB_WORKFLOW": "workflow",
        "GITHUB_WORKFLOW_REF": "workflow_ref",
        "GITHUB_WORKFLOW_SHA": "workflow_sha",
        "GITHUB_WORKSPACE": "workspace",
    }
    variables = {name: to_text(github.get(key)) for name, key in names.items()}
    variables.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION": action,
            "RUNNER_OS": runner["os"],
            "RUNNER_ARCH": runner["arch"],
            "RUNNER_NAME": runner["name"],
            "RUNNER_ENVIRONMENT": runner["environment"],
            "RUNNER_TEMP": runner["temp"],
            "RUNNER_TOOL_CACHE": runner["tool_cache"],
        }
    )
    return variables

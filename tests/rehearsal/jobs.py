"""One job: its `if:` over the needs graph, matrix legs, environment, steps and outputs."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.rehearsal.context import RunContext, permissions
from tests.rehearsal.errors import EvaluationError, RehearsalError
from tests.rehearsal.expressions import Scope, Status, condition, evaluate_value, interpolate
from tests.rehearsal.model import JobResult, JobRun
from tests.rehearsal.steps import JobSteps
from tests.rehearsal.values import equal, to_json, to_text, truthy

JOB_KEYS = {
    "name", "needs", "if", "runs-on", "permissions", "environment", "concurrency", "outputs",
    "env", "defaults", "steps", "timeout-minutes", "strategy", "continue-on-error",
}  # fmt: skip
DEFAULT_PERMISSIONS = {"contents": "read", "packages": "read"}


def needs_of(job_id: str, spec: dict[str, Any]) -> list[str]:
    """A job's `needs:` as a list."""
    raw = spec.get("needs", [])
    needs = [raw] if isinstance(raw, str) else list(raw)
    return [str(need) for need in needs]


def expand_matrix(matrix: Any) -> list[dict[str, Any]]:  # noqa: PLR0912 - GitHub's rules
    """Matrix legs: the vectors' product, minus `exclude`, then `include` as GitHub adds it."""
    if not isinstance(matrix, dict):
        raise EvaluationError(f"strategy.matrix is not a mapping: {matrix!r}")
    include = matrix.get("include", [])
    exclude = matrix.get("exclude", [])
    vectors = {key: value for key, value in matrix.items() if key not in ("include", "exclude")}
    for key, value in vectors.items():
        if not isinstance(value, list) or not value:
            raise EvaluationError(f"Matrix vector '{key}' does not contain any values")
    if not isinstance(include, list) or not isinstance(exclude, list):
        raise EvaluationError("strategy.matrix include/exclude must be lists")
    legs: list[dict[str, Any]] = []
    if vectors:
        for values in itertools.product(*vectors.values()):
            leg = dict(zip(vectors, values, strict=True))
            if not any(_matches(leg, rule) for rule in exclude):
                legs.append(leg)
    originals = [dict(leg) for leg in legs]
    for extra in include:
        if not isinstance(extra, dict):
            raise EvaluationError(f"strategy.matrix include entry is not a mapping: {extra!r}")
        matched = False
        for leg, original in zip(legs, originals, strict=True):
            if all(equal(original[key], value) for key, value in extra.items() if key in original):
                leg.update({key: value for key, value in extra.items() if key not in original})
                matched = True
        if not matched or not vectors:
            legs.append(dict(extra))
            originals.append(dict(extra))
    if not legs:
        raise EvaluationError("Matrix must define at least one vector (the matrix is empty)")
    return legs


def _matches(leg: dict[str, Any], rule: Any) -> bool:
    if not isinstance(rule, dict):
        raise EvaluationError(f"strategy.matrix exclude entry is not a mapping: {rule!r}")
    return all(key in leg and equal(leg[key], value) for key, value in rule.items())


def _leg_name(name: str, matrix: dict[str, Any] | None, named_by_matrix: bool) -> str:
    if not matrix or named_by_matrix:
        return name
    values = [
        to_text(v) if not isinstance(v, (dict, list)) else to_json(v) for v in matrix.values()
    ]
    return f"{name} ({', '.join(values)})"


def run_job(
    run: RunContext,
    job_id: str,
    spec: dict[str, Any],
    results: dict[str, JobResult],
    ancestors: set[str],
) -> JobResult:
    """Run a job (every matrix leg) after its needs; skipped when its `if:` says so."""
    unknown = set(spec) - JOB_KEYS
    if unknown:
        raise RehearsalError(f"job {job_id}: keys the harness does not know: {sorted(unknown)}")
    needs = {
        need: {"result": results[need].result, "outputs": dict(results[need].outputs)}
        for need in needs_of(job_id, spec)
    }
    base = {"github": run.github, "needs": needs, "vars": run.vars, "inputs": run.inputs}
    status = Status(
        success=all(results[a].result == "success" for a in ancestors),
        failure=any(results[a].result == "failure" for a in ancestors),
    )
    inherited = permissions(run.doc.get("permissions"), DEFAULT_PERMISSIONS)
    job = JobResult(
        job_id,
        result="skipped",
        permissions=permissions(spec.get("permissions"), inherited),
        condition=None if spec.get("if") is None else str(spec.get("if")),
    )
    if not condition(spec.get("if"), Scope(base, status=status, misses=run.misses)):
        return job
    try:
        strategy = evaluate_value(spec.get("strategy") or {}, Scope(base, misses=run.misses))
        legs: list[dict[str, Any] | None] = (
            list(expand_matrix(strategy["matrix"])) if "matrix" in strategy else [None]
        )
    except EvaluationError as exc:
        job.result = "failure"
        job.runs.append(
            JobRun(job_id, str(spec.get("name", job_id)), None, "failure", error=str(exc))
        )
        return job
    fail_fast = truthy(strategy.get("fail-fast", True))
    failed = False
    for index, matrix in enumerate(legs):
        if failed and fail_fast:
            raw_name = str(spec.get("name", job_id))
            scope = Scope({**base, "strategy": {}, "matrix": matrix or {}}, misses=run.misses)
            name = _leg_name(interpolate(raw_name, scope), matrix, "matrix." in raw_name)
            job.runs.append(JobRun(job_id, name, matrix, "cancelled"))
            continue
        strategy_context = {
            "fail-fast": fail_fast,
            "job-index": index,
            "job-total": len(legs),
            "max-parallel": strategy.get("max-parallel", len(legs)),
        }
        contexts = {**base, "strategy": strategy_context, "matrix": matrix or {}}
        leg, tolerated = _run_leg(
            run, job_id=job_id, spec=spec, contexts=contexts, granted=job.permissions, index=index
        )
        job.runs.append(leg)
        failed = failed or (leg.result == "failure" and not tolerated)
        for key, value in leg.outputs.items():
            if value != "" or key not in job.outputs:
                job.outputs[key] = value
    job.result = "failure" if failed else "success"
    return job


def _run_leg(
    run: RunContext,
    *,
    job_id: str,
    spec: dict[str, Any],
    contexts: dict[str, Any],
    granted: dict[str, str],
    index: int,
) -> tuple[JobRun, bool]:
    """One leg: (its run, whether continue-on-error tolerates its failure)."""
    scope = Scope(contexts, misses=run.misses)
    raw_name = str(spec.get("name", job_id))
    name = _leg_name(
        interpolate(raw_name, scope), contexts["matrix"] or None, "matrix." in raw_name
    )
    leg = JobRun(job_id, name, contexts["matrix"] or None)
    leg.runs_on = evaluate_value(spec.get("runs-on"), scope)
    if not str(leg.runs_on).startswith(("ubuntu", "self-hosted", "['self-hosted'")):
        raise RehearsalError(f"job {job_id}: runs-on {leg.runs_on!r} is not a Linux runner")
    environment = evaluate_value(spec.get("environment"), scope)
    env_spec = environment if isinstance(environment, dict) else {"name": environment}
    leg.environment = to_text(env_spec.get("name")) or None
    concurrency = spec.get("concurrency")
    if concurrency is not None:
        group = concurrency.get("group") if isinstance(concurrency, dict) else concurrency
        leg.concurrency = interpolate(str(group), scope)
    scoped = run.environments.get(leg.environment or "", {})
    secrets = {**run.secrets, **scoped.get("secrets", {})}
    contexts = {**contexts, "vars": {**run.vars, **scoped.get("vars", {})}}
    job_dir = run.root / f"{job_id}-{index}"
    workspace = job_dir / "work" / str(run.github["repository"]).split("/")[-1]
    temp = job_dir / "temp"
    workspace.mkdir(parents=True)
    temp.mkdir()
    leg.workspace = workspace
    github = {**run.github, "job": job_id, "workspace": str(workspace), "action": ""}
    contexts = {**contexts, "github": github}
    env_scope = Scope({**contexts, "secrets": secrets}, misses=run.misses)
    job_env = {
        str(k): to_text(evaluate_value(v, env_scope)) for k, v in (spec.get("env") or {}).items()
    }
    minutes = float(to_text(evaluate_value(spec.get("timeout-minutes", 360), scope)))
    steps = JobSteps(
        run=run,
        job=spec,
        contexts=contexts,
        secrets=secrets,
        job_env=job_env,
        workspace=workspace,
        temp=temp,
        permissions=granted,
        deadline=time.monotonic() + minutes * 60,
    )
    for number, step in enumerate(spec.get("steps") or []):
        steps.execute(number, step)
    leg.steps = steps.results
    leg.result = steps.status
    final = steps.scope(env=steps.env_context(), secrets=True)
    for key, raw in (spec.get("outputs") or {}).items():
        value = interpolate(str(raw), final)
        if any(secret and secret in value for secret in secrets.values() if len(secret) > 2):
            run.warnings.append(f"job {job_id}: output {key} skipped, it may contain a secret")
            continue
        leg.outputs[str(key)] = value
    if env_spec.get("url"):
        leg.environment_url = interpolate(str(env_spec["url"]), final)
    if steps.timed_out:
        limit = f"{minutes} minutes"
        leg.error = f"The job running {name!r} has exceeded the maximum execution time of {limit}."
    tolerated = truthy(evaluate_value(spec.get("continue-on-error", False), scope))
    return leg, tolerated

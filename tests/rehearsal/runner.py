"""A workflow run: load the file, decide the trigger, build `github`, run the jobs by `needs`."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.rehearsal import actions, artifacts, publishing
from tests.rehearsal.actionkit import ArtifactStore, StandIn
from tests.rehearsal.context import RunContext, machine_env
from tests.rehearsal.errors import RehearsalError
from tests.rehearsal.event import dispatch_inputs, event_ref, ref_name
from tests.rehearsal.expressions import Scope, evaluate_value, interpolate
from tests.rehearsal.jobs import needs_of, run_job
from tests.rehearsal.model import RunResult, Services, StepOverride
from tests.rehearsal.origin import Origin
from tests.rehearsal.triggers import decide, normalise_on
from tests.rehearsal.values import to_text

WORKFLOW_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
STAND_INS: dict[str, StandIn] = {**actions.STAND_INS, **artifacts.STAND_INS, **publishing.STAND_INS}
_RUN_IDS = itertools.count(1001)


def load_workflow(path: Path) -> dict[str, Any]:
    """The workflow file as plain data (YAML 1.2: `on` stays a string key)."""
    doc = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "jobs" not in doc or "on" not in doc:
        raise RehearsalError(f"{path} is not a workflow (no on: or jobs:)")
    unknown = set(doc) - WORKFLOW_KEYS
    if unknown:
        raise RehearsalError(f"{path}: top-level keys the harness does not know: {sorted(unknown)}")
    return doc


def job_order(jobs: Mapping[str, Any]) -> list[str]:
    """Jobs in dependency order (file order among the ready ones); cycles are an error."""
    for job_id, spec in jobs.items():
        for need in needs_of(job_id, spec):
            if need not in jobs:
                raise RehearsalError(f"job {job_id} needs {need!r}, which is not a job")
    done: list[str] = []
    pending = list(jobs)
    while pending:
        ready = [job for job in pending if all(n in done for n in needs_of(job, jobs[job]))]
        if not ready:
            raise RehearsalError(f"the needs of {pending} form a cycle")
        done.append(ready[0])
        pending.remove(ready[0])
    return done


def ancestors(job_id: str, jobs: Mapping[str, Any]) -> set[str]:
    """Every job a job needs, directly or through others."""
    found: set[str] = set()
    stack = needs_of(job_id, jobs[job_id])
    while stack:
        need = stack.pop()
        if need not in found:
            found.add(need)
            stack.extend(needs_of(need, jobs[need]))
    return found


def _changed_files(event: str, payload: dict[str, Any], origin: Origin) -> list[str]:
    if event == "push":
        return origin.changed_files(payload.get("before"), str(payload["after"]))
    if event in ("pull_request", "pull_request_target"):
        pull = payload["pull_request"]
        base = origin.merge_base(pull["base"]["sha"], pull["head"]["sha"])
        return origin.changed_files(base, pull["head"]["sha"])
    return []


def _head(event: str, payload: dict[str, Any], sha: str, ref: str) -> tuple[str, str]:
    """The commit and branch GitHub reports for this run in a later workflow_run event."""
    if event in ("pull_request", "pull_request_target"):
        head = payload["pull_request"]["head"]
        return str(head["sha"]), str(head["ref"])
    return sha, ref_name(ref)[0]


def rehearse_workflow(
    path: Path,
    event: str,
    payload: dict[str, Any],
    *,
    origin: Path,
    secrets: Mapping[str, str] | None = None,
    vars: Mapping[str, str] | None = None,
    services: Services | None = None,
    artifacts_dir: Path | None = None,
    work_dir: Path | None = None,
    repository: str = "thedataenginex/dex",
    default_branch: str | None = None,
    run_id: int | None = None,
    environments: Mapping[str, dict[str, dict[str, str]]] | None = None,
    stand_ins: Mapping[str, StandIn] | None = None,
    overrides: Sequence[StepOverride] = (),
    actor: str = "rehearsal-bot",
) -> RunResult:
    """Run a workflow file for an event as GitHub would, on this machine; see the package doc."""
    path = Path(path)
    doc = load_workflow(path)
    name = str(doc.get("name") or f".github/workflows/{path.name}")
    repo = Origin(origin)
    branch = default_branch or repo.default_branch()
    run_id = next(_RUN_IDS) if run_id is None else run_id
    result = RunResult(
        workflow=name, path=path, event_name=event, triggered=False, reason="", run_id=run_id
    )
    changed_cache: list[list[str]] = []

    def changed() -> list[str]:
        if not changed_cache:
            changed_cache.append(_changed_files(event, payload, repo))
        return changed_cache[0]

    result.triggered, result.reason = decide(doc["on"], event, payload, changed)
    if not result.triggered:
        return result
    payload = json.loads(json.dumps(payload))  # the run gets its own copy
    inputs: dict[str, Any] = {}
    if event == "workflow_dispatch":
        declared = normalise_on(doc["on"])["workflow_dispatch"].get("inputs") or {}
        inputs, strings = dispatch_inputs(dict(declared), dict(payload.get("inputs") or {}))
        payload["inputs"] = strings
        payload.setdefault("ref", f"refs/heads/{branch}")
    where = event_ref(event, payload, repo, branch)
    result.sha, result.ref = where.sha, where.ref
    result.head_sha, result.head_branch = _head(event, payload, where.sha, where.ref)
    root = Path(tempfile.mkdtemp(prefix=f"run-{run_id}-", dir=work_dir))
    event_path = root / "event.json"
    event_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    service = services or Services()
    short, kind = ref_name(where.ref)
    github = {
        "event": payload,
        "event_name": event,
        "event_path": str(event_path),
        "sha": where.sha,
        "ref": where.ref,
        "ref_name": short,
        "ref_type": kind,
        "ref_protected": "false",
        "head_ref": where.head_ref,
        "base_ref": where.base_ref,
        "repository": repository,
        "repository_owner": repository.split("/", maxsplit=1)[0],
        "repository_id": "1",
        "repositoryUrl": f"git://github.com/{repository}.git",
        "run_id": str(run_id),
        "run_number": str(run_id - 1000),
        "run_attempt": "1",
        "retention_days": "90",
        "actor": actor,
        "actor_id": "1",
        "triggering_actor": actor,
        "workflow": name,
        "workflow_ref": f"{repository}/.github/workflows/{path.name}@refs/heads/{branch}",
        "workflow_sha": repo.resolve(f"refs/heads/{branch}") or where.sha,
        "server_url": "https://github.com",
        "api_url": service.api_url,
        "graphql_url": service.api_url.rstrip("/") + "/graphql",
        "token": "",
        "secret_source": "Actions",
    }
    all_secrets = {"GITHUB_TOKEN": "ghs_rehearsal_token", **(secrets or {})}
    github["token"] = all_secrets["GITHUB_TOKEN"]
    variables = dict(vars or {})
    run = RunContext(
        path=path,
        doc=doc,
        name=name,
        event_name=event,
        github=github,
        inputs=inputs,
        origin=repo,
        secrets=all_secrets,
        vars=variables,
        services=service,
        artifacts=ArtifactStore(artifacts_dir or root / "artifacts"),
        stand_ins={**STAND_INS, **(stand_ins or {})},
        environments=dict(environments or {}),
        root=root,
        event_path=event_path,
        base_env=machine_env(),
        misses=result.misses,
        warnings=result.warnings,
        overrides=tuple(overrides),
    )
    top = Scope({"github": github, "inputs": inputs, "vars": variables}, misses=result.misses)
    if "run-name" in doc:
        result.run_name = interpolate(str(doc["run-name"]), top)
    if "concurrency" in doc:
        group = doc["concurrency"]
        result.concurrency = interpolate(
            str(group.get("group") if isinstance(group, dict) else group), top
        )
    env_scope = Scope({**top.contexts, "secrets": all_secrets}, misses=result.misses)
    run.workflow_env = {
        str(k): to_text(evaluate_value(v, env_scope)) for k, v in (doc.get("env") or {}).items()
    }
    jobs: dict[str, Any] = dict(doc["jobs"])
    run.check_overrides(jobs, ran=set())  # a job name that is not there fails before any work
    for job_id in job_order(jobs):
        result.jobs[job_id] = run_job(
            run, job_id, dict(jobs[job_id]), result.jobs, ancestors(job_id, jobs)
        )
    # A job that succeeded ran every step it had to: an override none of them used is stale.
    run.check_overrides(jobs, ran={j for j, job in result.jobs.items() if job.result == "success"})
    return result

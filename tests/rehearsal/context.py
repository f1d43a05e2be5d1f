"""What one workflow run shares with its jobs: contexts, services, and the runner's defaults."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.rehearsal.actionkit import ArtifactStore, StandIn
from tests.rehearsal.errors import RehearsalError
from tests.rehearsal.model import Services, StepOverride
from tests.rehearsal.origin import Origin

DROPPED_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_", "PYTEST_", "INVOCATION_")
DROPPED = {"CI", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_RUN_RECURSION_DEPTH"}


def machine_env() -> dict[str, str]:
    """This machine's environment without CI variables and without the test's own venv on PATH."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(DROPPED_PREFIXES) and key not in DROPPED
    }
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [entry for entry in env.get("PATH", "").split(os.pathsep) if entry and entry != venv_bin]
    env["PATH"] = os.pathsep.join(path)
    return env


@dataclass
class RunContext:
    """Everything fixed for one workflow run."""

    path: Path
    doc: dict[str, Any]
    name: str
    event_name: str
    github: dict[str, Any]
    inputs: dict[str, Any]
    origin: Origin
    secrets: dict[str, str]
    vars: dict[str, str]
    services: Services
    artifacts: ArtifactStore
    stand_ins: dict[str, StandIn]
    environments: dict[str, dict[str, dict[str, str]]]
    root: Path
    event_path: Path
    base_env: dict[str, str]
    workflow_env: dict[str, str] = field(default_factory=dict)
    overrides: tuple[StepOverride, ...] = ()
    used_overrides: set[StepOverride] = field(default_factory=set)
    misses: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def defaults_run(self, job: dict[str, Any]) -> dict[str, Any]:
        """`defaults.run` of the workflow, overridden key by key by the job's."""
        merged: dict[str, Any] = {}
        for source in (self.doc.get("defaults"), job.get("defaults")):
            run = (source or {}).get("run") or {}
            unknown = set(run) - {"shell", "working-directory"}
            if unknown:
                raise RehearsalError(f"defaults.run: unknown keys {sorted(unknown)}")
            merged.update(run)
        return merged

    def override_for(self, job_id: str, script: str) -> StepOverride | None:
        """The override that replaces this `run:` script of this job, if one names it."""
        for override in self.overrides:
            if override.job == job_id and override.command == script.strip():
                self.used_overrides.add(override)
                return override
        return None

    def check_overrides(self, jobs: dict[str, Any], ran: set[str]) -> None:
        """Each override names a job of the workflow and, if it succeeded, one of its steps."""
        for override in self.overrides:
            if override.job not in jobs:
                raise RehearsalError(f"override for job {override.job!r}: no such job")
            if override.job in ran and override not in self.used_overrides:
                raise RehearsalError(
                    f"override for job {override.job!r} matched no run: step "
                    f"{override.command!r}: the workflow changed, the override is stale"
                )

    def mask(self, text: str) -> str:
        """Secrets replaced by *** in a log, as the runner masks them."""
        for value in sorted(self.secrets.values(), key=len, reverse=True):
            if value and len(value) > 2:
                text = text.replace(value, "***")
        return text


def permissions(raw: Any, inherited: dict[str, str]) -> dict[str, str]:
    """A `permissions:` value as scope -> none/read/write (read-all and write-all expanded)."""
    scopes = (
        "actions", "attestations", "checks", "contents", "deployments", "discussions", "id-token",
        "issues", "models", "packages", "pages", "pull-requests", "repository-projects",
        "security-events", "statuses",
    )  # fmt: skip
    if raw is None:
        return dict(inherited)
    if raw in ("read-all", "write-all"):
        level = raw.removesuffix("-all")
        return {scope: level for scope in scopes if scope != "id-token" or level == "write"}
    if not isinstance(raw, dict):
        raise RehearsalError(f"permissions: unexpected {raw!r}")
    unknown = set(raw) - set(scopes)
    if unknown:
        raise RehearsalError(f"permissions: unknown scopes {sorted(unknown)}")
    for scope, level in raw.items():
        if level not in ("read", "write", "none"):
            raise RehearsalError(f"permissions.{scope}: {level!r} is not read, write or none")
    return {str(scope): str(level) for scope, level in raw.items()}

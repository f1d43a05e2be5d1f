"""The `rehearsal` pytest fixture: workflow runs of one scenario sharing artifacts and run ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.rehearsal.actionkit import StandIn
from tests.rehearsal.model import RunResult, Services, StepOverride
from tests.rehearsal.runner import rehearse_workflow


def rehearse(
    workflow_path: Path,
    event_name: str,
    payload: dict[str, Any],
    *,
    origin: Path,
    secrets: Mapping[str, str] | None = None,
    vars: Mapping[str, str] | None = None,
    services: Services | None = None,
    artifacts_dir: Path | None = None,
    **options: Any,
) -> RunResult:
    """Run one workflow file for one event on this machine (see tests.rehearsal)."""
    return rehearse_workflow(
        workflow_path,
        event_name,
        payload,
        origin=origin,
        secrets=secrets,
        vars=vars,
        services=services,
        artifacts_dir=artifacts_dir,
        **options,
    )


@dataclass
class Rehearsal:
    """A scenario: one origin, services, secrets and an artifact store shared by its runs."""

    root: Path
    origin: Path
    services: Services = field(default_factory=Services)
    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    environments: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    stand_ins: dict[str, StandIn] = field(default_factory=dict)
    # run: commands replaced on purpose (see StepOverride); each run asserts they all matched
    overrides: list[StepOverride] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)

    def run(self, workflow: Path, event: str, payload: dict[str, Any], **options: Any) -> RunResult:
        """Rehearse a workflow in this scenario; the result is also kept in `runs`."""
        work = self.root / "runs"
        work.mkdir(parents=True, exist_ok=True)
        result = rehearse(
            workflow,
            event,
            payload,
            origin=self.origin,
            secrets=self.secrets,
            vars=self.vars,
            services=self.services,
            artifacts_dir=self.root / "artifacts",
            work_dir=work,
            environments=self.environments,
            stand_ins=self.stand_ins,
            overrides=tuple(self.overrides),
            run_id=1001 + len(self.runs),
            **options,
        )
        self.runs.append(result)
        return result


@pytest.fixture
def rehearsal(tmp_path: Path) -> Rehearsal:
    """A scenario under tmp; set `origin` (a bare repository) and services before running."""
    return Rehearsal(root=tmp_path / "rehearsal", origin=tmp_path / "origin.git")

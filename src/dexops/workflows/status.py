"""Status of every environment: image, when and by which commit, hold, drift, Argo CD state."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from dexops.adapters import argocd
from dexops.domain.config import Environment
from dexops.domain.deploy_history import Revision, deployed_by
from dexops.errors import DexopsError
from dexops.workflows.environments import (
    EnvironmentState,
    drift,
    environments,
    fetch,
    read_history,
    read_holds,
    read_states,
)
from dexops.workflows.remote_branches import complete_history
from dexops.workflows.workspace import Workspace

# Revisions read first when looking for the commit that deployed the current tag: the newest
# overlay commit and the one before it, to see that it changed the tag. Each further read
# doubles: git walks the branch until it has found as many overlay commits as asked (the
# whole branch when the overlay has fewer), so it never asks for many more than it needs.
_FIRST_WINDOW = 2


@dataclass(frozen=True)
class EnvironmentStatus:
    """One row of `status`."""

    env: str
    branch: str
    tag: str | None
    digest: str | None
    deployed_at: str | None
    deployed_by: str | None
    commit: str | None
    kind: str | None
    hold: str | None
    source: str | None
    drift: str | None
    drift_commits: list[str]
    ahead: int | None
    behind: int | None
    sync: str | None
    health: str | None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "environment": self.env,
            "branch": self.branch,
            "tag": self.tag,
            "digest": self.digest,
            "deployed_at": self.deployed_at,
            "deployed_by": self.deployed_by,
            "commit": self.commit,
            "kind": self.kind,
            "hold": self.hold,
            "promote_from": self.source,
            "drift": self.drift,
            "drift_commits": self.drift_commits,
            "ahead": self.ahead,
            "behind": self.behind,
            "sync": self.sync,
            "health": self.health,
        }


def _deployment(ws: Workspace, env: Environment, tag: str | None) -> Revision | None:
    if tag is None:
        return None
    window = _FIRST_WINDOW
    while True:
        recent = read_history(ws, env, max_count=window)
        found = deployed_by(recent, tag)
        # The oldest revision of a full window looks like a change only because nothing
        # older was read: the tag may have been deployed earlier, so read further then.
        if len(recent) < window or (found is not None and found is not recent[-1]):
            return found
        window *= 2


def _argocd_states(envs: list[Environment]) -> tuple[dict[str, tuple[str, str]], tuple[str, ...]]:
    """Sync and health per environment when Argo CD is configured (ARGOCD_SERVER set)."""
    apps = {e.name: e.argocd_app for e in envs if e.argocd_app}
    if not apps or importlib.util.find_spec("dexops.adapters.argocd") is None:
        return {}, ()

    if not os.environ.get(argocd.SERVER_ENV):
        return {}, ()
    client = argocd.ArgoCD.from_env()
    states = {}
    for env, app in apps.items():
        try:
            state = client.application(app)
        except DexopsError as exc:
            states[env] = ("error", str(exc))
            continue
        states[env] = (state.sync_status, state.health_status)
    return states, client.warnings


@dataclass(frozen=True)
class StatusReport:
    """The rows of `status`, and what the user must be told about reading them."""

    rows: list[EnvironmentStatus]
    warnings: tuple[str, ...] = ()


def environment_status(ws: Workspace, names: list[str] | None = None) -> StatusReport:
    """Rows for the environments (all, in promotion order, or the named ones)."""
    envs = environments(ws, names)
    if not envs:
        raise DexopsError("no environments are configured in [tool.dexops.environments]")
    fetch(ws, envs)
    states: dict[str, EnvironmentState] = read_states(ws, envs)
    # A source outside `names` still counts for drift.
    sources = [
        ws.config.environment(e.promote_from)
        for e in envs
        if e.promote_from and e.promote_from not in states
    ]
    if sources:
        states.update(read_states(ws, sources))
    # A shallow clone is completed once, for every branch, before the readers below.
    complete_history(ws.git, [e.branch for e in envs])
    holds = read_holds(ws, envs)
    revisions = {env.name: _deployment(ws, env, states[env.name].tag) for env in envs}
    argo, warnings = _argocd_states(envs)
    rows = []
    for env in envs:
        state = states[env.name]
        revision = revisions[env.name]
        hold = holds.get(env.name)
        moved = drift(ws, states[env.promote_from].tag, state.tag) if env.promote_from else None
        sync, health = argo.get(env.name, (None, None))
        rows.append(
            EnvironmentStatus(
                env=env.name,
                branch=env.branch,
                tag=state.tag,
                digest=state.digest,
                deployed_at=revision.date if revision else None,
                deployed_by=revision.author if revision else None,
                commit=revision.commit if revision else None,
                kind=revision.kind if revision else None,
                hold=f"held by {hold.commit[:8]}" if hold else None,
                source=env.promote_from,
                drift=moved.describe() if moved else None,
                drift_commits=moved.commits if moved else [],
                ahead=moved.ahead if moved and moved.known else None,
                behind=moved.behind if moved and moved.known else None,
                sync=sync,
                health=health,
            )
        )
    return StatusReport(rows, warnings)

"""Rollback: put an environment back on an earlier image, and hold it there.

Entry points (keyword arguments; `deploy.verify --rollback-on-failure` calls them):

    plan_rollback(ws, *, env: str, to: str | None = None, steps: int | None = None,
                  again: bool = False, hold: bool = True,
                  skip_registry_check: bool = False) -> RollbackPlan
        Fetch the environment's branch, pick the target (`to`, else the `steps`-th earlier
        distinct tag of its history, skipping tags that were themselves rolled back) and
        check the registry. Changes nothing. `plan.unchanged` when it already runs it.
        When the environment still runs the target of a held rollback and neither `to`,
        `steps` nor `again` is given, `plan.held` is that rollback and nothing is planned:
        a re-run (a retried CI job) never rolls back twice.

    apply_rollback(ws, plan, *, pr: bool = False, auto_merge: bool = False,
                   kubectl: Sequence[Sequence[str]] = ()) -> Change
        Commit `fix: rollback <env> to <tag>` with the rollback trailers (and the hold) on
        the environment's branch and push it, retrying lost races; `pr=True` opens a pull
        request instead. A re-run that finds the target already in place does nothing.
        Then, and only then, run the `kubectl` commands (`--emergency --yes`).

    release_hold(ws, *, env: str, dry_run: bool = False) -> HoldReleaseResult
        Commit the hold release (an empty commit with trailers) on the branch.

    emergency_commands(ws, plan) -> list[list[str]]
        The `kubectl set image` / `rollout status` commands for when Argo CD is down.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dexops import invocation
from dexops.adapters import kubectl
from dexops.adapters.kubectl import require_kubectl, rollout_status_command, set_image_command
from dexops.domain import kustomize
from dexops.domain.deploy_history import Revision, rollback_candidates
from dexops.domain.holds import HoldRecord, Trailers, commit_message
from dexops.errors import DexopsError
from dexops.workflows.branch_edit import Change, Staging, land, push_or_propose
from dexops.workflows.deploy import builder, render_check, unified_diff
from dexops.workflows.environments import (
    EnvironmentState,
    fetch,
    read_history,
    read_holds,
    read_states,
)
from dexops.workflows.promote import GateError, registry_gate, skipped_gate
from dexops.workflows.workspace import Workspace


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback would change."""

    state: EnvironmentState
    tag: str
    digest: str | None
    hold: bool
    diff: str
    candidates: list[Revision]
    held: HoldRecord | None = None  # the held rollback the environment still runs
    warnings: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        """The environment's name."""
        return self.state.env.name

    @property
    def unchanged(self) -> bool:
        """Whether the environment already runs the target."""
        return (self.state.tag, self.state.digest) == (self.tag, self.digest)

    @property
    def image(self) -> str:
        """The full reference the workloads will run."""
        entry = kustomize.read_image(self.state.text, self.state.image)
        name = entry.new_name or entry.name
        return f"{name}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


def rollback_message(
    env: str, tag: str, previous: str | None, digest: str | None, *, hold: bool
) -> str:
    """The commit message of a rollback, with the trailers that record it and its hold."""
    trailers = Trailers(
        "rollback", env, image_tag=tag, previous_tag=previous, digest=digest, hold=hold
    )
    body = (
        f"Automation will not overwrite {env} until: "
        f"{invocation.command(f'hold.release --env {env}')}"
        if hold
        else ""
    )
    return commit_message(f"fix: rollback {env} to {tag}", body, [trailers])


def plan_rollback(
    ws: Workspace,
    *,
    env: str,
    to: str | None = None,
    steps: int | None = None,
    again: bool = False,
    hold: bool = True,
    skip_registry_check: bool = False,
) -> RollbackPlan:
    """Pick the rollback target and check it; nothing is changed."""
    environment = ws.config.environment(env)
    if steps is not None and steps < 1:
        raise GateError(f"--steps must be at least 1, not {steps}")
    fetch(ws, [environment])
    state = read_states(ws, [environment])[env]
    if to is None and steps is None and not again:
        record = read_holds(ws, [environment]).get(env)
        if record is not None and record.action == "rollback" and record.image_tag == state.tag:
            # A re-run of the same rollback (a retried job) must not go back one more release.
            return RollbackPlan(state, state.tag or "", state.digest, hold, "", [], record)
    steps = steps or 1
    history = read_history(ws, environment)
    candidates = rollback_candidates(history, state.tag or "")
    digest: str | None = None
    if to is not None:
        tag = kustomize.validate_tag(to)
        known = next((r for r in history if r.changed and r.tag == tag), None)
        digest = known.digest if known else None
    else:
        if len(candidates) < steps:
            raise GateError(
                f"{env} has {len(candidates)} earlier image(s) to roll back to in its history; "
                f"cannot go back {steps} (pass --to TAG)"
            )
        tag, digest = candidates[steps - 1].tag or "", candidates[steps - 1].digest
    after = kustomize.set_image(
        state.text, state.image, tag=tag, digest=digest, source=environment.kustomization
    )
    plan = RollbackPlan(
        state,
        tag,
        digest,
        hold,
        unified_diff(state.text, after, environment.kustomization),
        candidates,
    )
    if not plan.unchanged:
        found = registry_gate(
            state.image, tag, skip=skip_registry_check, what=f"rollback {env} to {tag}"
        )
        if skip_registry_check:
            plan = dataclasses.replace(plan, warnings=(skipped_gate(state.image, tag),))
        if digest is not None and found is not None and found != digest:
            seen = f"{tag} was deployed as {digest}; the registry now serves {found}"
            plan = dataclasses.replace(plan, warnings=(*plan.warnings, seen))
    return plan


class EmergencyError(DexopsError):
    """kubectl failed after the rollback was put in git."""


def apply_rollback(
    ws: Workspace,
    plan: RollbackPlan,
    *,
    pr: bool = False,
    auto_merge: bool = False,
    kubectl: Sequence[Sequence[str]] = (),
    on_output: Callable[[str], None] | None = None,
) -> Change:
    """Put the rollback in git (push or PR), then run the `kubectl` commands, in that order.

    git comes first so the cluster is never changed behind git's back: Argo CD would undo a
    `kubectl set image` that git does not record. A git failure runs no kubectl command.
    """
    if kubectl:
        require_kubectl()
    try:
        result = _land_rollback(ws, plan, pr=pr, auto_merge=auto_merge)
    except DexopsError as exc:
        if kubectl:
            exc.args = (f"{exc}; the kubectl commands were not run",)
        raise
    if kubectl:
        run_emergency(plan, result, kubectl, on_output=on_output)
    return result


def _in_git(plan: RollbackPlan, result: Change) -> str:
    """Where the rollback stands in git, for a kubectl failure after it."""
    branch = plan.state.env.branch
    if result.outcome == "pushed" and result.commit:
        where = f"the rollback is in git ({result.commit[:12]} on {branch})"
    elif result.proposal is not None:
        return (
            f"the rollback is proposed in git ({result.proposal.branch} -> {branch}); "
            "Argo CD will apply it once that is merged"
        )
    else:
        where = f"{branch} already holds {plan.tag} in git"
    return f"{where}; Argo CD will apply it when it syncs"


def run_emergency(
    plan: RollbackPlan,
    result: Change,
    commands: Sequence[Sequence[str]],
    *,
    on_output: Callable[[str], None] | None = None,
) -> None:
    """Run the emergency kubectl commands, handing on their output; a failure says what git has."""
    for command in commands:
        try:
            output = kubectl.run_kubectl(command)
        except DexopsError as exc:
            raise EmergencyError(f"{exc}; {_in_git(plan, result)}") from None
        if on_output is not None:
            on_output(output.rstrip("\n"))


def _land_rollback(ws: Workspace, plan: RollbackPlan, *, pr: bool, auto_merge: bool) -> Change:
    """Commit and push the rollback (or open a PR); idempotent once the target is in place."""
    if plan.unchanged:
        return Change("unchanged")
    env = plan.state.env
    previous = plan.state.tag
    with tempfile.TemporaryDirectory(prefix="dexops-rollback-") as tmp:
        # The trailer names what was running when the rollback was decided, not a later tip.
        build = builder(
            ws,
            [env],
            plan.tag,
            plan.digest,
            Path(tmp),
            message=lambda _env, prev: rollback_message(
                env.name, plan.tag, previous or prev, plan.digest, hold=plan.hold
            ),
        )

        return push_or_propose(
            ws.git,
            env.branch,
            build,
            propose_as=f"rollback-{env.name}-{plan.tag}" if pr else None,
            title=f"fix: rollback {env.name} to {plan.tag}",
            body=f"Rolls {env.name} back from `{previous}` to `{plan.tag}`.\n\n"
            f"```diff\n{plan.diff}```\n",
            auto_merge=auto_merge,
            nothing_to_do=f"{env.name} already runs {plan.tag}",
        )


def emergency_commands(ws: Workspace, plan: RollbackPlan) -> list[list[str]]:
    """`kubectl set image` and `rollout status` for the environment's deployment."""
    env = plan.state.env
    deployment, container, namespace = env.deployment, None, env.namespace
    command = kubectl.renderer()
    if command is not None:
        # The render names the container that runs the image (and the workload if unset).
        with tempfile.TemporaryDirectory(prefix="dexops-render-") as tmp:
            staging = Staging(ws.git, Path(tmp), plan.state.branch_commit)
            root = staging.checkout(Path(tmp) / "tree")
            check = render_check(env, plan.state.text, plan.state.image)
            manifests = kubectl.render(root / env.overlay, command)
            using = [
                c
                for c in kubectl.containers(manifests)
                if c.kind == "Deployment" and kubectl.image_repository(c.image) == check.repository
            ]
        chosen = next((c for c in using if deployment in (None, c.workload)), None)
        if chosen is not None:
            deployment, container = chosen.workload, chosen.name
            namespace = namespace or chosen.namespace
    if deployment is None:
        raise DexopsError(
            f"cannot tell which deployment runs {plan.state.image} in {env.name}; "
            f"set tool.dexops.environments.{env.name}.deployment"
        )
    container = container or deployment
    return [
        set_image_command(deployment, container, plan.image, namespace),
        rollout_status_command(deployment, namespace, 300),
    ]


# --- holds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldReleaseResult:
    """What `hold.release` did."""

    outcome: Literal["not-held", "released", "would-release"]
    record: HoldRecord | None = None
    commit: str | None = None


def release_message(env: str, record: HoldRecord) -> str:
    """The commit message that releases a hold."""
    trailers = Trailers("hold-release", env, image_tag=record.image_tag, hold=False)
    return commit_message(
        f"chore: release rollback hold on {env} [skip ci]",
        f"The hold set by {record.commit[:12]} (rollback to {record.image_tag}) is released.",
        [trailers],
    )


def release_hold(ws: Workspace, *, env: str, dry_run: bool = False) -> HoldReleaseResult:
    """Release an environment's hold with an empty commit on its branch; no hold is a no-op."""
    environment = ws.config.environment(env)
    fetch(ws, [environment])
    record = read_holds(ws, [environment]).get(env)
    if record is None:
        return HoldReleaseResult("not-held")
    if dry_run:
        return HoldReleaseResult("would-release", record)
    with tempfile.TemporaryDirectory(prefix="dexops-hold-") as tmp:

        def build(base: str) -> str | None:
            current = read_holds(ws, [environment]).get(env)
            if current is None:
                return None
            staging = Staging(ws.git, Path(tempfile.mkdtemp(dir=tmp)), base, sign=ws.config.sign)
            return staging.commit(release_message(env, current))

        landing = land(ws.git, environment.branch, build)
    return HoldReleaseResult("released" if landing.commit else "not-held", record, landing.commit)

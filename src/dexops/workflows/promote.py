"""Promotion: put the image one environment runs into the next one, behind gates, as a PR."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dexops.adapters.registry import (
    ImageNotFoundError,
    RegistryAuthError,
    RegistryClient,
    RegistryUnreachableError,
)
from dexops.domain import kustomize, promotion_chain
from dexops.domain.holds import Trailers, commit_message
from dexops.domain.imageref import ImageRef
from dexops.errors import DexopsError, ExitCode
from dexops.workflows.branch_edit import Change, push_or_propose
from dexops.workflows.deploy import builder, unified_diff
from dexops.workflows.environments import (
    Drift,
    EnvironmentState,
    drift,
    fetch,
    hold_message,
    image_of,
    read_holds,
    read_states,
)
from dexops.workflows.remote_branches import complete_history
from dexops.workflows.workspace import Workspace


class GateError(DexopsError):
    """A promotion or rollback gate refused."""

    exit_code = ExitCode.GATE_REFUSED


def skipped_gate(image: str, tag: str) -> str:
    """The warning a skipped registry check gives."""
    return f"registry check skipped for {image}:{tag} (--skip-registry-check)"


def registry_gate(image: str, tag: str, *, skip: bool, what: str) -> str | None:
    """The image's digest in the registry (None when skipped); refuse when it is missing."""
    if skip:
        return None

    ref = ImageRef.parse(f"{image}:{tag}")
    try:
        return RegistryClient().digest(ref)
    except ImageNotFoundError:
        raise GateError(f"{what}: the registry has no image {ref}") from None
    except RegistryAuthError as exc:
        raise GateError(
            f"{what}: the registry refused to say whether {ref} exists ({exc}); "
            "set REGISTRY_USERNAME/REGISTRY_PASSWORD or pass --skip-registry-check"
        ) from None
    except RegistryUnreachableError as exc:
        # Refuse rather than guess: promoting or rolling back to an image nobody can pull
        # takes an environment down. An operator who knows better says so explicitly.
        raise GateError(
            f"{what}: cannot check that {ref} exists ({exc}); pass --skip-registry-check "
            "to promote without the registry check"
        ) from None


@dataclass(frozen=True)
class PromotionPlan:
    """What `promote` would change: the target overlay's edit and the PR around it."""

    source: EnvironmentState
    target: EnvironmentState
    tag: str
    digest: str | None
    branch: str
    title: str
    body: str
    diff: str
    warnings: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        """Whether the target already runs the image."""
        return (self.target.tag, self.target.digest) == (self.tag, self.digest)


def promote_message(env: str, tag: str, previous: str | None, digest: str | None) -> str:
    """The commit message of a promotion, with its trailers."""
    trailers = Trailers("promote", env, image_tag=tag, previous_tag=previous, digest=digest)
    return commit_message(f"chore: promote {tag} to {env}", "", [trailers])


def _body(
    moved: Drift, plan_source: EnvironmentState, target: EnvironmentState, tag: str, diff: str
) -> str:
    if not moved.known:
        commits = (
            f"(cannot list commits: {target.tag} or {tag} is not a sha- tag of this repository)"
        )
    elif not moved.commits:
        commits = "(none)"
    else:
        commits = "\n".join(f"- {line}" for line in moved.commits)
    env = target.env.name
    return (
        f"Promotes `{tag}` from **{plan_source.env.name}** to **{env}** "
        f"(currently `{target.tag}`).\n\n"
        f"### Overlay change\n\n```diff\n{diff}```\n\n"
        f"### Commits in this promotion\n\n{commits}\n\n"
        f"### Checklist\n\n"
        f"- [ ] {plan_source.env.name} is healthy on `{tag}`\n"
        f"- [ ] smoke checks passed in {plan_source.env.name}\n"
        f"- [ ] release notes reviewed\n\n"
        f"### Rollback\n\n```bash\ninvoke rollback --env {env} --to {target.tag} --yes\n```\n"
    )


def plan_promotion(
    ws: Workspace,
    *,
    from_env: str | None,
    to_env: str | None,
    tag: str | None = None,
    force: bool = False,
    skip_registry_check: bool = False,
) -> PromotionPlan:
    """Fetch both branches and check every gate (no `to_env`: the chain's next step)."""
    if to_env is None:
        from_env, to_env = infer_step(ws, from_env, tag)
    target_env = ws.config.environment(to_env)
    source_name = from_env or target_env.promote_from
    if source_name is None:
        raise GateError(f"{to_env} has no promote-from; pass --from-env")
    source_env = ws.config.environment(source_name)
    if source_env.name == target_env.name:
        raise GateError(f"cannot promote {to_env} to itself")
    if target_env.promote_from not in (None, source_env.name) and not force:
        raise GateError(
            f"{to_env} is promoted from {target_env.promote_from}, not {source_env.name} "
            "(--force to promote anyway)"
        )
    fetch(ws, [source_env, target_env])
    states = read_states(ws, [source_env, target_env])
    source, target = states[source_env.name], states[target_env.name]
    chosen = kustomize.validate_tag(tag) if tag else source.tag
    if chosen is None:
        raise GateError(f"{source_env.name} has no image tag to promote; pass --image-tag")
    if chosen != source.tag and not force:
        raise GateError(
            f"{source_env.name} runs {source.tag}, not {chosen}; promote what it runs "
            "or pass --force"
        )
    # The source's pinned digest travels with its tag: the exact bytes that were tested.
    digest = source.digest if chosen == source.tag else None
    title = f"chore: promote {chosen} to {target_env.name}"
    branch = f"promote-{target_env.name}-{chosen}"
    after = kustomize.set_image(
        target.text, target.image, tag=chosen, digest=digest, source=target_env.kustomization
    )
    diff = unified_diff(target.text, after, target_env.kustomization)
    # Ancestry is judged on whole histories: a shallow clone lacks the commits it compares.
    complete_history(ws.git, [source_env.branch, target_env.branch])
    moved = drift(ws, chosen, target.tag)
    plan = PromotionPlan(
        source,
        target,
        chosen,
        digest,
        branch,
        title,
        _body(moved, source, target, chosen, diff),
        diff,
    )
    if plan.unchanged:
        return plan
    if moved.diverged and not force:
        # The target's commit is not in the promoted image's history: its changes would go.
        raise GateError(
            f"{target_env.name} runs {target.tag} (commit {moved.target_commit}), which is not an "
            f"ancestor of {chosen} (commit {moved.source_commit}); promoting would drop "
            f"{moved.ahead} commit(s) ({moved.describe()}); pass --force to promote anyway"
        )
    held = read_holds(ws, [target_env]).get(target_env.name)
    if held is not None:
        raise GateError(hold_message(held))
    image = image_of(ws, target_env)
    found = registry_gate(image, chosen, skip=skip_registry_check, what=f"promote {chosen}")
    if digest is not None and found is not None and found != digest:
        raise GateError(
            f"{source_env.name} pins {digest} for {chosen} but the registry now serves {found}"
        )
    if skip_registry_check:
        return dataclasses.replace(plan, warnings=(skipped_gate(image, chosen),))
    return plan


def infer_step(ws: Workspace, from_env: str | None, tag: str | None) -> tuple[str, str]:
    """The (source, target) that moves `tag` one step along the chain, from origin's state."""
    if tag is None or from_env is not None:
        raise DexopsError("pass --to-env, or --image-tag alone to promote it one step")
    tag = kustomize.validate_tag(tag)
    envs = ws.config.promotion_order()
    fetch(ws, envs)
    states = read_states(ws, envs)
    step = promotion_chain.next_step(
        {env.name: env.promote_from for env in envs},
        {name: state.tag for name, state in states.items()},
        tag,
    )
    return step.source, step.target


def apply_promotion(
    ws: Workspace, plan: PromotionPlan, *, direct: bool = False, auto_merge: bool = False
) -> Change:
    """Open the promotion PR (or, with `direct`, push to the target's branch)."""
    if plan.unchanged:
        return Change("unchanged")
    env = plan.target.env
    with tempfile.TemporaryDirectory(prefix="dexops-promote-") as tmp:
        build = builder(
            ws,
            [env],
            plan.tag,
            plan.digest,
            Path(tmp),
            message=lambda _env, prev: promote_message(env.name, plan.tag, prev, plan.digest),
        )

        return push_or_propose(
            ws.git,
            env.branch,
            build,
            propose_as=None if direct else plan.branch,
            title=plan.title,
            body=plan.body,
            auto_merge=auto_merge,
            nothing_to_do=f"{env.name} already runs {plan.tag}",
        )

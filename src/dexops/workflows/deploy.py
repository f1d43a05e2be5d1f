"""Deploy workflows: set an image in an overlay; the CD step that updates a branch's overlays."""

from __future__ import annotations

import difflib
import functools
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dexops.adapters import kubectl
from dexops.adapters.textfile import inside, write_inside
from dexops.domain import kustomize
from dexops.domain.config import Environment
from dexops.domain.holds import (
    ACTION,
    DIGEST,
    IMAGE_TAG,
    HoldRecord,
    Trailers,
    commit_message,
    first,
    parse_trailer_items,
)
from dexops.errors import DexopsError, GitError, PushRejectedError, WorkInterruptedError
from dexops.workflows.branch_edit import Proposal, Staging, land, propose
from dexops.workflows.environments import (
    HoldError,
    fetch,
    hold_message,
    image_of,
    read_holds,
    read_states,
)
from dexops.workflows.remote_branches import decode_text, tip
from dexops.workflows.workspace import Workspace


def unified_diff(before: str, after: str, path: str) -> str:
    """A unified diff of one file, as `git diff` would label it."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


# --- rendering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderCheck:
    """An overlay whose render must run `expected` for the image `repository`."""

    env: Environment
    repository: str
    expected: str


def render_check(env: Environment, text: str, image: str) -> RenderCheck:
    """What the render of `text` (an edited overlay) must show for `image`."""
    entry = kustomize.read_image(text, image, env.kustomization)
    return RenderCheck(env, entry.new_name or entry.name, entry.reference)


def render_warnings() -> tuple[str, ...]:
    """The warning an edit that lands gives when no renderer can check its overlays."""
    if kubectl.renderer() is None:
        return ("neither kubectl nor kustomize is installed; overlays were not rendered",)
    return ()


def verify_renders(root: Path, checks: Sequence[RenderCheck]) -> bool:
    """Render each overlay under `root`; False when no renderer is installed."""
    command = kubectl.renderer()
    if command is None:
        return False
    for check in checks:
        manifests = kubectl.render(root / check.env.overlay, command)
        kubectl.check_images(manifests, check.repository, check.expected, check.env.kustomization)
    return True


def verify_staging(staging: Staging, checks: Sequence[RenderCheck]) -> None:
    """Render the staged tree's overlays; a failure aborts before anything is pushed."""
    if not checks or kubectl.renderer() is None:
        return
    with tempfile.TemporaryDirectory(prefix="dexops-render-") as tmp:
        verify_renders(staging.checkout(Path(tmp) / "tree"), checks)


# --- deploy.set-image -----------------------------------------------------------------------


@dataclass(frozen=True)
class SetImagePlan:
    """A working-tree edit of one environment's overlay."""

    env: Environment
    path: Path
    before: str
    after: str
    diff: str


def plan_set_image(
    ws: Workspace, env_name: str, *, tag: str, digest: str | None = None, create: bool = False
) -> SetImagePlan:
    """What `deploy.set-image` would write in the working tree (pure: nothing is written)."""
    env = ws.config.environment(env_name)
    path = inside(ws.root, ws.root / env.kustomization)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DexopsError(f"cannot read {env.kustomization}: {exc.strerror}") from None
    before = decode_text(data, f"{env.kustomization} in the working tree")
    after = kustomize.set_image(
        before, image_of(ws, env), tag=tag, digest=digest, create=create, source=env.kustomization
    )
    return SetImagePlan(env, path, before, after, unified_diff(before, after, env.kustomization))


def apply_set_image(ws: Workspace, plan: SetImagePlan) -> None:
    """Write the edit, render it, and put the old bytes back if the render fails."""
    if plan.before == plan.after:
        return
    write_inside(ws.root, plan.path, plan.after)
    try:
        verify_renders(ws.root, [render_check(plan.env, plan.after, image_of(ws, plan.env))])
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: the overlay is put back
        write_inside(ws.root, plan.path, plan.before)
        raise WorkInterruptedError(
            f"{plan.env.kustomization} restored; the image was not set", signal=stop
        ) from None
    except BaseException:
        write_inside(ws.root, plan.path, plan.before)
        raise


# --- deploy.update --------------------------------------------------------------------------


def deploy_message(env: str, tag: str, previous: str | None, digest: str | None) -> str:
    """The commit message of a CD update, with its trailers."""
    trailers = Trailers("deploy", env, image_tag=tag, previous_tag=previous, digest=digest)
    return commit_message(f"chore: update {env} image to {tag} [skip ci]", "", [trailers])


def _deploy_message_for(env: str, tag: str, digest: str | None, previous: str | None) -> str:
    return deploy_message(env, tag, previous, digest)


@dataclass(frozen=True)
class EnvUpdate:
    """One overlay the CD step changes."""

    env: Environment
    previous: str | None
    diff: str


@dataclass(frozen=True)
class UpdatePlan:
    """What `deploy.update` would do on one branch."""

    branch: str
    tag: str
    digest: str | None
    base: str
    updates: list[EnvUpdate]
    current: list[str]
    held: list[HoldRecord]


def plan_update(
    ws: Workspace,
    *,
    branch: str,
    tag: str,
    digest: str | None = None,
    only: Sequence[str] | None = None,
) -> UpdatePlan:
    """Fetch `branch` and work out which of its environments the new tag changes."""
    kustomize.validate_tag(tag)
    if digest is not None:
        kustomize.validate_digest(digest)
    for name in only or ():
        # An unknown or misplaced --env must be named, not reported as an empty branch.
        env = ws.config.environment(name)
        if env.branch != branch:
            raise DexopsError(f"environment {name!r} does not live on branch {branch!r}")
        if env.promotion_only:
            raise DexopsError(f"{name} is promotion-only: `promote` and `rollback` change it")
    on_branch = ws.config.environments_on(branch)
    envs = [e for e in on_branch if not e.promotion_only and (only is None or e.name in only)]
    if not envs:
        if on_branch:
            raise DexopsError(
                f"every environment on branch {branch!r} is promotion-only "
                f"({', '.join(e.name for e in on_branch)}); CD changes none of them"
            )
        configured = sorted({e.branch for e in ws.config.environments.values()}) or ["none"]
        raise DexopsError(
            f"no environment lives on branch {branch!r} (branches: {', '.join(configured)})"
        )
    fetch(ws, envs)
    states = read_states(ws, envs)
    holds = read_holds(ws, envs)
    updates, current, held = [], [], []
    for env in envs:
        state = states[env.name]
        if (state.tag, state.digest) == (tag, digest):
            current.append(env.name)
        elif env.name in holds:
            held.append(holds[env.name])
        else:
            after = kustomize.set_image(
                state.text, state.image, tag=tag, digest=digest, source=env.kustomization
            )
            updates.append(
                EnvUpdate(env, state.tag, unified_diff(state.text, after, env.kustomization))
            )
    if held and not updates and not current:
        # Every environment of the branch is held: the CD step has nothing it may do.
        raise HoldError(hold_message(held[0]))
    return UpdatePlan(branch, tag, digest, tip(ws.git, branch), updates, current, held)


def stage_image(
    ws: Workspace,
    staging: Staging,
    env: Environment,
    *,
    tag: str,
    digest: str | None,
    message: Callable[[str | None], str],
) -> RenderCheck | None:
    """Edit one overlay in `staging` and commit it; None when it already holds the image."""
    image = image_of(ws, env)
    text = staging.text(env.kustomization)
    if text is None:
        raise DexopsError(f"{env.kustomization} does not exist on {env.branch}")
    before = kustomize.read_image(text, image, env.kustomization)
    after = kustomize.set_image(text, image, tag=tag, digest=digest, source=env.kustomization)
    if after == text:
        return None
    staging.write(env.kustomization, after)
    staging.commit(message(before.new_tag))
    return render_check(env, after, image)


def builder(
    ws: Workspace,
    envs: Sequence[Environment],
    tag: str,
    digest: str | None,
    tmp: Path,
    *,
    message: Callable[[Environment, str | None], str] | None = None,
) -> Callable[[str], str | None]:
    """A `land` build step: on a tip, commit the new image into each overlay that lacks it.

    `message(env, previous_tag)` words each commit; by default it is the deploy message.
    """

    def build(base: str) -> str | None:
        staging = Staging(ws.git, Path(tempfile.mkdtemp(dir=tmp)), base, sign=ws.config.sign)
        checks = []
        for env in envs:
            words = (
                functools.partial(message, env)
                if message is not None
                else functools.partial(_deploy_message_for, env.name, tag, digest)
            )
            check = stage_image(ws, staging, env, tag=tag, digest=digest, message=words)
            if check is not None:
                checks.append(check)
        if not checks:
            return None
        verify_staging(staging, checks)
        return staging.head

    return build


UpdateOutcome = Literal["pushed", "unchanged", "committed", "proposed"]


@dataclass(frozen=True)
class UpdateResult:
    """What `deploy.update` did."""

    outcome: UpdateOutcome
    commit: str | None = None
    updated: list[str] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    attempts: int = 1
    earlier: bool = False  # "committed" by an earlier run without --push, nothing new made
    local_left: str | None = None  # a local branch left diverged from what was pushed


def apply_update(
    ws: Workspace, plan: UpdatePlan, *, push: bool, auto_merge: bool = False
) -> UpdateResult:
    """Commit the update on the branch (and push it, retrying lost races; PR when protected)."""
    if not plan.updates:
        return UpdateResult("unchanged")
    envs = [u.env for u in plan.updates]
    names = [e.name for e in envs]
    local = ws.git.resolve(f"refs/heads/{plan.branch}")
    with tempfile.TemporaryDirectory(prefix="dexops-deploy-") as tmp:
        build = builder(ws, envs, plan.tag, plan.digest, Path(tmp))
        if not push:
            return _commit_locally(ws, plan, envs, build, local)

        def build_or_reuse(base: str) -> str | None:
            # An earlier run without --push left exactly this update on the local branch:
            # push that commit, so the local branch and origin end up the same.
            if local is not None and _committed_locally(ws, plan, envs, local, base):
                return local
            return build(base)

        try:
            landing = land(ws.git, plan.branch, build_or_reuse)
        except PushRejectedError:
            proposals = [
                propose(
                    ws.git,
                    branch=f"dexops/deploy-{env.name}-{plan.tag}",
                    base=plan.branch,
                    commit=functools.partial(_single, ws, env, plan, Path(tmp)),
                    title=f"chore: update {env.name} image to {plan.tag}",
                    body=f"The branch {plan.branch} refused a direct push; this pull request "
                    f"updates {env.kustomization} to `{plan.tag}`.\n",
                    auto_merge=auto_merge,
                )
                for env in envs
            ]
            return UpdateResult("proposed", None, [e.name for e in envs], proposals)
    if landing.commit is None:
        return UpdateResult("unchanged")
    left = None
    if local is not None and not ws.git.is_ancestor(local, landing.commit):
        left = local
    return UpdateResult("pushed", landing.commit, names, [], landing.attempts, local_left=left)


def _commit_locally(
    ws: Workspace,
    plan: UpdatePlan,
    envs: Sequence[Environment],
    build: Callable[[str], str | None],
    local: str | None,
) -> UpdateResult:
    """Without --push: commit on the local branch, or find an earlier run's commit there."""
    names = [e.name for e in envs]
    if local is not None and _committed_locally(ws, plan, envs, local, plan.base):
        return UpdateResult("committed", local, names, earlier=True)
    commit = build(plan.base)
    if commit is None:
        return UpdateResult("unchanged")
    _advance_local_branch(ws, plan.branch, commit)
    return UpdateResult("committed", commit, names)


def _committed_locally(
    ws: Workspace, plan: UpdatePlan, envs: Sequence[Environment], local: str, base: str
) -> bool:
    """Whether `local` is `base` plus only this update's deploy commits, holding the image."""
    if local == base or not ws.git.is_ancestor(base, local):
        return False
    # One entry per commit (its id, then its trailers): a commit without trailers counts too.
    log = ws.git.run("log", "-z", "--format=%H%n%(trailers:only,unfold)", f"{base}..{local}")
    for entry in log.strip("\0\n").split("\0"):
        trailers = parse_trailer_items(entry.strip("\n").splitlines()[1:])
        if (first(trailers, ACTION), first(trailers, IMAGE_TAG)) != ("deploy", plan.tag):
            return False
        if first(trailers, DIGEST) != plan.digest:
            return False
    names = {env.name: f"{local}:{env.kustomization}" for env in envs}
    blobs = ws.git.read_objects(list(names.values()))
    for env in envs:
        data = blobs.get(names[env.name])
        if data is None:
            return False
        text = decode_text(data, f"{env.kustomization} on {plan.branch}")
        held = kustomize.read_image(text, image_of(ws, env), env.kustomization)
        if (held.new_tag, held.digest) != (plan.tag, plan.digest):
            return False
    return True


def _single(ws: Workspace, env: Environment, plan: UpdatePlan, tmp: Path) -> str:
    commit = builder(ws, [env], plan.tag, plan.digest, tmp)(tip(ws.git, plan.branch))
    if commit is None:
        raise DexopsError(f"{env.name} already runs {plan.tag} on {plan.branch}")
    return commit


def _advance_local_branch(ws: Workspace, branch: str, commit: str) -> None:
    """Move the local branch to `commit` (fast-forward only; the checkout follows if it is HEAD)."""
    local = ws.git.resolve(f"refs/heads/{branch}")
    if local is not None and not ws.git.is_ancestor(local, commit):
        raise GitError(
            f"local branch {branch} has commits origin/{branch} lacks; push them or use --push "
            f"(the update was made as commit {commit[:12]} but not applied)"
        )
    checked_out = ws.git.call("symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    if checked_out == branch:
        ws.git.require_clean()
        ws.git.run("merge", "--ff-only", "--quiet", commit)
    else:
        ws.git.run("update-ref", f"refs/heads/{branch}", commit, local or "")

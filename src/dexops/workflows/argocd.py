"""Argo CD workflows: wait until a pushed commit runs Healthy, and trigger a sync."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Literal

from dexops import invocation
from dexops.adapters.argocd import ArgoCD, ArgoCDUnavailableError, OperationInProgressError
from dexops.domain.app_state import AppState
from dexops.domain.config import Environment
from dexops.domain.durations import seconds
from dexops.domain.rollout import (
    RolloutDegradedError,
    RolloutGoal,
    RolloutProgress,
    RolloutTimeoutError,
    SyncFailedError,
    Verdict,
    WaitTerminatedError,
    advance,
    expire,
)
from dexops.errors import ConfigError, DexopsError, GitError
from dexops.workflows.remote_branches import fetch_branches, tip
from dexops.workflows.workspace import Workspace

DEFAULT_TIMEOUT = 600.0
DEFAULT_INTERVAL = 5.0
DEFAULT_HEALTHY_POLLS = 3


def argocd_application(env: Environment) -> str:
    """The Argo CD application of an environment, or an error naming the missing key."""
    if env.argocd_app is None:
        raise ConfigError(
            f"environment {env.name!r} has no argocd-app in [tool.dexops.environments.{env.name}]"
        )
    return env.argocd_app


@dataclass(frozen=True)
class PushedCommit:
    """The commit a wait is for, when it reached the remote, and where that came from."""

    commit: str
    pushed_at: datetime
    source: str


def _parse_time(text: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not an ISO 8601 time") from None
    # A bare time is read as UTC: CI runners and Argo CD both report UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def pushed_commit(
    ws: Workspace,
    env: Environment,
    *,
    revision: str | None = None,
    pushed_at: str | None = None,
) -> PushedCommit:
    """The commit to wait for: `revision`, or the tip of origin/<branch> after a fetch.

    The push time defaults to the commit's committer date, which is never later
    than the push itself, so an operation after the push is also after it.
    """
    git = ws.git
    if revision is None:
        fetch_branches(git, [env.branch])
        commit, source = tip(git, env.branch), f"tip of origin/{env.branch}"
    else:
        resolved, source = git.resolve(revision), "--revision"
        if resolved is None:
            if pushed_at is None:
                raise GitError(
                    f"--revision {revision!r} is not a commit in {ws.root}; "
                    "fetch it or give --pushed-at"
                )
            # A commit we cannot see locally: compare it as given (a full or 7+ digit hash).
            return PushedCommit(revision.lower(), _parse_time(pushed_at, "--pushed-at"), source)
        commit = resolved
    if pushed_at is not None:
        return PushedCommit(commit, _parse_time(pushed_at, "--pushed-at"), source)
    committed = git.run("show", "-s", "--format=%cI", commit)
    return PushedCommit(commit, _parse_time(committed, f"committer date of {commit[:12]}"), source)


@dataclass(frozen=True)
class WaitStarted:
    """A wait begins: for how long, and for which pushed commit."""

    app: str
    timeout: float
    pushed: PushedCommit
    warnings: tuple[str, ...] = ()  # the client's (an unverified TLS certificate)


@dataclass(frozen=True)
class Polled:
    """One judged poll of the application."""

    app: str
    progress: RolloutProgress
    elapsed: float


@dataclass(frozen=True)
class PollFailed:
    """A poll that failed but may succeed next time."""

    app: str
    message: str
    elapsed: float


RolloutEvent = WaitStarted | Polled | PollFailed


def describe(state: AppState) -> str:
    """An application's state in one line: sync, health, revision, operation."""
    revision = state.revision[:12] or "-"
    operation = state.operation_phase or "-"
    return (
        f"sync={state.sync_status} health={state.health_status} "
        f"revision={revision} operation={operation}"
    )


@dataclass(frozen=True)
class RolloutResult:
    """A finished wait: the application, the commit and how long it took."""

    app: str
    commit: str
    state: AppState
    seconds: float
    polls: int


def _failure(app: str, goal: RolloutGoal, progress: RolloutProgress, waited: float) -> DexopsError:
    want = goal.commit[:12]
    if progress.verdict is Verdict.DEGRADED:
        return RolloutDegradedError(f"{app} is Degraded on {want}: {progress.reason}")
    if progress.verdict is Verdict.SYNC_FAILED:
        return SyncFailedError(f"{app} failed to sync {want}: {progress.reason}")
    return RolloutTimeoutError(
        f"{app} did not run {want} Healthy within {waited:.0f}s: {progress.reason}"
    )


def wait_for_rollout(
    client: ArgoCD,
    app: str,
    goal: RolloutGoal,
    *,
    interval: float,
    on_progress: Callable[[RolloutEvent], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutResult:
    """Poll `app` until the goal's commit runs Healthy, or raise the error for why not.

    Only reads Argo CD. A 5xx or unreachable server is reported and polled again
    until the deadline; a refused token or a missing application fails at once.
    """
    start = clock()
    progress = RolloutProgress()
    try:
        while True:
            now = clock()
            try:
                # No one call may outlast the wait: the HTTP deadline is what is left of it.
                state = client.application(app, within=max(1.0, goal.deadline - clock()))
            except ArgoCDUnavailableError as exc:
                if on_progress is not None:
                    on_progress(PollFailed(app, str(exc), now - start))
                if now >= goal.deadline:
                    if progress.last is None:
                        raise ArgoCDUnavailableError(
                            f"gave up waiting for {app} after {now - start:.0f}s: {exc}"
                        ) from None
                    progress = expire(progress, f"{progress.reason}; then: {exc}")
                    break
            else:
                progress = advance(goal, progress, state, now)
                if on_progress is not None:
                    on_progress(Polled(app, progress, now - start))
                if progress.verdict.final:
                    break
            # Never sleep past the deadline: the last poll happens at the deadline.
            sleep(max(0.0, min(interval, goal.deadline - clock())))
    except WaitTerminatedError:
        seen = describe(progress.last) if progress.last else "nothing yet"
        raise WaitTerminatedError(
            f"terminated by SIGTERM after {clock() - start:.0f}s waiting for {app} to run "
            f"{goal.commit[:12]}: nothing was changed (the wait only reads Argo CD) and the "
            f"rollout was not confirmed; last seen: {seen}"
        ) from None
    waited = clock() - start
    if progress.verdict is not Verdict.DONE or progress.last is None:
        raise _failure(app, goal, progress, waited)
    return RolloutResult(app, goal.commit, progress.last, waited, progress.polls)


def wait_for_environment(
    ws: Workspace,
    env_name: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    healthy_polls: int = DEFAULT_HEALTHY_POLLS,
    revision: str | None = None,
    pushed_at: str | None = None,
    client: ArgoCD | None = None,
    on_progress: Callable[[RolloutEvent], None] | None = None,
) -> RolloutResult:
    """Wait until the environment's Argo CD application runs its pushed commit Healthy."""
    timeout, interval = seconds(timeout, "--timeout"), seconds(interval, "--interval")
    env = ws.config.environment(env_name)
    app = argocd_application(env)
    client = client or ArgoCD.from_env()
    pushed = pushed_commit(ws, env, revision=revision, pushed_at=pushed_at)
    goal = RolloutGoal(
        commit=pushed.commit,
        pushed_at=pushed.pushed_at,
        deadline=time.monotonic() + timeout,
        healthy_polls=healthy_polls,
    )
    if on_progress is not None:
        on_progress(WaitStarted(app, timeout, pushed, client.warnings))
    return wait_for_rollout(client, app, goal, interval=interval, on_progress=on_progress)


@dataclass(frozen=True)
class SyncOutcome:
    """What `argocd.sync` did: started an operation, found one running, or would start one."""

    app: str
    action: Literal["started", "running", "would-start"]
    state: AppState
    server: str = ""  # the Argo CD server asked (or, under --dry-run, that would be)
    warnings: tuple[str, ...] = ()


def trigger_sync(
    ws: Workspace,
    env_name: str,
    *,
    prune: bool = False,
    dry_run: bool = False,
    client: ArgoCD | None = None,
) -> SyncOutcome:
    """Ask Argo CD to sync the environment's application; a running operation is reported."""
    env = ws.config.environment(env_name)
    app = argocd_application(env)
    client = client or ArgoCD.from_env()
    try:
        state = client.application(app)
    except WaitTerminatedError:
        raise WaitTerminatedError(
            f"terminated by SIGTERM before a sync of {app} was requested: nothing was done"
        ) from None
    if state.operation_phase in ("Running", "Terminating"):
        return SyncOutcome(app, "running", state, client.server.base_url, client.warnings)
    if dry_run:
        return SyncOutcome(app, "would-start", state, client.server.base_url, client.warnings)
    try:
        after = client.sync(app, prune=prune)
    except OperationInProgressError:
        return SyncOutcome(
            app, "running", client.application(app), client.server.base_url, client.warnings
        )
    except WaitTerminatedError:
        raise WaitTerminatedError(
            f"terminated by SIGTERM while requesting a sync of {app}: the request may or may "
            f"not have reached Argo CD; "
            f"`{invocation.command(f'argocd.wait --env {env.name}')}` shows its state"
        ) from None
    return SyncOutcome(app, "started", after, client.server.base_url, client.warnings)


@contextmanager
def sigterm_raises(what: str) -> Iterator[None]:
    """Turn SIGTERM into `WaitTerminatedError` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise WaitTerminatedError(f"terminated by SIGTERM during {what}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""When an Argo CD rollout of a pushed commit is done: a pure state machine over polls.

The wait is fed one observed `AppState` per poll. It is done only when the synced
revision is the pushed commit, the last operation succeeded and finished after the
push, and health has been Healthy for `healthy_polls` consecutive polls. A Degraded
health or a failed operation counts only once it belongs to the push: an application
that was broken before the push and is being fixed by it must not fail the wait.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from dexops.domain.app_state import AppState
from dexops.errors import DexopsError, ExitCode

# Argo CD operation phases that end an operation without success.
FAILED_PHASES = frozenset({"Failed", "Error"})


class RolloutTimeoutError(DexopsError):
    """The rollout did not finish before the deadline."""

    exit_code = ExitCode.WAIT_TIMED_OUT


class RolloutDegradedError(DexopsError):
    """The application became Degraded after the pushed commit was synced."""

    exit_code = ExitCode.DEGRADED


class SyncFailedError(DexopsError):
    """Argo CD's sync operation for the pushed commit failed or errored."""

    exit_code = ExitCode.SYNC_FAILED


class WaitTerminatedError(DexopsError):
    """The process was asked to stop (SIGTERM) while waiting."""

    exit_code = ExitCode.TERMINATED


def same_commit(a: str, b: str) -> bool:
    """Whether two commit names agree; an abbreviation of 7+ hex digits matches its full hash."""
    a, b = a.lower(), b.lower()
    if not a or not b:
        return False
    short, full = sorted((a, b), key=len)
    return full == short if len(short) < 7 else full.startswith(short)


@dataclass(frozen=True)
class RolloutGoal:
    """The pushed commit to wait for, the moment it was pushed, and the deadline."""

    commit: str
    pushed_at: datetime
    deadline: float
    healthy_polls: int = 3

    def __post_init__(self) -> None:
        if self.healthy_polls < 1:
            raise DexopsError(f"healthy polls must be at least 1, not {self.healthy_polls}")
        if self.pushed_at.tzinfo is None:
            raise DexopsError(f"push time {self.pushed_at.isoformat()} has no time zone")


class Verdict(Enum):
    """Where a wait stands after a poll."""

    WAITING = "waiting"
    DONE = "done"
    DEGRADED = "degraded"
    SYNC_FAILED = "sync-failed"
    TIMED_OUT = "timed-out"

    @property
    def final(self) -> bool:
        """Whether the wait stops here."""
        return self is not Verdict.WAITING


@dataclass(frozen=True)
class RolloutProgress:
    """The wait after some polls: the verdict, the healthy streak and why it is not done."""

    verdict: Verdict = Verdict.WAITING
    healthy_streak: int = 0
    polls: int = 0
    reason: str = "no poll yet"
    last: AppState | None = None


def _short(commit: str) -> str:
    return commit[:12] if commit else "(none)"


def on_commit(goal: RolloutGoal, state: AppState) -> bool:
    """Whether the application is compared with the pushed commit."""
    return any(same_commit(goal.commit, rev) for rev in state.sync_revisions)


def operation_after_push(goal: RolloutGoal, state: AppState) -> bool:
    """Whether the last operation finished after the push (and so can be about it)."""
    finished = state.operation_finished_at
    return finished is not None and finished >= goal.pushed_at


def _operation_is_ours(goal: RolloutGoal, state: AppState) -> bool:
    if state.operation_phase is None:
        return False
    if any(same_commit(goal.commit, rev) for rev in state.operation_revisions):
        return True
    started = state.operation_started_at
    return started is not None and started >= goal.pushed_at


def _operation_unmet(goal: RolloutGoal, state: AppState) -> str | None:
    pushed = goal.pushed_at.isoformat()
    if state.operation_phase is None:
        return f"no sync operation has run since the push at {pushed}"
    if state.operation_phase != "Succeeded":
        return f"operation is {state.operation_phase}, waiting for Succeeded"
    if not operation_after_push(goal, state):
        finished = state.operation_finished_at
        when = finished.isoformat() if finished else "at an unknown time"
        return f"last operation finished {when}, before the push at {pushed}; waiting for a sync"
    return None


def unmet(goal: RolloutGoal, state: AppState) -> str | None:
    """The first condition that keeps the rollout from being done, or None when all hold."""
    want = _short(goal.commit)
    if not on_commit(goal, state):
        return f"synced revision is {_short(state.revision)}, waiting for {want}"
    if state.sync_status != "Synced":
        return f"{want} is {state.sync_status}, waiting for Synced"
    operation = _operation_unmet(goal, state)
    if operation is not None:
        return operation
    if state.health_status != "Healthy":
        return f"health is {state.health_status}, waiting for Healthy"
    return None


def advance(
    goal: RolloutGoal, progress: RolloutProgress, state: AppState, now: float
) -> RolloutProgress:
    """Fold one poll into the wait; a final verdict never changes afterwards."""
    if progress.verdict.final:
        return progress
    polls = progress.polls + 1
    ours = _operation_is_ours(goal, state)
    if ours and state.operation_phase in FAILED_PHASES:
        message = state.operation_message or "no message"
        return RolloutProgress(
            Verdict.SYNC_FAILED, 0, polls, f"sync {state.operation_phase}: {message}", state
        )
    if (
        state.health_status == "Degraded"
        and on_commit(goal, state)
        and state.sync_status == "Synced"
        and _operation_unmet(goal, state) is None
    ):
        message = state.health_message or "no message"
        return RolloutProgress(Verdict.DEGRADED, 0, polls, f"Degraded: {message}", state)
    reason = unmet(goal, state)
    streak = progress.healthy_streak + 1 if reason is None else 0
    if reason is None and streak >= goal.healthy_polls:
        return RolloutProgress(Verdict.DONE, streak, polls, "Healthy", state)
    if reason is None:
        reason = f"Healthy for {streak} of {goal.healthy_polls} polls"
    if now >= goal.deadline:
        return RolloutProgress(Verdict.TIMED_OUT, streak, polls, reason, state)
    return RolloutProgress(Verdict.WAITING, streak, polls, reason, state)


def expire(progress: RolloutProgress, why: str | None = None) -> RolloutProgress:
    """The wait after its deadline passed without a poll that could be judged."""
    if progress.verdict.final:
        return progress
    return replace(progress, verdict=Verdict.TIMED_OUT, reason=why or progress.reason)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexops.domain.app_state import AppState
from dexops.domain.rollout import (
    RolloutGoal,
    RolloutProgress,
    Verdict,
    advance,
    expire,
    same_commit,
    unmet,
)
from dexops.errors import DexopsError

OLD = "1" * 40
NEW = "a1b2c3d4e5f6" + "0" * 28
PUSHED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
BEFORE = PUSHED - timedelta(hours=1)
AFTER = PUSHED + timedelta(seconds=20)


def goal(polls: int = 3, deadline: float = 100.0) -> RolloutGoal:
    return RolloutGoal(commit=NEW, pushed_at=PUSHED, deadline=deadline, healthy_polls=polls)


def state(  # noqa: PLR0917 - scenario tables read best positionally
    revision: str = NEW,
    sync: str = "Synced",
    health: str = "Healthy",
    phase: str | None = "Succeeded",
    finished: datetime | None = AFTER,
    started: datetime | None = None,
    op_revision: str | None = None,
) -> AppState:
    return AppState(
        sync_status=sync,
        sync_revisions=(revision,),
        health_status=health,
        operation_phase=phase,
        operation_message="sync message",
        operation_started_at=started or (finished - timedelta(seconds=5) if finished else None),
        operation_finished_at=finished if phase not in (None, "Running") else None,
        operation_revisions=(op_revision or revision,) if phase else (),
    )


def run(g: RolloutGoal, states: list[AppState], start: float = 0.0) -> list[RolloutProgress]:
    progress = RolloutProgress()
    seen = []
    for i, s in enumerate(states):
        progress = advance(g, progress, s, start + i)
        seen.append(progress)
    return seen


def test_the_documented_rollout_is_done_only_on_the_pushed_revision() -> None:
    states = [
        state(OLD, sync="OutOfSync", finished=BEFORE),
        state(OLD, sync="Synced", health="Healthy", finished=BEFORE),
        state(OLD, sync="Synced", health="Healthy", finished=AFTER),  # a re-sync of the old one
        state(NEW, sync="OutOfSync", finished=BEFORE, op_revision=OLD),
        state(NEW, phase="Running", health="Progressing", started=AFTER),
        state(NEW, health="Progressing"),
        state(NEW),
        state(NEW),
        state(NEW),
    ]
    seen = run(goal(), states)
    assert [p.verdict for p in seen[:-1]] == [Verdict.WAITING] * 8
    assert seen[-1].verdict is Verdict.DONE
    assert "waiting for a1b2c3d4e5f6" in seen[2].reason
    assert seen[4].reason == "operation is Running, waiting for Succeeded"
    assert seen[5].reason == "health is Progressing, waiting for Healthy"
    assert seen[7].reason == "Healthy for 2 of 3 polls"


def test_a_healthy_streak_restarts_after_a_wobble() -> None:
    seen = run(goal(), [state(), state(), state(health="Progressing"), state(), state(), state()])
    assert [p.healthy_streak for p in seen] == [1, 2, 0, 1, 2, 3]
    assert seen[-1].verdict is Verdict.DONE


def test_an_operation_that_finished_before_the_push_does_not_count() -> None:
    seen = run(goal(polls=1), [state(finished=BEFORE)])
    assert seen[0].verdict is Verdict.WAITING
    assert "before the push" in seen[0].reason


def test_degraded_after_the_sync_fails_but_degraded_before_it_waits() -> None:
    broken_before = state(OLD, health="Degraded", finished=BEFORE)
    assert run(goal(), [broken_before])[0].verdict is Verdict.WAITING
    out_of_sync_new = state(NEW, sync="OutOfSync", health="Degraded", finished=BEFORE)
    assert run(goal(), [out_of_sync_new])[0].verdict is Verdict.WAITING
    seen = run(goal(), [state(health="Progressing"), state(health="Degraded")])
    assert seen[-1].verdict is Verdict.DEGRADED


def test_a_failed_sync_of_the_push_fails_but_an_old_failure_does_not() -> None:
    old_failure = state(OLD, sync="OutOfSync", phase="Failed", finished=BEFORE)
    assert run(goal(), [old_failure])[0].verdict is Verdict.WAITING
    for phase in ("Failed", "Error"):
        ours = state(NEW, sync="OutOfSync", phase=phase)
        seen = run(goal(), [ours])
        assert seen[0].verdict is Verdict.SYNC_FAILED
        assert seen[0].reason == f"sync {phase}: sync message"


def test_the_deadline_times_out_and_says_what_was_missing() -> None:
    seen = run(goal(deadline=2.0), [state(OLD)] * 5)
    assert [p.verdict for p in seen[:3]] == [Verdict.WAITING, Verdict.WAITING, Verdict.TIMED_OUT]
    assert seen[-1] is seen[2]  # a final verdict is never changed
    assert "synced revision is 111111111111" in seen[2].reason
    assert expire(RolloutProgress(), "server down").verdict is Verdict.TIMED_OUT
    assert expire(seen[2], "other").reason == seen[2].reason


def test_multi_source_applications_match_any_of_their_revisions() -> None:
    multi = AppState(
        sync_status="Synced",
        sync_revisions=(OLD, NEW),
        health_status="Healthy",
        operation_phase="Succeeded",
        operation_finished_at=AFTER,
    )
    assert unmet(goal(), multi) is None


def test_goal_validation() -> None:
    with pytest.raises(DexopsError, match="at least 1"):
        RolloutGoal(NEW, PUSHED, 1.0, healthy_polls=0)
    with pytest.raises(DexopsError, match="no time zone"):
        RolloutGoal(NEW, datetime(2026, 1, 1), 1.0)


def test_same_commit() -> None:
    assert same_commit(NEW, NEW.upper())
    assert same_commit(NEW[:7], NEW)
    assert same_commit(NEW, NEW[:12])
    assert not same_commit(NEW[:6], NEW)  # too short to be trusted
    assert not same_commit("", NEW)
    assert not same_commit(OLD, NEW)


# --- properties over arbitrary poll sequences ------------------------------------------

hexes = st.text("0123456789abcdef", min_size=40, max_size=40)
moments = st.sampled_from([None, BEFORE, PUSHED, AFTER])
states = st.builds(
    AppState,
    sync_status=st.sampled_from(["Synced", "OutOfSync", "Unknown"]),
    sync_revisions=st.sampled_from([(NEW,), (OLD,), (), (OLD, NEW)]),
    health_status=st.sampled_from(["Healthy", "Progressing", "Degraded", "Missing", "Suspended"]),
    operation_phase=st.sampled_from([None, "Running", "Succeeded", "Failed", "Error"]),
    operation_started_at=moments,
    operation_finished_at=moments,
    operation_revisions=st.sampled_from([(NEW,), (OLD,), ()]),
)


def fully_done(g: RolloutGoal, s: AppState) -> bool:
    return (
        NEW in s.sync_revisions
        and s.sync_status == "Synced"
        and s.operation_phase == "Succeeded"
        and s.operation_finished_at is not None
        and s.operation_finished_at >= g.pushed_at
        and s.health_status == "Healthy"
    )


@settings(deadline=None)  # pure and fast; a loaded CI machine must not make it flaky
@given(st.lists(states, min_size=1, max_size=30), st.integers(1, 4))
def test_done_exactly_when_the_last_polls_all_satisfied_every_condition(
    sequence: list[AppState], polls: int
) -> None:
    g = goal(polls=polls, deadline=1e9)
    seen = run(g, sequence)
    for i, progress in enumerate(seen):
        window = sequence[max(0, i - polls + 1) : i + 1]
        earlier_final = i > 0 and seen[i - 1].verdict.final
        if progress.verdict is Verdict.DONE and not earlier_final:
            assert len(window) == polls
            assert all(fully_done(g, s) for s in window)
        if not earlier_final and len(window) == polls and all(fully_done(g, s) for s in window):
            assert progress.verdict is Verdict.DONE
        if earlier_final:
            assert progress == seen[i - 1]


@settings(deadline=None)  # pure and fast; a loaded CI machine must not make it flaky
@given(st.lists(states, min_size=1, max_size=30))
def test_failures_are_only_about_the_push(sequence: list[AppState]) -> None:
    g = goal(deadline=1e9)
    for progress in run(g, sequence):
        s = progress.last
        assert s is not None
        if progress.verdict is Verdict.DEGRADED:
            assert fully_done(g, AppState(**{**vars(s), "health_status": "Healthy"}))
        if progress.verdict is Verdict.SYNC_FAILED:
            assert s.operation_phase in ("Failed", "Error")
            assert NEW in s.operation_revisions or (
                s.operation_started_at is not None and s.operation_started_at >= PUSHED
            )
        assert progress.verdict is not Verdict.TIMED_OUT  # the deadline is far away


@settings(deadline=None)  # pure and fast; a loaded CI machine must not make it flaky
@given(st.lists(states, min_size=1, max_size=10), st.floats(0, 20))
def test_past_the_deadline_every_unfinished_wait_times_out(
    sequence: list[AppState], deadline: float
) -> None:
    g = goal(deadline=deadline)
    progress = RolloutProgress()
    for i, s in enumerate(sequence):
        before = progress
        progress = advance(g, progress, s, float(i))
        if not before.verdict.final and float(i) >= deadline:
            assert progress.verdict is not Verdict.WAITING


@settings(deadline=None)  # pure and fast; a loaded CI machine must not make it flaky
@given(hexes, st.integers(7, 40))
def test_any_long_enough_prefix_names_the_commit(commit: str, length: int) -> None:
    assert same_commit(commit[:length], commit)
    assert same_commit(commit, commit[:length].upper())

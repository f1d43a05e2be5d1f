"""The delivery metrics domain: definitions on small histories, and an oracle property test."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexops.domain.delivery_metrics import (
    DAY,
    CommitGraph,
    OverlayRevision,
    Window,
    component_releases,
    environment_metrics,
    format_duration,
    median,
    overlay_revision,
    parse_since,
    parse_span,
    percentile,
)
from dexops.errors import ConfigError


def _commit(i: int) -> str:
    return f"{i:08x}" + "0" * 32


def _tag(i: int) -> str:
    return f"sha-{_commit(i)[:8]}"


def _linear(n: int, step: int = 100) -> CommitGraph:
    parents = {_commit(i): ((_commit(i - 1),) if i else ()) for i in range(n)}
    return CommitGraph(parents, {_commit(i): i * step for i in range(n)})


def _rev(
    time: int, action: str | None, image: int | None, previous: int | None = None
) -> OverlayRevision:
    return OverlayRevision(
        f"overlay{time}",
        time,
        action,
        None if image is None else _tag(image),
        None if previous is None else _tag(previous),
    )


def test_lead_time_counts_each_commit_once_from_the_first_image_containing_it() -> None:
    graph = _linear(6)  # commits at 0, 100, ..., 500
    revisions = [
        _rev(1000, "deploy", 2, previous=0),  # 1 and 2 are new; 0 was running
        _rev(2000, "deploy", 5),  # 3, 4, 5
        _rev(2500, "rollback", 2),
    ]
    env = environment_metrics("prod", revisions, graph, Window(0, 3000))
    assert [sorted(d.lead_times) for d in env.deployments] == [[800, 900], [1500, 1600, 1700]]
    assert env.count == 2
    assert env.failed == 1
    assert env.change_failure_rate == 0.5
    assert env.restore_times == [500]
    assert median(env.lead_times) == 1500.0
    assert percentile(env.lead_times, 90) == 1700


def test_merges_and_dexops_overlay_commits_are_not_changes() -> None:
    # 0 - 1 ----- 4 (merge of 3) - 5 (overlay commit) - 6
    #      \- 2 - 3 -/
    c = _commit
    parents = {
        c(0): (),
        c(1): (c(0),),
        c(2): (c(1),),
        c(3): (c(2),),
        c(4): (c(1), c(3)),
        c(5): (c(4),),
        c(6): (c(5),),
    }
    graph = CommitGraph(parents, {c(i): i * 10 for i in range(7)})
    env = environment_metrics(
        "stage",
        [_rev(100, "deploy", 6, previous=0)],
        graph,
        Window(0, 200),
        skip=frozenset({c(5)}),
    )
    assert sorted(env.deployments[0].lead_times) == [100 - 60, 100 - 30, 100 - 20, 100 - 10]


def test_window_keeps_earlier_history_for_reach_but_reports_only_inside() -> None:
    graph = _linear(4)
    revisions = [_rev(1000, "deploy", 1, previous=0), _rev(5000, "promote", 3)]
    env = environment_metrics("prod", revisions, graph, Window(4000, 6000))
    assert [sorted(d.lead_times) for d in env.deployments] == [[4700, 4800]]
    assert env.per_day == pytest.approx(1 / (2000 / DAY))
    assert env.per_week == pytest.approx(7 * env.per_day)


def test_rollback_outside_the_failure_window_is_not_a_failure() -> None:
    graph = _linear(3)
    revisions = [_rev(100, "deploy", 1), _rev(100 + 3 * DAY, "rollback", 0)]
    env = environment_metrics("prod", revisions, graph, Window(0, 10 * DAY), failure_window=DAY)
    assert env.failed == 0
    assert env.rollbacks == 1
    assert env.change_failure_rate == 0.0


def test_second_rollback_does_not_count_twice_and_hold_release_is_ignored() -> None:
    graph = _linear(4)
    revisions = [
        _rev(1000, "deploy", 3),
        _rev(1100, "rollback", 2),
        _rev(1200, "rollback", 1),
        _rev(1300, "hold-release", None),
        _rev(1400, None, None),
    ]
    env = environment_metrics("prod", revisions, graph, Window(0, 2000))
    assert env.restore_times == [100]
    assert env.rollbacks == 2
    assert env.unrecorded == 1
    assert env.count == 1


def test_unknown_or_ambiguous_image_tags_give_no_lead_times() -> None:
    a = "abcdef12" + "1" * 32
    b = "abcdef12" + "2" * 32
    graph = CommitGraph({a: (), b: ()}, {a: 0, b: 0})
    assert graph.image_commit("sha-abcdef12") is None
    assert graph.image_commit("v1.2.3") is None
    assert graph.image_commit(None) is None
    env = environment_metrics("dev", [_rev(10, "deploy", 99)], graph, Window(0, 20))
    assert env.unresolved_images == 1
    assert env.lead_times == []


def test_overlay_revision_picks_the_group_of_its_environment() -> None:
    items = [
        "Dexops-Action: promote",
        "Dexops-Environment: stage",
        "Dexops-Image-Tag: sha-11111111",
        "Dexops-Action: promote",
        "Dexops-Environment: prod",
        "Dexops-Image-Tag: sha-22222222",
        "Dexops-Previous-Tag: sha-00000000",
    ]
    prod = overlay_revision("c", 5, items, "prod")
    assert (prod.action, prod.image_tag, prod.previous_tag) == (
        "promote",
        "sha-22222222",
        "sha-00000000",
    )
    stage = overlay_revision("c", 5, items, "stage")
    assert (stage.image_tag, stage.previous_tag) == ("sha-11111111", None)
    assert overlay_revision("c", 5, ["Signed-off-by: x"], "prod").action is None
    assert overlay_revision("c", 5, items, "dev").action is None
    # A lone group without an environment applies to the overlay it touched.
    lone = overlay_revision("c", 5, ["Dexops-Action: deploy", "Dexops-Image-Tag: sha-1"], "dev")
    assert lone.action == "deploy"


def test_weekly_counts_start_on_mondays() -> None:
    monday = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())  # a Monday
    graph = _linear(2)
    revisions = [_rev(monday + 2 * DAY + i, "deploy", 1) for i in range(3)]
    revisions.append(_rev(monday + 8 * DAY, "deploy", 1))
    env = environment_metrics("dev", revisions, graph, Window(monday + DAY, monday + 15 * DAY))
    assert env.weekly() == [("2024-01-01", 3), ("2024-01-08", 1), ("2024-01-15", 0)]


def test_component_releases() -> None:
    times = {
        "lib-v1.0.0": 100,
        "lib-v1.1.0rc1": 300,
        "lib-v1.1.0": 600,
        "lib-vendor": 50,
        "lib-v2.0.0": 9999,
        "other-v1.0.0": 200,
    }
    rel = component_releases("lib", "lib-v", times, Window(0, 1000))
    assert [n for n, _, _ in rel.releases] == ["lib-v1.0.0", "lib-v1.1.0rc1", "lib-v1.1.0"]
    assert rel.intervals == [200, 300]
    assert rel.prerelease_share == pytest.approx(1 / 3)
    assert rel.as_json()["median_seconds_between"] == 250.0
    assert component_releases("x", "x-v", times, Window(0, 1)).prerelease_share is None


def test_spans_dates_and_durations() -> None:
    now = 1_000_000_000
    assert parse_since("90d", now) == now - 90 * DAY
    assert parse_since("2w", now) == now - 14 * DAY
    assert parse_since("2001-09-01", now) == int(datetime(2001, 9, 1, tzinfo=UTC).timestamp())
    assert parse_span("36h") == 36 * 3600
    assert parse_span("soon") is None
    with pytest.raises(ConfigError, match="'soon'"):
        parse_since("soon", now)
    with pytest.raises(ConfigError, match="future"):
        parse_since("2099-01-01", now)
    assert format_duration(None) == "-"
    assert format_duration(3 * DAY + 4 * 3600) == "3d 4h"
    assert format_duration(5 * 3600 + 12 * 60) == "5h 12m"
    assert format_duration(40 * 60) == "40m"
    assert format_duration(12) == "12s"


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=50), st.floats(1, 100))
def test_percentile_is_a_member_and_monotonic(values: list[int], q: float) -> None:
    p = percentile(values, q)
    assert p in values
    assert sum(v <= p for v in values) >= q / 100 * len(values)
    assert percentile(values, 50) <= percentile(values, 90)  # type: ignore[operator]
    assert median(values) == statistics.median(values)


@st.composite
def _histories(draw: st.DrawFn) -> tuple[CommitGraph, list[OverlayRevision], frozenset[str]]:
    n = draw(st.integers(1, 25))
    parents: dict[str, tuple[str, ...]] = {}
    for i in range(n):
        if i == 0:
            chosen: list[int] = []
        else:
            count = draw(st.integers(1, min(2, i)))
            chosen = draw(
                st.lists(st.integers(0, i - 1), min_size=count, max_size=count, unique=True)
            )
        parents[_commit(i)] = tuple(_commit(p) for p in chosen)
    graph = CommitGraph(parents, {_commit(i): i * 10 for i in range(n)})
    events = draw(
        st.lists(
            st.tuples(st.sampled_from(["deploy", "promote", "rollback"]), st.integers(0, n - 1)),
            max_size=12,
        )
    )
    revisions = [_rev(1000 + 100 * k, action, image) for k, (action, image) in enumerate(events)]
    skip = frozenset(_commit(i) for i in draw(st.sets(st.integers(0, n - 1), max_size=3)))
    return graph, revisions, skip


def _ancestors(graph: CommitGraph, commit: str) -> set[str]:
    seen = {commit}
    todo = [commit]
    while todo:
        for parent in graph.parents[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


@settings(max_examples=200, deadline=None)
@given(_histories())
def test_lead_times_match_a_brute_force_oracle(
    history: tuple[CommitGraph, list[OverlayRevision], frozenset[str]],
) -> None:
    graph, revisions, skip = history
    window = Window(0, 10**6)
    env = environment_metrics("e", revisions, graph, window, skip=skip)
    # Oracle: each change's lead time comes from the first revision whose image contains it,
    # when that revision is a deployment.
    expected = []
    for commit, parents in graph.parents.items():
        if len(parents) > 1 or commit in skip:
            continue
        for rev in revisions:
            image = graph.image_commit(rev.image_tag)
            if image is not None and commit in _ancestors(graph, image):
                if rev.action != "rollback":
                    expected.append(rev.time - graph.times[commit])
                break
    assert sorted(env.lead_times) == sorted(expected)
    assert env.count == sum(r.action != "rollback" for r in revisions)
    assert 0 <= env.failed <= min(env.count, env.rollbacks)
    # Every failure is answered by the next rollback before any other deployment.
    for d in env.deployments:
        if d.failed:
            later = [r for r in revisions if r.time > d.time]
            assert later[0].action == "rollback"
            assert d.restored_after == later[0].time - d.time

"""`invoke metrics` on generated histories whose every figure is known by construction."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

import pytest
from tests.conftest import Cli, require_tool
from tests.fixtures_metrics import DeliveryHistory, EnvTruth, generate

from dexops.domain.delivery_metrics import DAY, Window, median, percentile
from dexops.workflows.metrics import delivery_metrics
from dexops.workflows.workspace import Workspace

pytestmark = pytest.mark.integration

START = 1_700_000_000  # 2023-11-14, a Tuesday


def _in_window(truth: EnvTruth, window: Window) -> list[int]:
    return [t for t in truth.deploys if t in window]


def _check(history: DeliveryHistory, window: Window, failure_window: int = 7 * DAY) -> None:
    report = delivery_metrics(
        Workspace.open(str(history.path)), window=window, failure_window=failure_window
    )
    by_env = {e.environment: e for e in report.environments}
    assert set(by_env) == {"stage", "prod"}
    for env, truth in history.truth.items():
        got = by_env[env]
        deploys = _in_window(truth, window)
        assert [d.time for d in got.deployments] == deploys
        assert got.count == len(deploys)
        assert got.per_day == pytest.approx(len(deploys) / window.days)
        expected_leads = sorted(lead for t in deploys for lead in truth.lead_times[t])
        assert sorted(got.lead_times) == expected_leads
        assert median(got.lead_times) == (
            statistics.median(expected_leads) if expected_leads else None
        )
        failed = {t: s for t, s in truth.restored.items() if t in window}
        assert {d.time: d.restored_after for d in got.deployments if d.failed} == failed
        assert got.rollbacks == len([t for t in truth.rollbacks if t in window])
        assert got.unresolved_images == 0
        assert got.unrecorded == len([t for t in history.unrecorded if t in window])


def test_hand_built_history_with_merges_and_rollbacks(tmp_path: Path) -> None:
    require_tool("git", "apt-get install git")
    h = DeliveryHistory(tmp_path / "repo", START)
    first = h.feature(3, "login")  # three changes, one merge
    h.wait(3600)
    h.deploy("stage", first)
    second = h.feature(2, "search")
    fix = h.direct()
    h.wait(600)
    h.deploy("stage", fix)
    h.wait(1800)
    h.rollback("stage", h.sha_tag(first), within=7 * DAY)
    h.wait(DAY)
    h.deploy("prod", second, action="promote")  # the search merge, without the direct fix
    h.finish()
    stage, prod = h.truth["stage"], h.truth["prod"]
    # By construction: login's three commits 60 s apart, then the merge and a one-hour wait.
    assert stage.lead_times[stage.deploys[0]] == [3600 + 240, 3600 + 180, 3600 + 120]
    assert stage.restored == {stage.deploys[1]: 1800 + 60}
    assert len(prod.lead_times[prod.deploys[0]]) == 5  # login and search, not the fix
    window = Window(START, h.clock)
    _check(h, window)
    report = delivery_metrics(Workspace.open(str(h.path)), window=window)
    stage_metrics = report.environments[0]
    assert stage_metrics.environment == "stage"
    assert stage_metrics.change_failure_rate == 0.5
    assert stage_metrics.restore_times == [1860]
    assert percentile(stage_metrics.lead_times, 90) == max(stage_metrics.lead_times)


def test_generated_history_matches_its_construction(tmp_path: Path) -> None:
    require_tool("git", "apt-get install git")
    history = generate(tmp_path / "repo", start=START, batches=30, size=4)
    history.finish()
    end = history.clock
    # The whole history, then a window that starts in the middle: history before it still
    # decides what had reached each environment.
    _check(history, Window(START, end))
    _check(history, Window(START + 12 * DAY + 5000, end))
    # A short failure window: the two-hour rollbacks no longer count as failures.
    short = delivery_metrics(
        Workspace.open(str(history.path)), window=Window(START, end), failure_window=3600
    )
    assert all(not d.failed for e in short.environments for d in e.deployments)


def test_release_stats_come_from_tags(tmp_path: Path) -> None:
    require_tool("git", "apt-get install git")
    h = DeliveryHistory(tmp_path / "repo", START)
    h.direct()
    h.tag("corelib-v1.0.0")
    h.wait(2 * DAY)
    h.tag("corelib-v1.1.0rc1")
    h.wait(4 * DAY)
    h.tag("corelib-v1.1.0", annotated=False)  # lightweight: the commit's date counts
    h.tag("not-a-release")
    h.finish()
    report = delivery_metrics(Workspace.open(str(h.path)), window=Window(START, h.clock))
    lib = next(c for c in report.components if c.component == "corelib")
    expected = sorted((when, name) for name, when in h.tags.items() if name != "not-a-release")
    assert [(t, n) for n, t, _ in lib.releases] == expected
    # The lightweight tag is dated by its commit, so it comes first.
    assert expected[0][1] == "corelib-v1.1.0"
    assert lib.intervals == [expected[1][0] - expected[0][0], 2 * DAY + 60]
    assert lib.prerelease_share == pytest.approx(1 / 3)


def test_metrics_task_prints_json_and_summary(tmp_path: Path, cli: Cli) -> None:
    require_tool("git", "apt-get install git")
    import time

    now = int(time.time())
    history = generate(tmp_path / "repo", start=now - 20 * DAY, batches=14, size=2)
    history.finish()
    done = cli("metrics", "--json", "--since", "30d", cwd=history.path)
    assert done.code == 0, done.err
    data = json.loads(done.out)
    stage = next(e for e in data["environments"] if e["environment"] == "stage")
    assert stage["deployments"] == len(history.truth["stage"].deploys)
    assert stage["lead_time"]["commits"] == sum(
        len(v) for v in history.truth["stage"].lead_times.values()
    )
    assert data["workflows"] is None

    summary = tmp_path / "summary.md"
    summary.write_text("")
    import os

    os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
    try:
        done = cli("metrics", "--summary", "--env", "prod", cwd=history.path)
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"]
    assert done.code == 0, done.err
    text = summary.read_text()
    assert "xychart-beta" in text
    assert "Deployments per week: prod" in text
    assert sum(int(n) for n in text.split("bar [")[1].split("]")[0].split(", ")) == len(
        history.truth["prod"].deploys
    )

    done = cli("metrics", "--env", "qa", cwd=history.path)
    assert done.code == 1
    assert "unknown environment 'qa'" in done.err


def test_table_output_and_bad_since(tmp_path: Path, cli: Cli) -> None:
    require_tool("git", "apt-get install git")
    history = generate(tmp_path / "repo", start=START, batches=3, size=1)
    history.finish()
    done = cli("metrics", "--since", "2023-11-01", cwd=history.path)
    assert done.code == 0, done.err
    assert "lead time p50" in done.out
    assert "corelib" in done.out
    done = cli("metrics", "--since", "yesterday", cwd=history.path)
    assert done.code == 1
    assert "--since 'yesterday'" in done.err
    subprocess.run(["git", "-C", str(history.path), "status"], check=True, capture_output=True)

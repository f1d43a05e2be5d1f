"""Workflow runs from the GitHub REST API: pagination, the created filter, the figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dexops.adapters.github import GitHub, next_link
from dexops.domain.workflow_runs import WorkflowRun, parse_run, workflow_stats
from dexops.errors import ForgeError
from tests.conftest import Cli
from tests.fixtures_metrics import RunsFake
from tests.gitrepo import GitRepo


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_next_link() -> None:
    header = (
        '<https://api.github.com/x?page=2>; rel="next", '
        '<https://api.github.com/x?page=5>; rel="last"'
    )
    assert next_link(header) == "https://api.github.com/x?page=2"
    assert next_link('<https://api.github.com/x?page=5>; rel="last"') is None
    assert next_link(None) is None


def test_stats_per_workflow() -> None:
    runs = [
        WorkflowRun("CI", "completed", "success", 0, 120),
        WorkflowRun("CI", "completed", "failure", 0, 300),
        WorkflowRun("CI", "completed", "cancelled", 0, 60),
        WorkflowRun("CI", "completed", "success", 0, 180),
        WorkflowRun("CI", "in_progress", None, 0, None),
        WorkflowRun("CD", "completed", "timed_out", 0, 600),
    ]
    cd, ci = workflow_stats(runs)
    assert (ci.workflow, ci.completed, ci.passed, ci.failed) == ("CI", 4, 2, 1)
    assert ci.pass_rate == pytest.approx(2 / 3)
    assert ci.median_duration == 150.0
    assert cd.pass_rate == 0.0
    assert parse_run({"name": None, "path": "ci.yml", "status": "queued"}).workflow == "ci.yml"


def test_reader_follows_pagination_and_filters_by_date(github_runs: RunsFake) -> None:
    for day in range(1, 29):
        github_runs.add_run(
            "CI",
            "success" if day % 4 else "failure",
            created=f"2024-02-{day:02d}T10:00:00Z",
            minutes=day,
        )
    github_runs.add_run("CD", "success", created="2024-02-20T08:00:00Z", minutes=3)
    github_runs.add_run("CI", "success", created="2024-01-31T10:00:00Z", minutes=1)
    reader = GitHub(github_runs.repository, github_runs.token, github_runs.url, backoff=0)
    # 10:00 on the 5th: the first day's earlier runs are dropped after the day filter.
    runs = reader.workflow_runs_since(_ts("2024-02-05T09:00:00"), max_pages=10)
    requests = [r for r in github_runs.requests if r.path.endswith("/actions/runs")]
    assert requests[0].query == {"created": ">=2024-02-05", "per_page": "100"}
    assert len(runs) == 24 + 1
    stats = {s.workflow: s for s in workflow_stats(runs)}
    assert stats["CI"].completed == 24
    assert stats["CI"].failed == 6  # days 8, 12, ..., 28
    assert stats["CI"].median_duration == pytest.approx(statistics_median(range(5, 29)) * 60)
    assert stats["CD"].median_duration == 180.0
    assert all(r.headers["authorization"] == f"Bearer {github_runs.token}" for r in requests)


def statistics_median(values: range) -> float:
    import statistics

    return float(statistics.median(values))


def test_reader_pages_with_link_headers(
    github_runs: RunsFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dexops.adapters.github.RUNS_PER_PAGE", 7)
    for i in range(20):
        github_runs.add_run("CI", "success", created=f"2024-03-{i + 1:02d}T00:00:00Z", minutes=1)
    reader = GitHub(github_runs.repository, github_runs.token, github_runs.url, backoff=0)
    runs = reader.workflow_runs_since(_ts("2024-03-01T00:00:00"))
    pages = [r.query.get("page", "1") for r in github_runs.requests]
    assert pages == ["1", "2", "3"]
    assert len(runs) == 20
    assert not reader.truncated
    github_runs.requests.clear()
    capped = reader.workflow_runs_since(_ts("2024-03-01T00:00:00"), max_pages=2)
    assert len(capped) == 14
    assert reader.truncated


def test_reader_errors_are_one_line_without_the_token(github_runs: RunsFake) -> None:
    reader = GitHub(github_runs.repository, "ghp_wrongtoken12345", github_runs.url, backoff=0)
    with pytest.raises(ForgeError, match="401 Bad credentials") as caught:
        reader.workflow_runs_since(0)
    assert "ghp_wrongtoken12345" not in str(caught.value)
    github_runs.fail(500, times=10, path="/actions/runs")
    good = GitHub(github_runs.repository, github_runs.token, github_runs.url, backoff=0)
    with pytest.raises(ForgeError, match="500"):
        good.workflow_runs_since(0)


def test_metrics_task_reads_runs_with_a_token(
    dex_repo: GitRepo, cli: Cli, github_runs: RunsFake
) -> None:
    today = datetime.now(UTC).date().isoformat()
    github_runs.add_run("CI", "success", created=f"{today}T00:00:00Z", minutes=2)
    github_runs.add_run("CI", "failure", created=f"{today}T00:00:00Z", minutes=4)
    github_runs.setenv()
    done = cli("metrics", "--json", cwd=dex_repo.path)
    assert done.code == 0, done.err
    data = json.loads(done.out)
    assert data["workflows"] == [
        {
            "workflow": "CI",
            "completed": 2,
            "passed": 1,
            "failed": 1,
            "pass_rate": 0.5,
            "median_duration_seconds": 180.0,
        }
    ]
    done = cli("metrics", cwd=dex_repo.path)
    assert done.code == 0, done.err
    assert "CI workflows" in done.out
    assert "50%" in done.out
    assert github_runs.token not in done.out + done.err

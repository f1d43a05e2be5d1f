"""GitHub Actions: event payloads by the documented field, and the run context."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from dexops import github_actions
from dexops.github_actions import RunContext, run_context, token
from tests.conftest import Cli
from tests.gitrepo import GitRepo

HEAD = "a" * 40
BASE = "b" * 40
TIP = "c" * 40  # GITHUB_SHA: the default branch's tip, a merge commit, or the tagged commit

# Trimmed payloads in the shapes GitHub documents for each event.
EVENTS: dict[str, dict[str, object]] = {
    "push": {"after": HEAD, "before": BASE, "ref": "refs/heads/dev"},
    "pull_request": {
        "action": "synchronize",
        "pull_request": {"head": {"sha": HEAD, "ref": "feature"}, "base": {"sha": BASE}},
    },
    "workflow_run": {
        "workflow_run": {
            "head_sha": HEAD,
            "head_branch": "dev",
            "event": "push",
            "conclusion": "success",
        }
    },
    "release": {"release": {"tag_name": "dataenginex-v1.0.0", "target_commitish": "main"}},
    "workflow_dispatch": {"inputs": {"tag": "dataenginex-v1.0.0"}, "ref": "refs/heads/main"},
}


def _under_actions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, payload: Mapping[str, object]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload), encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_SHA", TIP)
    monkeypatch.setenv("GITHUB_REF_TYPE", "branch")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("push", (HEAD, BASE, "main")),
        ("pull_request", (HEAD, BASE, "main")),
        # The job runs on the default branch; the event names the commit and branch CI tested.
        ("workflow_run", (HEAD, None, "dev")),
        ("release", (TIP, None, "main")),
        ("workflow_dispatch", (TIP, None, "main")),
    ],
)
def test_each_event_names_its_head_by_the_documented_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, expected: tuple[str | None, ...]
) -> None:
    _under_actions(monkeypatch, tmp_path, name, EVENTS[name])
    read = (github_actions.event_head(), github_actions.event_base(), github_actions.event_branch())
    assert read == expected


def test_a_new_branch_push_has_no_base_and_a_deleted_one_no_head(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _under_actions(monkeypatch, tmp_path, "push", {"after": HEAD, "before": "0" * 40})
    assert (github_actions.event_head(), github_actions.event_base()) == (HEAD, None)
    _under_actions(monkeypatch, tmp_path, "push", {"after": "0" * 40, "before": BASE})
    assert github_actions.event_head() is None


def test_outside_actions_there_is_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert github_actions.event_head() is None
    assert github_actions.event_branch() is None


def test_cd_after_ci_on_dev_tags_the_dev_commit_not_the_default_branch_tip(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dev_commit = dex_repo.head()
    payload = {"workflow_run": {"head_sha": dev_commit, "head_branch": "dev", "event": "push"}}
    _under_actions(monkeypatch, tmp_path, "workflow_run", payload)
    result = cli("image.tags", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    # The dev branch's tags (its moving tag included), named and labelled for the dev commit.
    assert data["tags"] == [f"sha-{dev_commit[:8]}", "dev"]
    assert data["labels"]["org.opencontainers.image.revision"] == dev_commit


def test_cd_refuses_a_checkout_of_another_commit_than_ci_tested(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    payload = {"workflow_run": {"head_sha": "d" * 40, "head_branch": "dev", "event": "push"}}
    _under_actions(monkeypatch, tmp_path, "workflow_run", payload)
    result = cli("image.tags", "--json", cwd=dex_repo.path)
    assert result.code != 0
    assert result.err.startswith("error: HEAD is ")
    assert "workflow_run.head_sha" in result.err


# --- the run context ----------------------------------------------------------------------

RUN = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.example/",
    "GITHUB_API_URL": "https://github.example/api/v3",
    "GITHUB_REPOSITORY": "owner/repo",
    "GITHUB_RUN_ID": "42",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_REF_TYPE": "branch",
    "GITHUB_REF_NAME": "main",
    "GITHUB_STEP_SUMMARY": "/tmp/summary.md",
}


def test_a_run_is_read_from_its_variables() -> None:
    run = RunContext.read(RUN)
    assert run.active
    assert run.repository_url == "https://github.example/owner/repo"
    assert run.run_url == "https://github.example/owner/repo/actions/runs/42"
    assert run.api_url == "https://github.example/api/v3"
    assert run.branch == "main"
    assert not run.pull_request
    assert run.step_summary == "/tmp/summary.md"


def test_pull_requests_and_tags_have_no_branch() -> None:
    pull = RunContext.read({**RUN, "GITHUB_EVENT_NAME": "pull_request_target"})
    assert pull.pull_request
    assert (
        RunContext.read({**RUN, "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1"}).branch is None
    )


def test_outside_actions_nothing_is_known() -> None:
    run = RunContext.read({})
    assert run == RunContext()
    assert (run.active, run.repository_url, run.run_url, run.branch) == (False, None, None, None)
    # Empty variables count as unset.
    assert (
        RunContext.read({"GITHUB_REPOSITORY": "", "GITHUB_SERVER_URL": ""}).repository_url is None
    )


def test_the_process_environment_is_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/other")
    assert run_context().repository == "owner/other"
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/third")
    assert run_context().repository == "owner/third"  # read anew, not cached


def test_the_token_prefers_github_token() -> None:
    assert token({"GITHUB_TOKEN": "a" * 10, "GH_TOKEN": "b" * 10}) == "a" * 10
    assert token({"GH_TOKEN": "b" * 10}) == "b" * 10
    assert token({"GITHUB_TOKEN": ""}) is None

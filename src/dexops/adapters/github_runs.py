"""GitHub Actions workflow runs over REST: CI pass rate and median duration per workflow."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dexops import github_actions
from dexops.errors import ForgeError

if TYPE_CHECKING:
    import requests

    from dexops.adapters.git import Git

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
# GitHub answers at most 1,000 runs for a filtered listing; ten pages reach that bound.
MAX_PAGES = 10
PASSED = frozenset({"success"})
FAILED = frozenset({"failure", "timed_out", "startup_failure"})

_LINK = re.compile(r'<(?P<url>[^>]+)>\s*;\s*rel="(?P<rel>[^"]+)"')


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of a Link header, or None on the last page."""
    for match in _LINK.finditer(header or ""):
        if "next" in match.group("rel").split():
            return match.group("url")
    return None


def _time(text: object) -> int | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


@dataclass(frozen=True)
class WorkflowRun:
    """One run of a workflow, as far as the figures need it."""

    workflow: str
    status: str
    conclusion: str | None
    started: int | None
    updated: int | None

    @property
    def duration(self) -> int | None:
        """Seconds from the run's start to its last update, for completed runs."""
        if self.status != "completed" or self.started is None or self.updated is None:
            return None
        return max(0, self.updated - self.started)


def parse_run(item: Mapping[str, Any]) -> WorkflowRun:
    """A run from one element of the `workflow_runs` array."""
    name = item.get("name") or item.get("path") or f"workflow {item.get('workflow_id')}"
    conclusion = item.get("conclusion")
    return WorkflowRun(
        workflow=str(name),
        status=str(item.get("status") or ""),
        conclusion=conclusion if isinstance(conclusion, str) else None,
        started=_time(item.get("run_started_at") or item.get("created_at")),
        updated=_time(item.get("updated_at")),
    )


@dataclass(frozen=True)
class WorkflowStats:
    """Pass rate and median duration of one workflow."""

    workflow: str
    completed: int
    passed: int
    failed: int
    median_duration: float | None

    @property
    def pass_rate(self) -> float | None:
        """Passed over passed + failed (cancelled and skipped runs count for neither)."""
        decided = self.passed + self.failed
        return self.passed / decided if decided else None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "workflow": self.workflow,
            "completed": self.completed,
            "passed": self.passed,
            "failed": self.failed,
            "pass_rate": self.pass_rate,
            "median_duration_seconds": self.median_duration,
        }


def workflow_stats(runs: Iterable[WorkflowRun]) -> list[WorkflowStats]:
    """Per workflow (sorted by name): completed runs, pass rate and median duration."""
    from dexops.domain.delivery_metrics import median

    grouped: dict[str, list[WorkflowRun]] = {}
    for run in runs:
        if run.status == "completed":
            grouped.setdefault(run.workflow, []).append(run)
    stats = []
    for name in sorted(grouped):
        group = grouped[name]
        durations = [d for r in group if (d := r.duration) is not None]
        stats.append(
            WorkflowStats(
                workflow=name,
                completed=len(group),
                passed=sum(r.conclusion in PASSED for r in group),
                failed=sum(r.conclusion in FAILED for r in group),
                median_duration=median(durations),
            )
        )
    return stats


class RunsReader:
    """Reads one repository's workflow runs; owns one session with timeouts and retries."""

    def __init__(
        self, repository: str, token: str, api_url: str = DEFAULT_API_URL, *, backoff: float = 0.5
    ) -> None:
        from dexops import secrets
        from dexops.adapters.http import make_session

        secrets.register(token)
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.session: requests.Session = make_session(backoff=backoff)
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Authorization": f"Bearer {token}",
            }
        )
        self.truncated = False

    def runs_since(self, start: int, *, max_pages: int = MAX_PAGES) -> list[WorkflowRun]:
        """Every run created at or after `start` (unix seconds), following Link headers."""
        import requests

        day = datetime.fromtimestamp(start, UTC).date().isoformat()
        url: str | None = f"{self.api_url}/repos/{self.repository}/actions/runs"
        params: dict[str, str] | None = {"created": f">={day}", "per_page": str(PER_PAGE)}
        runs: list[WorkflowRun] = []
        pages = 0
        while url is not None:
            if pages == max_pages:
                self.truncated = True
                break
            shown = f"GET /repos/{self.repository}/actions/runs (page {pages + 1})"
            try:
                response = self.session.get(url, params=params)
            except requests.RequestException as exc:
                raise ForgeError(
                    f"cannot reach GitHub at {self.api_url} ({type(exc).__name__})"
                ) from None
            if response.status_code != 200:
                raise ForgeError(
                    f"GitHub refused {shown}: {response.status_code} {_reason(response)}"
                )
            try:
                data = response.json()
                items = data["workflow_runs"]
            except (ValueError, KeyError, TypeError):
                raise ForgeError(f"GitHub answered {shown} with malformed JSON") from None
            runs += [parse_run(item) for item in items if isinstance(item, dict)]
            pages += 1
            # The next URL carries the query already; sending params again would double them.
            url, params = next_link(response.headers.get("Link")), None
        # `created` filters by day; drop the part of the first day before `start`.
        return [r for r in runs if r.started is None or r.started >= start]


def _reason(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason or ""
    return str(data.get("message") or response.reason or "") if isinstance(data, dict) else ""


def reader_from_env(git: Git) -> RunsReader | None:
    """A reader when GITHUB_TOKEN is set; the repository from GITHUB_REPOSITORY or origin."""
    from dexops.adapters.github import repository_from_url

    token = github_actions.token()
    if not token:
        return None
    run = github_actions.run_context()
    repository = run.repository or repository_from_url(git.remote_url())
    if repository is None:
        raise ForgeError(
            "cannot tell the GitHub repository from origin's URL; set GITHUB_REPOSITORY"
        )
    return RunsReader(repository, token, run.api_url or DEFAULT_API_URL)

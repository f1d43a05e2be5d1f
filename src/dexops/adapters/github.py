"""The GitHub adapter: releases, pull requests and workflow runs over REST, auto-merge over GraphQL.

One client, one retry rule, one session whose token goes only to the API's own origin (and
the uploads origin derived from it): a URL GitHub sends back (a `Link` page) on any other
origin is refused before anything is sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from dexops import github_actions, secrets
from dexops.adapters.http import (
    DEFAULT_TIMEOUT,
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    make_session,
    origin,
)
from dexops.domain.workflow_runs import WorkflowRun, parse_run
from dexops.errors import ConfigError, ForgeError

if TYPE_CHECKING:
    import requests

    from dexops.adapters.git import Git

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MERGE_METHODS = ("MERGE", "SQUASH", "REBASE")
API_URL_ENV = "GITHUB_API_URL"
RUNS_PER_PAGE = 100
# GitHub answers at most 1,000 runs for a filtered listing; ten pages reach that bound.
MAX_RUN_PAGES = 10

_LINK = re.compile(r'<(?P<url>[^>]+)>\s*;\s*rel="(?P<rel>[^"]+)"')

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# `git@github.com:owner/repo.git` — the scp-like form ssh remotes use.
_SCP_URL = re.compile(r"^[^@/:\s]+@[^/:\s]+:(?P<path>[^\s]+)$")

_AUTO_MERGE = """
mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!) {
  enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod}) {
    pullRequest { number autoMergeRequest { mergeMethod } }
  }
}
""".strip()

# Looked up when a client is made, so tests can replace it before then.
_pause: Callable[[float], None] = time.sleep


@dataclass(frozen=True, slots=True)
class PullRequest:
    """An open pull request; `created` says whether this call opened it."""

    number: int
    url: str
    head: str
    base: str
    created: bool
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class Release:
    """A GitHub release of a tag; `created` says whether this call made it."""

    tag: str
    url: str
    created: bool
    id: int = 0
    assets: tuple[str, ...] = ()


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of a Link header, or None on the last page."""
    for match in _LINK.finditer(header or ""):
        if "next" in match.group("rel").split():
            return match.group("url")
    return None


def _graphql_url(api_url: str) -> str:
    # GitHub Enterprise serves REST at /api/v3 and GraphQL at /api/graphql.
    if api_url.endswith("/v3"):
        return api_url[: -len("/v3")] + "/graphql"
    return api_url + "/graphql"


def uploads_root(api_url: str) -> str:
    """Where release assets are uploaded, derived from the API root (never from a response).

    github.com takes uploads on its own host, GitHub Enterprise under /api/uploads; any other
    root (a proxy, a test fake) takes them itself. Deriving it keeps the token on known hosts.
    """
    parts = urlsplit(api_url)
    if parts.hostname == "api.github.com":
        return f"{parts.scheme}://uploads.github.com"
    if api_url.endswith("/api/v3"):
        return api_url[: -len("/v3")] + "/uploads"
    return api_url


def _message(response: requests.Response) -> str:
    """GitHub's own one-line explanation of an error response."""
    try:
        data = response.json()
    except ValueError:
        return response.reason or ""
    if not isinstance(data, dict):
        return response.reason or ""
    text = str(data.get("message") or response.reason or "")
    details = []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            details.append(str(error.get("message") or error.get("code") or ""))
        else:
            details.append(str(error))
    details = [d for d in details if d]
    return f"{text} ({'; '.join(details)})" if details else text


def _timed_out(exc: BaseException) -> bool:
    """Whether a requests failure was a timeout (urllib3 wraps read timeouts in retries)."""
    # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
    import requests  # noqa: PLC0415
    from urllib3.exceptions import MaxRetryError, NewConnectionError  # noqa: PLC0415
    from urllib3.exceptions import TimeoutError as Urllib3Timeout  # noqa: PLC0415

    if isinstance(exc, requests.Timeout):
        return True
    cause = exc.args[0] if exc.args else None
    if not isinstance(cause, MaxRetryError):
        return False
    # urllib3 makes a refused connection a kind of connect timeout; it is not one.
    reason = cause.reason
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


def _error_codes(response: requests.Response) -> set[str]:
    try:
        data = response.json()
    except ValueError:
        return set()
    errors = data.get("errors") if isinstance(data, dict) else None
    return {str(e.get("code")) for e in errors or [] if isinstance(e, dict)}


@dataclass(frozen=True, slots=True)
class TokenAccess:
    """What the token may do on the repository, as GitHub reports it."""

    # A classic token's OAuth scopes (X-OAuth-Scopes); None for fine-grained and Actions tokens.
    scopes: frozenset[str] | None
    # The repository's `permissions` object (admin, maintain, push, triage, pull).
    permissions: Mapping[str, object]
    private: bool


class GitHub:
    """A client for one repository; owns one HTTP session with timeouts and bounded retries."""

    def __init__(
        self,
        repository: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        if not _REPOSITORY.match(repository):
            raise ForgeError(f"GitHub repository {repository!r} is not of the form owner/name")
        if not token:
            raise ForgeError("a GitHub token is required")
        secrets.register(token)
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep: Callable[[float], None] = _pause
        self.truncated = False
        self._origins = frozenset(origin(u) for u in (self.api_url, uploads_root(self.api_url)))
        # The session retries nothing itself: GitHub also rate-limits with 403, which urllib3's
        # Retry cannot tell from a refusal, so this client owns one retry loop for all cases.
        self._session = make_session(
            retries=0,
            timeout=timeout,
            credentials={"Authorization": f"Bearer {token}"},
            credential_urls=(self.api_url, uploads_root(self.api_url)),
        )
        self._session.headers.update(
            {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        )

    # --- transport ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if not path.startswith(("http://", "https://")):
            return self.api_url + path
        if origin(path) not in self._origins:
            raise ForgeError(
                f"GitHub pointed to {origin(path)}, not {origin(self.api_url)}; refused "
                "(the token is sent only to the configured API)"
            )
        return path

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff * 2.0**attempt, 10.0)

    def _wait_for(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this response; None when it is not retryable."""
        headers = response.headers
        retry_after = headers.get("Retry-After")
        rate_limited = response.status_code == 429 or (
            response.status_code == 403
            and (retry_after is not None or headers.get("x-ratelimit-remaining") == "0")
        )
        if not rate_limited and response.status_code not in RETRY_STATUSES:
            return None
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        reset = headers.get("x-ratelimit-reset")
        if rate_limited and headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            try:
                return max(0.0, float(reset) - time.time())
            except ValueError:
                pass
        return self._backoff(attempt)

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        ok: tuple[int, ...],
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        shown: str | None = None,
    ) -> requests.Response:
        """Send one call with bounded retries; return a response whose status is in `ok`."""
        # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
        import requests  # noqa: PLC0415

        shown = shown or f"{method} {path}"
        url = self._url(path)
        for attempt in range(self.attempts):
            try:
                response = self._session.request(method, url, json=json, data=data, headers=headers)
            except requests.RequestException as exc:
                if attempt + 1 < self.attempts:
                    self.sleep(self._backoff(attempt))
                    continue
                if _timed_out(exc):
                    raise ForgeError(f"GitHub did not answer {shown} in time") from None
                reason = type(exc).__name__
                raise ForgeError(f"cannot reach GitHub at {self.api_url} ({reason})") from None
            if response.status_code in ok:
                return response
            wait = self._wait_for(response, attempt)
            if wait is None:
                break
            if wait > MAX_RETRY_AFTER:
                raise ForgeError(
                    f"GitHub rate limit hit on {shown}; it asks to wait {wait:.0f}s, "
                    f"more than dexops waits ({MAX_RETRY_AFTER:.0f}s); retry later"
                )
            if attempt + 1 < self.attempts:
                self.sleep(wait)
        raise self._failure(shown, response)

    def _failure(self, shown: str, response: requests.Response) -> ForgeError:
        status = response.status_code
        message = _message(response)
        if status == 401:
            return ForgeError(f"GitHub rejected the token on {shown}: 401 {message}")
        if status in (403, 429) and (
            status == 429
            or "Retry-After" in response.headers
            or response.headers.get("x-ratelimit-remaining") == "0"
        ):
            return ForgeError(
                f"GitHub rate limit still hit on {shown} after {self.attempts} attempts"
            )
        if status == 403:
            return ForgeError(f"GitHub refused {shown}: 403 {message} (check token permissions)")
        if status == 404:
            return ForgeError(
                f"GitHub found nothing at {shown}: 404 {message} "
                f"(does {self.repository} exist and can the token see it?)"
            )
        if status >= 500:
            return ForgeError(f"GitHub failed {shown}: {status} after {self.attempts} attempts")
        return ForgeError(f"GitHub refused {shown}: {status} {message}")

    def _json(self, response: requests.Response, shown: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ForgeError(f"GitHub answered {shown} with malformed JSON")
        return data

    def _json_list(self, response: requests.Response, shown: str) -> list[dict[str, Any]]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ForgeError(f"GitHub answered {shown} with malformed JSON")
        return data

    @property
    def _repo_path(self) -> str:
        return f"/repos/{self.repository}"

    def token_access(self) -> TokenAccess:
        """Read the repository with the token: its scopes header and its permissions."""
        path = self._repo_path
        response = self._request("GET", path, ok=(200,))
        data = self._json(response, f"GET {path}")
        header = response.headers.get("X-OAuth-Scopes")
        scopes = (
            None if header is None else frozenset(filter(None, map(str.strip, header.split(","))))
        )
        permissions = data.get("permissions")
        return TokenAccess(
            scopes,
            permissions if isinstance(permissions, Mapping) else {},
            bool(data.get("private", True)),
        )

    # --- releases ----------------------------------------------------------------------------

    def release_url(self, tag: str) -> str:
        """The API path of a tag's release (also shown in dry-run plans)."""
        return f"{self._repo_path}/releases/tags/{quote(tag, safe='')}"

    def release_for_tag(self, tag: str) -> Release | None:
        """The published release of `tag`, or None when there is none."""
        path = self.release_url(tag)
        response = self._request("GET", path, ok=(200, 404))
        if response.status_code == 404:
            return None
        data = self._json(response, f"GET {path}")
        return self._release(data, f"GET {path}", created=False)

    def _release(self, data: Mapping[str, Any], shown: str, *, created: bool) -> Release:
        tag, url = data.get("tag_name"), data.get("html_url")
        if not isinstance(tag, str) or not isinstance(url, str):
            raise ForgeError(f"GitHub answered {shown} without tag_name/html_url")
        number = data.get("id")
        assets = tuple(
            str(a["name"])
            for a in data.get("assets") or []
            if isinstance(a, dict) and isinstance(a.get("name"), str)
        )
        return Release(
            tag=tag,
            url=url,
            created=created,
            id=number if isinstance(number, int) else 0,
            assets=assets,
        )

    def create_release(self, tag: str, *, name: str, body: str, prerelease: bool) -> Release:
        """Create the release of an existing tag; an existing release is returned uncreated."""
        path = f"{self._repo_path}/releases"
        payload = {
            "tag_name": tag,
            "name": name,
            "body": body,
            "draft": False,
            "prerelease": prerelease,
        }
        response = self._request("POST", path, json=payload, ok=(201, 422))
        if response.status_code == 201:
            return self._release(self._json(response, f"POST {path}"), f"POST {path}", created=True)
        if "already_exists" in _error_codes(response):
            existing = self.release_for_tag(tag)
            if existing is not None:
                return existing
            # A draft holds the tag: it is invisible to releases/tags/{tag}.
            raise ForgeError(f"a GitHub release for {tag} already exists but is not published")
        raise ForgeError(f"GitHub refused POST {path}: 422 {_message(response)}")

    def asset_upload_url(self, release_id: int | str, name: str) -> str:
        """The URL an asset of a release is uploaded to (also shown in dry-run plans)."""
        root = uploads_root(self.api_url)
        return f"{root}{self._repo_path}/releases/{release_id}/assets?name={quote(name, safe='')}"

    def upload_release_asset(
        self, release: Release, name: str, data: bytes, content_type: str
    ) -> bool:
        """Attach a file to a release; False when an asset of that name is already there."""
        if not release.id:
            raise ForgeError(f"GitHub gave no id for the release of {release.tag}")
        url = self.asset_upload_url(release.id, name)
        response = self._request(
            "POST", url, data=data, headers={"Content-Type": content_type}, ok=(201, 422)
        )
        if response.status_code == 201:
            return True
        if "already_exists" in _error_codes(response):
            return False
        raise ForgeError(
            f"GitHub refused the asset {name} of {release.tag}: 422 {_message(response)}"
        )

    # --- pull requests -----------------------------------------------------------------------

    def _head_ref(self, head: str) -> str:
        # The pulls API filters on `owner:branch`; a bare branch means this repository's.
        return head if ":" in head else f"{self.repository.split('/')[0]}:{head}"

    def _pull(self, data: Mapping[str, Any], shown: str, *, created: bool) -> PullRequest:
        try:
            return PullRequest(
                number=int(data["number"]),
                url=str(data["html_url"]),
                head=str(data["head"]["ref"]),
                base=str(data["base"]["ref"]),
                created=created,
                node_id=str(data.get("node_id") or ""),
            )
        except (KeyError, TypeError, ValueError):
            raise ForgeError(f"GitHub answered {shown} without a pull request") from None

    def open_pull_request(self, head: str, base: str) -> PullRequest | None:
        """The open pull request from `head` into `base`, if there is one."""
        query = f"head={quote(self._head_ref(head), safe=':')}&base={quote(base, safe='')}"
        path = f"{self._repo_path}/pulls?state=open&{query}"
        response = self._request("GET", path, ok=(200,))
        pulls = self._json_list(response, f"GET {path}")
        return self._pull(pulls[0], f"GET {path}", created=False) if pulls else None

    def create_pull_request(self, *, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request; one already open for head/base is returned uncreated."""
        path = f"{self._repo_path}/pulls"
        payload = {"title": title, "head": head, "base": base, "body": body}
        response = self._request("POST", path, json=payload, ok=(201, 422))
        if response.status_code == 201:
            return self._pull(self._json(response, f"POST {path}"), f"POST {path}", created=True)
        existing = self.open_pull_request(head, base)
        if existing is not None:
            return existing
        raise ForgeError(f"GitHub refused POST {path}: 422 {_message(response)}")

    def enable_auto_merge(self, pr: PullRequest, method: str = "SQUASH") -> None:
        """Ask GitHub to merge `pr` once its checks pass (GraphQL enablePullRequestAutoMerge)."""
        if method not in MERGE_METHODS:
            raise ForgeError(f"merge method {method!r} is not one of {', '.join(MERGE_METHODS)}")
        node_id = pr.node_id
        if not node_id:
            path = f"{self._repo_path}/pulls/{pr.number}"
            response = self._request("GET", path, ok=(200,))
            fetched = self._pull(self._json(response, f"GET {path}"), f"GET {path}", created=False)
            node_id = fetched.node_id
            if not node_id:
                raise ForgeError(f"GitHub gave no node id for pull request #{pr.number}")
        url = _graphql_url(self.api_url)
        shown = f"POST {url} enablePullRequestAutoMerge #{pr.number}"
        payload = {
            "query": _AUTO_MERGE,
            "variables": {"pullRequestId": node_id, "mergeMethod": method},
        }
        response = self._request("POST", url, json=payload, ok=(200,))
        data = self._json(response, shown)
        errors = data.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else errors
            text = first.get("message") if isinstance(first, dict) else str(first)
            raise ForgeError(f"GitHub refused auto-merge for pull request #{pr.number}: {text}")

    # --- workflow runs -----------------------------------------------------------------------

    def workflow_runs_since(
        self, start: int, *, max_pages: int = MAX_RUN_PAGES
    ) -> list[WorkflowRun]:
        """Every run created at or after `start` (unix seconds), following `Link` pages.

        Sets `truncated` when GitHub had more pages than `max_pages`.
        """
        day = datetime.fromtimestamp(start, UTC).date().isoformat()
        path: str | None = (
            f"{self._repo_path}/actions/runs?created=%3E%3D{day}&per_page={RUNS_PER_PAGE}"
        )
        runs: list[WorkflowRun] = []
        pages = 0
        self.truncated = False
        while path is not None:
            if pages == max_pages:
                self.truncated = True
                break
            shown = f"GET {self._repo_path}/actions/runs (page {pages + 1})"
            response = self._request("GET", path, ok=(200,), shown=shown)
            items = self._json(response, shown).get("workflow_runs")
            if not isinstance(items, list):
                raise ForgeError(f"GitHub answered {shown} with malformed JSON")
            runs += [parse_run(item) for item in items if isinstance(item, dict)]
            pages += 1
            path = next_link(response.headers.get("Link"))
        # `created` filters by day; drop the part of the first day before `start`.
        return [r for r in runs if r.started is None or r.started >= start]


def repository_from_url(url: str) -> str | None:
    """`owner/name` from a git remote URL (https, ssh or scp-like form); None for local paths."""
    scp = _SCP_URL.match(url)
    if scp and "://" not in url:
        path = scp.group("path")
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        path = parts.path
    path = path.strip("/").removesuffix(".git")
    return path if _REPOSITORY.match(path) else None


def github_from_env(git: Git) -> GitHub | None:
    """A client from GITHUB_TOKEN/GH_TOKEN, GITHUB_REPOSITORY or origin, GITHUB_API_URL."""
    token = github_actions.token()
    if not token:
        return None
    run = github_actions.run_context()
    repository = run.repository
    if repository is None:
        url = git.remote_url("origin")
        repository = repository_from_url(url)
        if repository is None:
            raise ForgeError(
                "cannot tell the GitHub repository from origin's URL; set GITHUB_REPOSITORY"
            )
    return GitHub(repository, token, api_url_from_env(run.api_url))


def api_url_from_env(given: str | None = None) -> str:
    """`GITHUB_API_URL` (else github.com's): an http(s) URL that carries no credentials."""
    url = given or github_actions.run_context().api_url or DEFAULT_API_URL
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Never echo it: the user part is the credential.
        raise ConfigError(f"{API_URL_ENV} must not carry credentials (user:password@)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{API_URL_ENV} is not an http(s) URL")
    return url

"""A small stateful GitHub fake on pytest-httpserver: releases (and assets), pulls, auto-merge.

Use the `github_fake` fixture: `fake.url` is the API root, `fake.client()` a `GitHub` for it,
`fake.setenv()` points dexops at it through GITHUB_TOKEN/GITHUB_REPOSITORY/GITHUB_API_URL,
`fake.requests` records what arrived, and `fake.fail(...)` / `fake.rate_limit(...)` inject faults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dexops.adapters.github import GitHub

FAKE_TOKEN = "ghp_FakeToken0123456789abcdef"
FAKE_REPOSITORY = "thedataenginex/dex"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    @property
    def line(self) -> str:
        """`METHOD /path` for compact assertions."""
        return f"{self.method} {self.path}"


@dataclass
class Fault:
    """An injected answer for matching requests, used `times` times."""

    status: int
    times: int
    method: str | None
    path: re.Pattern[str] | None
    headers: dict[str, str]
    body: str

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (self.method is None or self.method == method) and (
            self.path is None or self.path.search(path) is not None
        )


@dataclass
class GitHubFake:
    """The fake's state and knobs."""

    server: HTTPServer
    monkeypatch: pytest.MonkeyPatch
    repository: str = FAKE_REPOSITORY
    token: str = FAKE_TOKEN
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (tag, asset name) -> the uploaded bytes; the release JSON lists the asset too.
    asset_data: dict[tuple[str, str], bytes] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    graphql_errors: list[str] = field(default_factory=list)
    # A classic token answers with X-OAuth-Scopes; fine-grained and Actions tokens send none.
    oauth_scopes: str | None = "repo, workflow"
    # The repository's `permissions` object as `GET /repos/{owner}/{repo}` shows it.
    permissions: dict[str, bool] = field(
        default_factory=lambda: {
            "admin": False, "maintain": False, "push": True, "triage": True, "pull": True
        }
    )  # fmt: skip
    private: bool = False
    sleeps: list[float] = field(default_factory=list)
    _next_id: int = 1

    @property
    def url(self) -> str:
        """The API root (what GITHUB_API_URL would be)."""
        return self.server.url_for("").rstrip("/")

    @property
    def html(self) -> str:
        return f"https://github.com/{self.repository}"

    # --- knobs -----------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> GitHub:
        """A `GitHub` client for the fake that never really sleeps between retries."""
        gh = GitHub(self.repository, self.token, self.url, **kwargs)
        gh.sleep = self.sleeps.append
        return gh

    def setenv(self, *, token: str | None = None, repository: bool = True) -> None:
        """Point dexops at the fake through the environment; retries do not really sleep."""
        self.monkeypatch.setenv("GITHUB_TOKEN", token or self.token)
        self.monkeypatch.setenv("GITHUB_API_URL", self.url)
        if repository:
            self.monkeypatch.setenv("GITHUB_REPOSITORY", self.repository)
        self.monkeypatch.setattr("dexops.adapters.github._pause", self.sleeps.append)

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: object = None,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests (path: a regex) with `status`."""
        if body is None:
            data = json_body if json_body is not None else {"message": f"fake {status}"}
            body = json.dumps(data)
        self.faults.append(
            Fault(
                status,
                times,
                method,
                re.compile(path) if path else None,
                dict(headers or {}),
                body,
            )
        )

    def rate_limit(
        self, *, status: int = 403, retry_after: int | None = 0, times: int = 1, reset: int = 0
    ) -> None:
        """Rate-limit the next requests: Retry-After, or x-ratelimit-remaining: 0 with a reset."""
        headers = {"x-ratelimit-limit": "5000"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        else:
            headers["x-ratelimit-remaining"] = "0"
            headers["x-ratelimit-reset"] = str(reset)
        message = "API rate limit exceeded for user."
        self.fail(status, times=times, headers=headers, json_body={"message": message})

    def add_release(self, tag: str, *, draft: bool = False) -> dict[str, Any]:
        """A release that already exists before the test acts."""
        return self._store_release({"tag_name": tag, "name": tag, "body": "", "draft": draft})

    def add_pull(self, head: str, base: str, *, title: str = "existing") -> dict[str, Any]:
        """A pull request that is already open."""
        return self._store_pull({"head": head, "base": base, "title": title, "body": ""})

    def calls(self, method: str | None = None) -> list[str]:
        """`METHOD /path` of every recorded request (optionally of one method)."""
        return [r.line for r in self.requests if method is None or r.method == method]

    # --- state -----------------------------------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _store_release(self, body: Mapping[str, Any]) -> dict[str, Any]:
        number = self._id()
        tag = str(body["tag_name"])
        release: dict[str, Any] = {
            "id": number,
            "node_id": f"RE_{number}",
            "tag_name": tag,
            "name": body.get("name") or tag,
            "body": body.get("body") or "",
            "draft": bool(body.get("draft", False)),
            "prerelease": bool(body.get("prerelease", False)),
            "html_url": f"{self.html}/releases/tag/{tag}",
            "url": f"{self.url}/repos/{self.repository}/releases/{number}",
            # No separate uploads host here: dexops derives it from the API root.
            "upload_url": f"{self.url}/repos/{self.repository}/releases/{number}/assets"
            "{?name,label}",
            "assets": [],
        }
        self.releases[tag] = release
        return release

    def _upload_asset(self, number: int, name: str | None, data: bytes, kind: str) -> Response:
        release = next((r for r in self.releases.values() if r["id"] == number), None)
        if release is None:
            return _json(404, {"message": "Not Found"})
        if not name:
            return _json(422, _invalid("ReleaseAsset", "name", "missing_field"))
        if any(a["name"] == name for a in release["assets"]):
            return _json(422, _invalid("ReleaseAsset", "name", "already_exists"))
        asset = {
            "id": self._id(),
            "name": name,
            "content_type": kind,
            "size": len(data),
            "state": "uploaded",
            "browser_download_url": f"{self.html}/releases/download/{release['tag_name']}/{name}",
        }
        release["assets"].append(asset)
        self.asset_data[(release["tag_name"], name)] = data
        return _json(201, asset)

    def _store_pull(self, body: Mapping[str, Any]) -> dict[str, Any]:
        number = len(self.pulls) + 1
        head = str(body["head"]).split(":")[-1]
        pull = {
            "id": self._id(),
            "number": number,
            "node_id": f"PR_kwDO{number:04d}",
            "state": "open",
            "title": body.get("title"),
            "body": body.get("body"),
            "html_url": f"{self.html}/pull/{number}",
            "head": {"ref": head, "label": f"{self.repository.split('/')[0]}:{head}"},
            "base": {"ref": body["base"]},
            "auto_merge": None,
        }
        self.pulls[number] = pull
        return pull

    # --- the HTTP side ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response:  # noqa: PLR0911 - one branch per endpoint
        """Answer one request as GitHub documents it."""
        try:
            body = request.get_json(silent=True) if request.data else None
        except ValueError:
            body = None
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                dict(request.args.items()),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        for fault in self.faults:
            if fault.times > 0 and fault.matches(request.method, request.path):
                fault.times -= 1
                return Response(
                    fault.body,
                    status=fault.status,
                    headers=fault.headers,
                    content_type="application/json",
                )
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(401, {"message": "Bad credentials"})
        if request.path == "/graphql":
            return self._graphql(body)
        prefix = f"/repos/{self.repository}"
        if request.method == "GET" and request.path == prefix:
            return self._repository()
        if not request.path.startswith(prefix + "/"):
            return _json(404, {"message": "Not Found"})
        upload = re.fullmatch(rf"{re.escape(prefix)}/releases/(\d+)/assets", request.path)
        if request.method == "POST" and upload:
            return self._upload_asset(
                int(upload.group(1)),
                request.args.get("name"),
                request.get_data(),
                request.content_type or "",
            )
        return self._rest(request.method, request.path[len(prefix) :], request.args, body)

    def _rest(  # noqa: PLR0911 - one branch per endpoint
        self, method: str, path: str, args: Mapping[str, str], body: Any
    ) -> Response:
        if method == "POST" and path == "/releases":
            if not isinstance(body, dict) or not body.get("tag_name"):
                return _json(422, _invalid("Release", "tag_name", "missing_field"))
            if body["tag_name"] in self.releases:
                return _json(422, _invalid("Release", "tag_name", "already_exists"))
            return _json(201, self._store_release(body))
        if method == "GET" and path.startswith("/releases/tags/"):
            release = self.releases.get(unquote(path.removeprefix("/releases/tags/")))
            if release is None or release["draft"]:
                return _json(404, {"message": "Not Found"})
            return _json(200, release)
        if method == "GET" and path == "/releases":
            return _json(200, list(self.releases.values()))
        if method == "POST" and path == "/pulls":
            if not isinstance(body, dict) or not all(body.get(k) for k in ("head", "base")):
                return _json(422, _invalid("PullRequest", "head", "missing_field"))
            if self._open(str(body["head"]), str(body["base"])):
                message = f"A pull request already exists for {body['head']}."
                return _json(422, _invalid("PullRequest", "head", "custom", message))
            return _json(201, self._store_pull(body))
        if method == "GET" and path == "/pulls":
            head, base, state = args.get("head"), args.get("base"), args.get("state", "open")
            found = [
                p
                for p in self.pulls.values()
                if (state == "all" or p["state"] == state)
                and (head is None or p["head"]["label"] == head)
                and (base is None or p["base"]["ref"] == base)
            ]
            return _json(200, found)
        if method == "GET" and (match := re.fullmatch(r"/pulls/(\d+)", path)):
            pull = self.pulls.get(int(match.group(1)))
            return _json(200, pull) if pull else _json(404, {"message": "Not Found"})
        return _json(404, {"message": "Not Found"})

    def _repository(self) -> Response:
        owner, name = self.repository.split("/")
        data = {
            "id": 1,
            "name": name,
            "full_name": self.repository,
            "owner": {"login": owner, "type": "Organization"},
            "private": self.private,
            "default_branch": "main",
            "permissions": self.permissions,
        }
        response = _json(200, data)
        if self.oauth_scopes is not None:
            response.headers["X-OAuth-Scopes"] = self.oauth_scopes
            response.headers["X-Accepted-OAuth-Scopes"] = "repo"
        return response

    def _open(self, head: str, base: str) -> bool:
        return any(
            p["state"] == "open"
            and p["head"]["ref"] == head.rsplit(":", maxsplit=1)[-1]
            and p["base"]["ref"] == base
            for p in self.pulls.values()
        )

    def _graphql(self, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _json(400, {"message": "Problems parsing JSON"})
        if "enablePullRequestAutoMerge" not in body["query"]:
            return _json(200, {"errors": [{"message": "unsupported by the fake"}]})
        if self.graphql_errors:
            message = self.graphql_errors.pop(0)
            return _json(
                200,
                {
                    "data": {"enablePullRequestAutoMerge": None},
                    "errors": [{"type": "UNPROCESSABLE", "message": message}],
                },
            )
        variables = body.get("variables") or {}
        node = variables.get("pullRequestId")
        pull = next((p for p in self.pulls.values() if p["node_id"] == node), None)
        if pull is None:
            unresolved = f"Could not resolve to a node with the global id of '{node}'"
            return _json(
                200,
                {
                    "data": {"enablePullRequestAutoMerge": None},
                    "errors": [
                        {
                            "type": "NOT_FOUND",
                            "message": unresolved,
                        }
                    ],
                },
            )
        pull["auto_merge"] = {"merge_method": str(variables.get("mergeMethod")).lower()}
        merge = {"mergeMethod": variables.get("mergeMethod")}
        return _json(
            200,
            {
                "data": {
                    "enablePullRequestAutoMerge": {
                        "pullRequest": {"number": pull["number"], "autoMergeRequest": merge}
                    }
                }
            },
        )


def _invalid(resource: str, field_name: str, code: str, message: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"resource": resource, "field": field_name, "code": code}
    if message:
        error["message"] = message
    return {
        "message": "Validation Failed",
        "errors": [error],
        "documentation_url": "https://docs.github.com/rest",
        "status": "422",
    }


def _json(status: int, data: object) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


@pytest.fixture(autouse=True)
def _forget_registered_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token one test registered (every `GitHub` client does) must not mask the next test."""
    from dexops import secrets

    monkeypatch.setattr(secrets, "_extra", set())


@pytest.fixture
def github_fake(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    """A stateful GitHub fake on 127.0.0.1 (see the module docstring)."""
    fake = GitHubFake(httpserver, monkeypatch)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    yield fake
    httpserver.clear()

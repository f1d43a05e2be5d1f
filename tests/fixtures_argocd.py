"""An Argo CD API fake on its own pytest-httpserver: each GET shows the next scripted state.

Use the `argocd_fake` fixture: `fake.script(app, *steps)` queues what successive
`GET /api/v1/applications/{app}` answer — a document from `application(...)`, or an HTTP
status to fail with (400 being "another operation is already in progress") — and the last
step repeats. `fake.syncs` records sync requests, `fake.sync_answers` queues their answers,
and `ARGOCD_SERVER`/`ARGOCD_AUTH_TOKEN` point at the fake.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FAKE_ARGOCD_TOKEN = "argocd-fake-token-0123456789abcdef"
_APP_PATH = re.compile(r"^/api/v1/applications/(?P<name>[^/]+)(?P<sync>/sync)?$")

Step = dict[str, Any] | int


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, the way Argo CD writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def application(
    name: str,
    *,
    revision: str,
    sync: str = "Synced",
    health: str = "Healthy",
    health_message: str = "",
    phase: str | None = "Succeeded",
    operation_message: str = "successfully synced (all tasks run)",
    started: datetime | None = None,
    finished: datetime | None = None,
    operation_revision: str | None = None,
    branch: str = "dev",
) -> dict[str, Any]:
    """A `v1alpha1.Application` document as `GET /api/v1/applications/{name}` returns it."""
    now = datetime.now(UTC)
    status: dict[str, Any] = {
        "sync": {
            "status": sync,
            "revision": revision,
            "comparedTo": {
                "source": {
                    "repoURL": "https://github.com/TheDataEngineX/DEX",
                    "path": f"infra/argocd/overlays/{name.removeprefix('dex-')}",
                    "targetRevision": branch,
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            },
        },
        "health": {"status": health, **({"message": health_message} if health_message else {})},
        "reconciledAt": iso(now),
        "sourceType": "Kustomize",
    }
    if phase is not None:
        op_revision = operation_revision or revision
        started = started or now - timedelta(seconds=30)
        state: dict[str, Any] = {
            "operation": {"sync": {"revision": op_revision}, "initiatedBy": {"automated": True}},
            "phase": phase,
            "message": operation_message,
            "startedAt": iso(started),
            "syncResult": {"revision": op_revision, "resources": []},
        }
        if phase not in ("Running", "Terminating"):
            state["finishedAt"] = iso(finished or started + timedelta(seconds=5))
        status["operationState"] = state
    return {
        "metadata": {"name": name, "namespace": "argocd", "resourceVersion": "1234"},
        "spec": {
            "project": "default",
            "source": status["sync"]["comparedTo"]["source"],
            "destination": status["sync"]["comparedTo"]["destination"],
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": status,
    }


def _json(status: int, data: object) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _grpc_error(status: int, message: str, code: int) -> Response:
    # grpc-gateway's error body, as Argo CD's API server sends it.
    return _json(status, {"error": message, "code": code, "message": message})


_ERRORS = {
    400: ("another operation is already in progress", 9),  # a sync while one runs
    401: ("invalid session: token signature is invalid", 16),
    403: ("permission denied", 7),
    404: ("applications.argoproj.io not found", 5),
    500: ("internal error", 13),
    502: ("bad gateway", 14),
    503: ("service unavailable", 14),
}


@dataclass
class ArgoCDFake:
    """The fake's scripted applications, the requests it saw, and the token it accepts."""

    server: HTTPServer
    token: str = FAKE_ARGOCD_TOKEN
    scripts: dict[str, list[Step]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    sync_answers: dict[str, list[Step]] = field(default_factory=dict)
    authorizations: list[str] = field(default_factory=list)
    on_poll: Callable[[str, int], None] | None = None  # called with (app, poll number)

    @property
    def url(self) -> str:
        """The API server's base URL (what ARGOCD_SERVER names)."""
        return f"http://{self.server.host}:{self.server.port}"

    def script(self, app: str, *steps: Step) -> None:
        """Queue what successive GETs of `app` answer (from the first again); the last repeats."""
        self.scripts[app] = list(steps)
        self.polls[app] = 0

    def _error(self, status: int) -> Response:
        message, code = _ERRORS.get(status, ("error", 2))
        return _grpc_error(status, message, code)

    def _answer(self, step: Step) -> Response:
        return self._error(step) if isinstance(step, int) else _json(200, step)

    def handle(self, request: Request) -> Response:  # noqa: PLR0911 - one branch per answer
        """Answer one request the way Argo CD's API server would."""
        header = request.headers.get("Authorization", "")
        self.authorizations.append(header)
        if header != f"Bearer {self.token}":
            return self._error(401)
        match = _APP_PATH.match(request.path)
        if match is None:
            return self._error(404)
        name = unquote(match["name"])
        steps = self.scripts.get(name)
        if not steps:
            return self._error(403)  # Argo CD hides unknown applications behind 403
        if match["sync"]:
            if request.method != "POST":
                return self._error(404)
            return self._sync(name, request)
        if request.method != "GET":
            return self._error(404)
        index = self.polls.get(name, 0)
        self.polls[name] = index + 1
        if self.on_poll is not None:
            self.on_poll(name, index + 1)
        return self._answer(steps[min(index, len(steps) - 1)])

    def _sync(self, name: str, request: Request) -> Response:
        self.syncs.append({"app": name, **json.loads(request.get_data(as_text=True) or "{}")})
        queued = self.sync_answers.get(name)
        if queued:
            return self._answer(queued.pop(0))
        steps = self.scripts[name]
        current = steps[min(self.polls.get(name, 0), len(steps) - 1)]
        revision = current["status"]["sync"]["revision"] if isinstance(current, dict) else "0" * 40
        return _json(200, application(name, revision=revision, phase="Running"))


@pytest.fixture(scope="session")
def _argocd_server() -> Iterator[HTTPServer]:
    # One server for the session: stopping one takes half a second.
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def argocd_fake(
    _argocd_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ArgoCDFake]:
    """A running Argo CD fake with ARGOCD_SERVER and ARGOCD_AUTH_TOKEN pointing at it."""
    server = _argocd_server
    server.clear()
    fake = ArgoCDFake(server)
    server.expect_request(_APP_PATH).respond_with_handler(fake.handle)
    monkeypatch.setenv("ARGOCD_SERVER", fake.url)
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", fake.token)
    yield fake
    server.clear()

"""The Argo CD adapter: its REST API, read with a bearer token from the environment."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from dexops import secrets
from dexops.adapters.http import bind_credentials, make_session
from dexops.domain.app_state import AppState
from dexops.errors import DexopsError, ExitCode

if TYPE_CHECKING:
    import requests

SERVER_ENV = "ARGOCD_SERVER"
TOKEN_ENV = "ARGOCD_AUTH_TOKEN"  # noqa: S105 - the variable's name, not a token
PLAINTEXT_ENV = "ARGOCD_PLAINTEXT"
INSECURE_ENV = "ARGOCD_INSECURE"
OPTS_ENV = "ARGOCD_OPTS"

# A poll is cheap and the wait loop is itself the retry, so keep per-request retries short.
RETRIES = 2
BACKOFF = 0.25
TIMEOUT = (5.0, 15.0)


class ArgoCDError(DexopsError):
    """Argo CD could not be reached or answered with an error."""


class ArgoCDAuthError(ArgoCDError):
    """Argo CD refused the request's credentials (401) or permissions (403)."""

    exit_code = ExitCode.UNAUTHORIZED


class ArgoCDUnavailableError(ArgoCDError):
    """Argo CD could not be reached or answered 5xx: worth another poll."""

    exit_code = ExitCode.UNREACHABLE


class OperationInProgressError(ArgoCDError):
    """Argo CD refused a sync because another operation is running."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ArgoCDServer:
    """Where Argo CD's API is: base URL and whether to verify TLS."""

    base_url: str
    verify_tls: bool = True

    @classmethod
    def parse(cls, server: str, *, plaintext: bool = False, insecure: bool = False) -> ArgoCDServer:
        """Accept `host[:port][/path]` (like the argocd CLI) or a full http(s) URL."""
        text = server.strip()
        if not text:
            raise ArgoCDError(f"{SERVER_ENV} is empty")
        if "://" not in text:
            text = f"{'http' if plaintext else 'https'}://{text}"
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ArgoCDError(f"{SERVER_ENV} {server!r} is not a host or an http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ArgoCDError(
                f"{SERVER_ENV} must be a bare host or URL (no credentials, query or fragment)"
            )
        return cls(base_url=text.rstrip("/"), verify_tls=not insecure)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ArgoCDServer:
        """Read `ARGOCD_SERVER`, with `--plaintext`/`--insecure` from variables or ARGOCD_OPTS."""
        env = os.environ if environ is None else environ
        server = env.get(SERVER_ENV, "")
        if not server.strip():
            raise ArgoCDError(f"{SERVER_ENV} is not set; export the Argo CD API host or URL")
        try:
            opts = set(shlex.split(env.get(OPTS_ENV, "")))
        except ValueError:
            opts = set()
        return cls.parse(
            server,
            plaintext=_truthy(env.get(PLAINTEXT_ENV)) or "--plaintext" in opts,
            insecure=_truthy(env.get(INSECURE_ENV)) or "--insecure" in opts,
        )


def _time(value: object, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ArgoCDError(f"Argo CD sent a non-string {field}: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ArgoCDError(f"Argo CD sent an unreadable {field}: {value!r}") from None
    if parsed.tzinfo is None:
        raise ArgoCDError(f"Argo CD sent {field} without a time zone: {value!r}")
    return parsed


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _revisions(table: Mapping[str, Any]) -> tuple[str, ...]:
    # Single-source applications say `revision`; multi-source ones `revisions`.
    many = table.get("revisions")
    if isinstance(many, list):
        return tuple(r for r in many if isinstance(r, str) and r)
    one = table.get("revision")
    return (one,) if isinstance(one, str) and one else ()


def app_state(application: Mapping[str, Any]) -> AppState:
    """Read the fields the wait needs from a documented `v1alpha1.Application` document."""
    status = _table(application, "status")
    sync = _table(status, "sync")
    health = _table(status, "health")
    operation = _table(status, "operationState")
    phase = operation.get("phase")
    return AppState(
        sync_status=str(sync.get("status") or "Unknown"),
        sync_revisions=_revisions(sync),
        health_status=str(health.get("status") or "Unknown"),
        health_message=str(health.get("message") or ""),
        operation_phase=phase if isinstance(phase, str) and phase else None,
        operation_message=str(operation.get("message") or ""),
        operation_started_at=_time(operation.get("startedAt"), "operationState.startedAt"),
        operation_finished_at=_time(operation.get("finishedAt"), "operationState.finishedAt"),
        operation_revisions=_revisions(_table(operation, "syncResult")),
    )


def _server_message(response: requests.Response) -> str:
    # grpc-gateway errors are {"error": …, "code": …, "message": …}.
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, Mapping):
        text = body.get("message") or body.get("error")
        if isinstance(text, str):
            return text
    return response.reason or ""


class ArgoCD:
    """A client of one Argo CD API server; owns its `requests.Session`."""

    def __init__(
        self,
        server: ArgoCDServer,
        token: str | None,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.server = server
        self._token = token
        self.session = session or make_session(retries=RETRIES, backoff=BACKOFF, timeout=TIMEOUT)
        self.session.verify = server.verify_tls
        if not server.verify_tls:
            # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
            import urllib3  # noqa: PLC0415

            # Asked for explicitly: say it once, not in a warning per request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        # The token goes to the configured server only, whatever a response points to.
        bind_credentials(
            self.session, server.base_url, {"Authorization": f"Bearer {token}"} if token else {}
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ArgoCD:
        """A client for `ARGOCD_SERVER` authenticating with `ARGOCD_AUTH_TOKEN` when set."""
        env = os.environ if environ is None else environ
        token = env.get(TOKEN_ENV, "").strip() or None
        secrets.register(token)
        return cls(ArgoCDServer.from_env(env), token)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the user must be told about this client: an unverified TLS certificate."""
        if self.server.verify_tls:
            return ()
        return (f"TLS certificate of {self.server.base_url} is not verified ({INSECURE_ENV})",)

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        within: float | None = None,
    ) -> Any:  # noqa: ANN401 - parsed JSON
        # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
        import requests  # noqa: PLC0415

        url = f"{self.server.base_url}{path}"
        shown = f"{method} {path}"
        try:
            # A float timeout is the call's total deadline (dexops.adapters.http).
            response = self.session.request(method, url, json=body, timeout=within)
        except requests.exceptions.SSLError as exc:
            raise ArgoCDUnavailableError(
                f"TLS with Argo CD at {self.server.base_url} failed ({type(exc).__name__}); "
                f"set {INSECURE_ENV}=true for a self-signed certificate"
            ) from None
        except requests.RequestException as exc:
            raise ArgoCDUnavailableError(
                f"Argo CD at {self.server.base_url} is unreachable for {shown}: "
                f"{type(exc).__name__}"
            ) from None
        code = response.status_code
        if code < 400:
            try:
                return response.json()
            except ValueError:
                raise ArgoCDError(
                    f"Argo CD answered {shown} with a body that is not JSON"
                ) from None
        message = _server_message(response)
        if code == 401:
            hint = f"{TOKEN_ENV} was refused" if self._token else f"{TOKEN_ENV} is not set"
            raise ArgoCDAuthError(f"Argo CD answered 401 to {shown}: {hint} ({message})")
        if code == 403:
            # Argo CD says 403 both for "no such application" and "not allowed to see it".
            raise ArgoCDAuthError(
                f"Argo CD answered 403 to {shown}: the application does not exist or the "
                f"token may not access it ({message})"
            )
        if code == 404:
            raise ArgoCDError(f"Argo CD answered 404 to {shown}: {message}")
        if code >= 500 or code == 429:
            raise ArgoCDUnavailableError(f"Argo CD answered {code} to {shown}: {message}")
        if "another operation is already in progress" in message:
            raise OperationInProgressError(f"Argo CD refused {shown}: {message}")
        raise ArgoCDError(f"Argo CD answered {code} to {shown}: {message}")

    @staticmethod
    def _app_path(name: str) -> str:
        return f"/api/v1/applications/{quote(name, safe='')}"

    def application(self, name: str, *, within: float | None = None) -> AppState:
        """The current sync, health and operation state of application `name`."""
        document = self._request("GET", self._app_path(name), within=within)
        if not isinstance(document, Mapping):
            raise ArgoCDError(f"Argo CD answered GET {self._app_path(name)} with a non-object")
        return app_state(document)

    def sync(self, name: str, *, revision: str | None = None, prune: bool = False) -> AppState:
        """Start a sync operation of application `name`; returns the application it reports."""
        body: dict[str, Any] = {"name": name, "prune": prune}
        if revision:
            body["revision"] = revision
        document = self._request("POST", f"{self._app_path(name)}/sync", body)
        return app_state(document if isinstance(document, Mapping) else {})

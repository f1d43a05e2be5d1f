"""One HTTP session factory: timeouts, bounded retries with backoff, a User-Agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dexops import __version__

if TYPE_CHECKING:
    import requests

USER_AGENT = f"dexops/{__version__}"
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 30.0  # a server asking for longer is treated as down: fail, do not hang


def make_session(
    *,
    retries: int = 4,
    backoff: float = 0.5,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    allowed_methods: frozenset[str] | None = None,
) -> requests.Session:
    """A `requests.Session` that always times out and retries 429/5xx with backoff.

    Retries honour `Retry-After`; POSTs are retried too because every caller
    sends idempotent requests or checks for "already exists" afterwards.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class _TimeoutSession(requests.Session):
        def request(  # type: ignore[override]  # same call, only a default added
            self,
            method: str | bytes,
            url: str | bytes,
            **kwargs: Any,  # noqa: ANN401
        ) -> requests.Response:
            kwargs.setdefault("timeout", timeout)
            return super().request(method, url, **kwargs)

    class _BoundedRetry(Retry):
        def get_retry_after(self, response: Any) -> float | None:  # noqa: ANN401
            value = super().get_retry_after(response)
            return None if value is None else min(value, MAX_RETRY_AFTER)

    retry = _BoundedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        backoff_max=10.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=allowed_methods
        or frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = _TimeoutSession()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session

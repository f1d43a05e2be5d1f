"""One HTTP session factory: total deadlines, bounded retries, credentials kept to their host."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from dexops import __version__
from dexops.domain.durations import seconds
from dexops.errors import CredentialHostError

if TYPE_CHECKING:
    import requests

USER_AGENT = f"dexops/{__version__}"
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 30.0  # a server asking for longer is treated as down: fail, do not hang
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    """The scheme, host and port credentials are bound to."""

    scheme: str
    host: str
    port: int | None

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}" + (
            "" if self.port == _DEFAULT_PORTS.get(self.scheme) else f":{self.port}"
        )


def origin(url: str) -> Origin:
    """A URL's origin, default ports filled in, host lower-cased."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return Origin(scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme))


class _Watch:
    """A total deadline for one call: when it passes, every socket the call used is shut.

    A streamed call's watch outlives the request: it runs on while its `BoundedBody` is read,
    and stops when the body has been read or closed.
    """

    def __init__(self, seconds: float, *, streamed: bool = False) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self.streamed = streamed
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watch:
        _current.watch = self
        self._timer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        _current.watch = None
        if exc_type is not None or not self.streamed:
            self.stop()

    def stop(self) -> None:
        """Cancel the deadline: the call is over."""
        self._timer.cancel()

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def late(self) -> requests.Timeout:
        """The error of a call that had no complete answer by its deadline."""
        # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
        import requests  # noqa: PLC0415

        return requests.Timeout(f"no complete answer within {self.seconds:g}s")


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: a recv blocked in another thread returns at once.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Current(threading.local):
    watch: _Watch | None = None


_current = _Current()


def _watched_adapter(retry: Any) -> Any:  # noqa: ANN401 - requests' HTTPAdapter
    """An HTTPAdapter whose connections join the current call's deadline watch."""
    # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
    from requests.adapters import HTTPAdapter  # noqa: PLC0415
    from urllib3.connection import HTTPConnection, HTTPSConnection  # noqa: PLC0415
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool  # noqa: PLC0415

    def watched(base: type[HTTPConnection]) -> type[HTTPConnection]:
        class Watched(base):  # type: ignore[valid-type, misc]
            def connect(self) -> None:
                super().connect()
                if _current.watch is not None:
                    _current.watch.add(self.sock)

            def request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
                if _current.watch is not None and self.sock is not None:
                    _current.watch.add(self.sock)  # a kept-alive connection, reused
                super().request(*args, **kwargs)

        return Watched

    class Pool(HTTPConnectionPool):
        ConnectionCls = watched(HTTPConnection)

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = watched(HTTPSConnection)  # type: ignore[assignment]

    pools = {"http": Pool, "https": TLSPool}

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:  # noqa: ANN401
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = pools
            return manager

    return Adapter(max_retries=retry)


def make_session(
    *,
    retries: int = 4,
    backoff: float = 0.5,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    deadline: float | None = None,
    allowed_methods: frozenset[str] | None = None,
    credentials: Mapping[str, str] | None = None,
    credential_urls: Sequence[str] = (),
) -> requests.Session:
    """A `requests.Session` with a total deadline per call, bounded retries and guarded credentials.

    Every call ends within `deadline` seconds (default: connect + read timeout per attempt),
    retries and a server dripping bytes included; a float `timeout` given to one call is that
    call's total deadline. A body read after the call (`stream=True`) is opened with
    `open_stream()`, whose `BoundedBody` holds its reads to the same deadline. `credentials`
    (headers) are attached only to requests whose scheme, host and port are one of
    `credential_urls`'; a call that brings its own `auth` or `Authorization` to any other
    origin is refused, and redirects drop them on any origin change. Retries honour
    `Retry-After`; POSTs are retried too because every caller sends idempotent requests or
    checks for "already exists" afterwards.
    """
    # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
    import requests  # noqa: PLC0415
    from urllib3.util.retry import Retry  # noqa: PLC0415

    per_try = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    total = deadline if deadline is not None else sum(per_try) * (retries + 1)
    seconds(total, "an HTTP deadline")

    class _GuardedSession(requests.Session):
        def request(  # type: ignore[override]  # same call, a deadline and a guard added
            self,
            method: str | bytes,
            url: str | bytes,
            **kwargs: Any,  # noqa: ANN401
        ) -> requests.Response:
            if kwargs.get("stream"):
                # A body read after request() returns would escape the deadline.
                raise TypeError("read a streamed body through dexops.adapters.http.open_stream()")
            return self._watched_request(method, url, kwargs, streamed=False)[0]

        def open_stream(self, method: str, url: str, **kwargs: Any) -> BoundedBody:  # noqa: ANN401
            streamed = {**kwargs, "stream": True}
            response, watch = self._watched_request(method, url, streamed, streamed=True)
            return BoundedBody(response, watch)

        def _watched_request(
            self, method: str | bytes, url: str | bytes, kwargs: dict[str, Any], *, streamed: bool
        ) -> tuple[requests.Response, _Watch]:
            target = origin(url.decode() if isinstance(url, bytes) else url)
            headers = dict(kwargs.pop("headers", None) or {})
            _guard(self, target, brought=kwargs.get("auth") is not None or _has_auth(headers))
            kwargs["headers"] = {**_bound(self).get(target, {}), **headers}
            limit = total
            call_timeout = kwargs.get("timeout") or timeout  # None means the session's
            if isinstance(call_timeout, int | float):
                limit = min(limit, float(call_timeout))
            kwargs["timeout"] = call_timeout
            with _Watch(limit, streamed=streamed) as watch:
                try:
                    response = super().request(method, url, **kwargs)
                except requests.RequestException:
                    if watch.expired:
                        raise watch.late() from None
                    raise
            # A socket shut while headers were read can look like a short, complete answer.
            if watch.expired:
                watch.stop()
                response.close()
                raise watch.late()
            return response, watch

        def should_strip_auth(self, old_url: str, new_url: str) -> bool:
            # requests keeps credentials on an http -> https upgrade; dexops keeps them
            # only on the very origin they were given for.
            return origin(old_url) != origin(new_url)

    class _BoundedRetry(Retry):
        def get_retry_after(self, response: Any) -> float | None:  # noqa: ANN401
            value = super().get_retry_after(response)
            return None if value is None else min(value, MAX_RETRY_AFTER)

        def sleep(self, response: Any = None) -> None:  # noqa: ANN401
            watch = _current.watch
            if watch is None:
                super().sleep(response)
                return
            # Never sleep past the deadline: the next attempt then fails at once.
            wanted = self.get_retry_after(response) if response is not None else None
            pause = wanted if wanted is not None else self.get_backoff_time()
            time.sleep(min(pause, watch.remaining()))

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
    session = _GuardedSession()
    adapter = _watched_adapter(retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    for url in credential_urls:
        bind_credentials(session, url, credentials or {})
    return session


@runtime_checkable
class _Streams(Protocol):
    def open_stream(self, method: str, url: str, **kwargs: Any) -> BoundedBody: ...  # noqa: ANN401


def open_stream(
    session: requests.Session,
    method: str,
    url: str,
    **kwargs: Any,  # noqa: ANN401 - requests' keyword arguments
) -> BoundedBody:
    """Send a call whose body is read afterwards, through the `BoundedBody`, by its deadline."""
    if not isinstance(session, _Streams):
        raise TypeError("open_stream() needs a session from make_session()")
    return session.open_stream(method, url, **kwargs)


class BoundedBody:
    """A streamed answer, its status and headers at hand, its body read by the call's deadline.

    Reading past the deadline raises `requests.Timeout`, a socket shut mid-body without a
    Content-Length included. The deadline is dropped once the body has been read or this is
    closed: the connection may then be back in the pool, and must not be shut later.
    """

    __slots__ = ("_response", "_watch", "headers", "is_redirect", "status_code", "url")

    def __init__(self, response: requests.Response, watch: _Watch) -> None:
        self.status_code: int = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.url: str = response.url
        self.is_redirect: bool = response.is_redirect
        self._response = response
        self._watch = watch

    def __enter__(self) -> BoundedBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def iter_bytes(self, chunk_size: int) -> Iterator[bytes]:
        """The body in chunks of at most `chunk_size` bytes, as they arrive."""
        with self._by_deadline():
            yield from self._response.iter_content(chunk_size)

    def read(self) -> bytes:
        """The whole body."""
        with self._by_deadline():
            return self._response.content

    def text(self) -> str:
        """The whole body, decoded as requests decodes `Response.text`."""
        self.read()
        return self._response.text

    def json(self) -> object:
        """The whole body as JSON; `ValueError` when it is not."""
        self.read()
        return self._response.json()

    def close(self) -> None:
        """Drop the deadline and the connection; an unread body is not read."""
        self._watch.stop()
        self._response.close()

    @contextlib.contextmanager
    def _by_deadline(self) -> Iterator[None]:
        watch = self._watch
        try:
            yield
        except Exception:
            # Any failure once the deadline shut the socket is the deadline's doing.
            if watch.expired:
                raise watch.late() from None
            raise
        finally:
            watch.stop()
        # A socket shut mid-body without a Content-Length looks like a complete answer.
        if watch.expired:
            raise watch.late()


def _has_auth(headers: Mapping[str, str | bytes]) -> bool:
    return any(key.lower() == "authorization" for key in headers)


def _trusted(session: requests.Session) -> set[Origin]:
    trusted: set[Origin] | None = getattr(session, "_dexops_trusted", None)
    if trusted is None:
        trusted = set()
        session._dexops_trusted = trusted  # type: ignore[attr-defined]
    return trusted


def _bound(session: requests.Session) -> dict[Origin, dict[str, str]]:
    bound: dict[Origin, dict[str, str]] | None = getattr(session, "_dexops_credentials", None)
    if bound is None:
        bound = {}
        session._dexops_credentials = bound  # type: ignore[attr-defined]
    return bound


def _guard(session: requests.Session, target: Origin, *, brought: bool) -> None:
    """Refuse a call that would carry credentials to an origin nobody trusted."""
    trusted = _trusted(session)
    if (brought or _has_auth(session.headers)) and target not in trusted:
        belong = ", ".join(sorted(map(str, trusted))) or "no host"
        raise CredentialHostError(
            f"refused to send credentials to {target}: they belong to {belong}"
        )


def trust(session: requests.Session, url: str) -> None:
    """Let calls that bring their own credentials reach `url`'s origin (a registry host)."""
    _trusted(session).add(origin(url))


def bind_credentials(session: requests.Session, url: str, headers: Mapping[str, str]) -> None:
    """Attach `headers` (an Authorization) to every call to `url`'s origin, and only to it."""
    trust(session, url)
    if headers:
        _bound(session).setdefault(origin(url), {}).update(headers)

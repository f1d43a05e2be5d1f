"""Raw HTTP servers for the hardening tests: one that records every request, one that drips."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    host: str
    method: str
    path: str
    headers: dict[str, str]


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class RecordingServer:
    """One server, two origins: `home` (127.0.0.1) and `elsewhere` (localhost), same port.

    `answer(seen)` decides each response; every request is recorded with its Host header,
    so a test can tell which origin a client believed it was talking to.
    """

    port: int
    seen: list[Seen] = field(default_factory=list)
    answer: Callable[[Seen], Answer] = lambda _seen: (404, {}, b'{"message": "Not Found"}')
    keep_alive: bool = False  # HTTP/1.1: a client may send its next request on the same socket

    @property
    def home(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def elsewhere(self) -> str:
        return f"http://localhost:{self.port}"

    def at_elsewhere(self) -> list[Seen]:
        return [s for s in self.seen if s.host.startswith("localhost")]

    def credentials_elsewhere(self, *secrets: str) -> list[Seen]:
        """Requests to `elsewhere` that carry any credential header or any of `secrets`."""
        leaked = []
        for seen in self.at_elsewhere():
            text = seen.path + " " + " ".join(f"{k}: {v}" for k, v in seen.headers.items())
            if "authorization" in {k.lower() for k in seen.headers} or any(
                s in text for s in secrets
            ):
                leaked.append(seen)
        return leaked


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    """A threaded HTTP server on 127.0.0.1 that records every request's host and headers."""
    state = RecordingServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def setup(self) -> None:
            super().setup()
            # Read per connection, so a test can turn keep-alive on after the server started.
            self.protocol_version = "HTTP/1.1" if state.keep_alive else "HTTP/1.0"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen = Seen(
                self.headers.get("Host", ""), self.command, self.path, dict(self.headers.items())
            )
            state.seen.append(seen)
            status, headers, body = state.answer(seen)
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class DripServer:
    """Answers every connection one byte every `interval` seconds, forever (until closed)."""

    url: str
    connections: list[float]


@pytest.fixture
def drip_server() -> Iterator[Callable[[str], DripServer]]:
    """Start a server on 127.0.0.1 that drips `head` ('status', 'headers' or 'body').

    `gives_up` closes each connection after that many seconds, so a client the deadline
    does not stop fails its test late instead of hanging it. A body without `length` has no
    Content-Length: it ends when the connection does.
    """
    listeners: list[socket.socket] = []
    stop = threading.Event()

    def start(
        where: str, interval: float = 0.5, gives_up: float | None = None, *, length: bool = True
    ) -> DripServer:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listeners.append(listener)
        state = DripServer(f"http://127.0.0.1:{listener.getsockname()[1]}/x", [])
        prefix = {
            "status": b"",
            "headers": b"HTTP/1.1 200 OK\r\n",
            "body": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + (b"Content-Length: 100000\r\n" if length else b"Connection: close\r\n")
            + b"\r\n",
        }[where]

        def serve(conn: socket.socket) -> None:
            ends = None if gives_up is None else time.monotonic() + gives_up
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(prefix)
                    filler = b"X-Drip: y\r\n" if where != "body" else b" "
                    while not stop.is_set() and (ends is None or time.monotonic() < ends):
                        for byte in filler if where != "status" else b"HTTP/1.1 200 OK\r\n":
                            conn.sendall(bytes([byte]))
                            time.sleep(interval)
                            if stop.is_set():
                                return
                except OSError:
                    return

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                state.connections.append(time.monotonic())
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return state

    yield start
    stop.set()
    for listener in listeners:
        listener.close()

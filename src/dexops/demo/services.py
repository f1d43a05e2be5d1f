"""Local stand-ins for outside services (package indexes, an OCI registry) on 127.0.0.1."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from dexops.errors import DexopsError, ToolMissingError

READY_TIMEOUT = 20.0


class ServiceError(DexopsError):
    """A local service did not start or answer in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(url: str, process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """Poll `url` until it answers any HTTP status; fail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback URL
                return
        except urllib.error.HTTPError:
            return  # 401 and friends still mean the server is up
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ServiceError(f"{url} did not answer within {timeout:.0f}s")


@dataclass
class Service:
    """A started server process and where it answers."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers)."""
        _terminate(self.process)


# Every server process started and not yet stopped, so nothing escapes a ServiceGroup even
# when a signal lands between starting a process and handing its Service to the group.
_LIVE: list[subprocess.Popen[bytes]] = []
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    # Ctrl-C and SIGTERM wait until the process is on the live list (the child unblocks them).
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        with log.open("wb") as handle:
            process = subprocess.Popen(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_unblock_stop_signals,  # noqa: PLW1509 - single-threaded here
            )
        _LIVE.append(process)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return process


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process (kill it if it lingers) and forget it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if process in _LIVE:
        _LIVE.remove(process)


@dataclass(frozen=True)
class IndexCredentials:
    """Username and password of a local package index."""

    username: str
    password: str


def pypiserver_command() -> list[str]:
    """How to run pypiserver from this Python environment."""
    script = Path(sys.executable).parent / "pypi-server"
    if script.exists():
        return [str(script)]
    found = shutil.which("pypi-server")
    if found is None:
        raise ToolMissingError(
            "pypiserver is not installed (uv sync installs it with the dev group)"
        )
    return [found]


def start_pypiserver(workdir: Path, name: str, credentials: IndexCredentials) -> Service:
    """Start pypiserver on a free port with uploads (and listing) behind a password."""
    try:
        # a dev dependency that only the demo and the tests need.
        from passlib.apache import HtpasswdFile  # noqa: PLC0415
    except ImportError:
        raise ToolMissingError(
            "passlib is not installed (uv sync installs it with the dev group)"
        ) from None

    workdir.mkdir(parents=True, exist_ok=True)
    packages = workdir / "packages"
    packages.mkdir(exist_ok=True)
    htpasswd = HtpasswdFile(str(workdir / "htpasswd"), new=True)
    htpasswd.set_password(credentials.username, credentials.password)
    htpasswd.save()
    port = free_port()
    argv = [
        *pypiserver_command(),
        "run",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--authenticate", "update",
        "--passwords", str(workdir / "htpasswd"),
        "--disable-fallback",
        "--hash-algo", "sha256",
        str(packages),
    ]  # fmt: skip
    log = workdir / "server.log"
    process = _spawn(argv, log)
    url = f"http://127.0.0.1:{port}"
    service = Service(name, url, process, log)
    try:
        wait_for_http(f"{url}/health", process, timeout=READY_TIMEOUT)
    except BaseException:
        # Also on Ctrl-C or SIGTERM while waiting: a half-started server must not linger.
        service.stop()
        raise
    return service


def start_registry(workdir: Path, name: str = "registry") -> Service:
    """Start Debian's docker-registry on a free loopback port with storage in `workdir`."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise ToolMissingError("docker-registry is not installed (apt-get install docker-registry)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {workdir / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    process = _spawn([binary, "serve", str(config)], workdir / "server.log")
    url = f"http://127.0.0.1:{port}"
    service = Service(name, url, process, workdir / "server.log")
    try:
        wait_for_http(f"{url}/v2/", process, timeout=READY_TIMEOUT)
    except BaseException:
        # Also on Ctrl-C or SIGTERM while waiting: a half-started server must not linger.
        service.stop()
        raise
    return service


@dataclass
class ServiceGroup(AbstractContextManager["ServiceGroup"]):
    """Services started together and stopped together, also on Ctrl-C and SIGTERM."""

    services: list[Service] = field(default_factory=list)

    def add(self, service: Service) -> Service:
        """Track a started service."""
        self.services.append(service)
        return service

    def __enter__(self) -> ServiceGroup:
        self._previous = signal.getsignal(signal.SIGTERM)
        self._before = list(_LIVE)

        def on_term(_signum: int, _frame: object) -> None:
            raise KeyboardInterrupt  # unwinds through __exit__, which stops everything

        signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        for process in [p for p in _LIVE if p not in self._before]:
            _terminate(process)
        signal.signal(signal.SIGTERM, self._previous)

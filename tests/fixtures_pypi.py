"""Two real pypiserver instances (test and production) on 127.0.0.1, with passwords on."""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dexops.demo.services import ServiceError, free_port, pypiserver_command, wait_for_http

READY_TIMEOUT = 30.0


TEST_TOKEN_ENV = "DEX_TEST_INDEX_TOKEN"


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """Write an Apache htpasswd file with passlib (the format pypiserver reads)."""
    with warnings.catch_warnings():
        # passlib imports the stdlib `crypt` module, deprecated since 3.11; harmless here.
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.apache import HtpasswdFile

        htpasswd = HtpasswdFile(str(path), new=True)
        for user, password in users.items():
            htpasswd.set_password(user, password)
        htpasswd.save()


@dataclass
class PypiServer:
    """One pypiserver process: where it answers, who may upload, what it holds."""

    name: str
    role: str
    workdir: Path
    username: str
    password: str
    authenticate: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # pypiserver's default sends a project it lacks to pypi.org; None turns that off.
    fallback_url: str | None = None

    @property
    def url(self) -> str:
        """The server's root URL (pypiserver takes uploads there)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def simple_url(self) -> str:
        """The PEP 503 Simple API root."""
        return f"{self.url}simple/"

    @property
    def packages(self) -> Path:
        """The folder pypiserver stores uploads in."""
        return self.workdir / "packages"

    def spawn(self) -> None:
        """Start the process on this server's port (same URL after a restart)."""
        self.packages.mkdir(parents=True, exist_ok=True)
        htpasswd = self.workdir / "htpasswd"
        if not htpasswd.exists():
            write_htpasswd(htpasswd, {self.username: self.password})
        argv = [
            *pypiserver_command(), "run",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--authenticate", self.authenticate, "--passwords", str(htpasswd),
            *(["--fallback-url", self.fallback_url] if self.fallback_url else
              ["--disable-fallback"]),
            "--hash-algo", "sha256",
            str(self.packages),
        ]  # fmt: skip
        with (self.workdir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait(self) -> None:
        """Block until /health answers (fails with the server's log if it died)."""
        assert self.process is not None
        try:
            wait_for_http(f"{self.url}health", self.process, timeout=READY_TIMEOUT)
        except (ServiceError, OSError):
            log = (self.workdir / "server.log").read_text(encoding="utf-8", errors="replace")
            self.stop()
            pytest.fail(f"pypiserver {self.name} did not start:\n{log[-2000:]}")

    def start(self) -> None:
        """Start and wait until ready."""
        self.spawn()
        self.wait()

    def stop(self) -> None:
        """Stop the process (the index is then down: connections are refused)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same packages."""
        self.stop()
        self.start()

    def files(self) -> dict[str, bytes]:
        """The stored distribution files and their bytes."""
        return {p.name: p.read_bytes() for p in sorted(self.packages.iterdir()) if p.is_file()}

    def index_toml(self, *, token_env: str | None = None) -> str:
        """A `[tool.dexops.indexes.<name>]` table pointing at this server."""
        lines = [
            f"[tool.dexops.indexes.{self.name}]",
            f'role = "{self.role}"',
            f'upload-url = "{self.url}"',
            f'simple-url = "{self.simple_url}"',
        ]
        if token_env:
            lines.append(f'token-env = "{token_env}"')
        return "\n".join(lines) + "\n"


@dataclass
class PypiServers:
    """The test index and the production index."""

    test: PypiServer
    production: PypiServer

    def stop(self) -> None:
        """Stop both."""
        self.test.stop()
        self.production.stop()

    def configure(self, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point `repo`'s configuration at both indexes and put their credentials in the env.

        The test index takes its own token (`TEST_TOKEN_ENV`); production the TWINE_* pair.
        The caller commits the configuration change.
        """
        pyproject = repo / "pyproject.toml"
        pyproject.write_text(
            pyproject.read_text(encoding="utf-8")
            + "\n"
            + self.test.index_toml(token_env=TEST_TOKEN_ENV)
            + "\n"
            + self.production.index_toml(),
            encoding="utf-8",
        )
        monkeypatch.setenv(TEST_TOKEN_ENV, self.test.password)
        monkeypatch.setenv("TWINE_USERNAME", self.production.username)
        monkeypatch.setenv("TWINE_PASSWORD", self.production.password)


@pytest.fixture
def pypi_servers(tmp_path: Path) -> Iterator[PypiServers]:
    """Two pypiserver instances with uploads behind htpasswd logins; stopped after the test.

    The test index also protects listing and downloads (a private index, answering 401);
    the production index lets anyone read, like pypi.org.
    """
    servers = PypiServers(
        test=PypiServer(
            "localtest",
            "test",
            tmp_path / "pypi-test",
            "__token__",
            "test-index-token-5c1f2a",
            "update,list,download",
        ),
        production=PypiServer(
            "localprod",
            "production",
            tmp_path / "pypi-prod",
            "publisher",
            "prod-index-password-9d3e7b",
            "update",
        ),
    )
    try:
        # Start both, then wait for both: the start-ups overlap.
        for server in (servers.test, servers.production):
            server.workdir.mkdir(parents=True)
            server.spawn()
        for server in (servers.test, servers.production):
            server.wait()
        yield servers
    finally:
        servers.stop()

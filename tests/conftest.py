"""Shared fixtures: git repositories, the CLI runner, network blocking, required tools."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import GIT_ENV, GitRepo, example_repo

REQUIRE_INTEGRATION = os.environ.get("DEXOPS_REQUIRE_INTEGRATION") == "1"

pytest_plugins = [
    "tests.fixtures_github",
    "tests.fixtures_argocd",
    "tests.fixtures_registry",
    "tests.fixtures_metrics",
    "tests.fixtures_gitops",
    "tests.fixtures_pypi",
    "tests.rehearsal.fixtures",
    "tests.fixtures_http",
]


def require_tool(name: str, hint: str) -> str:
    """Path of a tool; skip without it, or fail under DEXOPS_REQUIRE_INTEGRATION=1."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({hint})"
        if REQUIRE_INTEGRATION:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _loopback(address: Any) -> bool:
    if isinstance(address, tuple):
        host = address[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return isinstance(address, (str, bytes))  # unix sockets stay on this machine


@pytest.fixture(autouse=True)
def _block_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests may talk to 127.0.0.1 fakes only; anything else is a test bug."""
    if request.node.get_closest_marker("integration"):
        return
    original = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _loopback(address):
            raise OSError(f"network access blocked in unit tests: {address!r}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    original_lookup = socket.getaddrinfo

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _loopback((name, 0)):
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup blocked in unit tests: {name}")
        return original_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's tokens, GitHub Actions variables or git config."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "DEXOPS_REPO", "TWINE_", "ARGOCD_", "RUNNER_")) or name in (
            "GH_TOKEN",
            "SLACK_WEBHOOK",
            "PYPI_TOKEN",
            "TEST_PYPI_TOKEN",
            "CI",
        ):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def dex_repo(tmp_path: Path) -> GitRepo:
    """The example monorepo committed on main and dev, with a bare origin."""
    return example_repo(tmp_path)


@dataclass
class CliResult:
    """What a task printed and how it exited."""

    code: int
    out: str
    err: str


class Cli:
    """Runs dexops tasks in-process, the way `invoke` would, from a working directory."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *argv: str, cwd: Path) -> CliResult:
        from dexops.__main__ import program as make_program

        self.monkeypatch.chdir(cwd)
        self.capsys.readouterr()
        program = make_program(argv)
        code = 0
        try:
            program.run(["dexops", *argv], exit=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = self.capsys.readouterr()
        return CliResult(code, captured.out, captured.err)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run a dexops task in-process: `cli("version.show", cwd=repo.path)`."""
    return Cli(capsys, monkeypatch)

"""Temporary git repositories with a bare origin, for tests and the demo's sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES / "dex-monorepo"
# What each example's first commit says (release notes of its first release list it).
IMPORT_MESSAGES = {
    "dex-monorepo": "feat: initial import of the DataEngineX monorepo",
    "single-library": "feat: initial import of slugkit",
}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dex Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Dex Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class GitRepo:
    """A working tree with a bare `origin`, driven by real git."""

    def __init__(self, path: Path, origin: Path) -> None:
        self.path = path
        self.origin = origin

    def git(self, *args: str, cwd: Path | None = None) -> str:
        """Run git in the working tree (or `cwd`) and return stdout stripped."""
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **GIT_ENV},
        )
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout.strip()

    def origin_git(self, *args: str) -> str:
        """Run git inside the bare origin."""
        return self.git(*args, cwd=self.origin)

    def write(self, relative: str, text: str) -> Path:
        """Write a file in the working tree."""
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def commit(self, message: str, *paths: str) -> str:
        """Stage `paths` (everything when none) and commit; return the commit hash."""
        self.git("add", *(paths or ("-A",)))
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        """The commit hash of HEAD."""
        return self.git("rev-parse", "HEAD")

    def push(self, *refs: str) -> None:
        """Push refs (default: the current branch) to origin."""
        self.git("push", "--quiet", "origin", *(refs or ("HEAD",)))

    def remote_refs(self) -> dict[str, str]:
        """Refs of the bare origin mapped to their objects."""
        out = self.origin_git("for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ", 1) for line in out.splitlines() if line)


def init_repo(path: Path, origin: Path, *, source: Path | None = None) -> GitRepo:
    """Create a repository at `path` (copying `source` when given) with a bare origin."""
    if source is not None:
        shutil.copytree(
            source, path, ignore=shutil.ignore_patterns("__pycache__", ".venv", ".nox", "dist")
        )
    else:
        path.mkdir(parents=True)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(origin)], check=True
    )
    repo = GitRepo(path, origin)
    repo.git("init", "--quiet", "--initial-branch=main")
    for key, value in (
        ("user.name", GIT_ENV["GIT_AUTHOR_NAME"]),
        ("user.email", GIT_ENV["GIT_AUTHOR_EMAIL"]),
        ("commit.gpgsign", "false"),
        ("tag.gpgsign", "false"),
    ):
        repo.git("config", key, value)
    repo.git("remote", "add", "origin", str(origin))
    return repo


def example_repo(tmp: Path, name: str = "dex-monorepo") -> GitRepo:
    """An example (default: the monorepo) as a new repository: a commit on main and dev, pushed."""
    repo = init_repo(tmp / "work", tmp / "origin.git", source=EXAMPLES / name)
    repo.commit(IMPORT_MESSAGES[name])
    repo.push("main")
    repo.git("branch", "dev")
    repo.push("dev")
    return repo


# The example's dexops source as it stands in this repository (a path to the checkout).
EXAMPLE_DEXOPS_SOURCE = 'dexops = { path = "../..", editable = true }'


def install_this_checkout(repo: GitRepo) -> None:
    """Point a copy of the example at this dexops checkout, re-lock it, and commit."""
    point_at_this_checkout(repo.path)
    repo.commit("build: dexops from the checkout under test", "pyproject.toml", "uv.lock")


def point_at_this_checkout(path: Path) -> None:
    """Point a copy of the example at this dexops checkout and re-lock it.

    The copy no longer sits two folders below the checkout, so its path source would name
    another folder; its workflows run `uv run --locked`, so the lock must follow the source.
    """
    checkout = EXAMPLE.parent.parent
    pyproject = path / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if EXAMPLE_DEXOPS_SOURCE not in text:
        raise AssertionError(f"{pyproject} has no line {EXAMPLE_DEXOPS_SOURCE!r}")
    source = f'dexops = {{ path = "{checkout.as_posix()}", editable = true }}'
    pyproject.write_text(text.replace(EXAMPLE_DEXOPS_SOURCE, source), encoding="utf-8")
    subprocess.run(["uv", "lock", "--quiet"], cwd=path, check=True, timeout=300, env=_uv_env())


def _uv_env() -> dict[str, str]:
    # A test run inside `uv run` must not hand its own project or environment to this uv.
    return {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }

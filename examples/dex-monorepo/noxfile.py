"""Quality gates of the DataEngineX monorepo, as nox sessions over dexops."""

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "test", "package"]


def _sync(session: nox.Session, *groups: str) -> None:
    # --locked: uv.lock is the tested set of versions; a stale lock fails instead of moving.
    session.run_install(
        "uv",
        "sync",
        "--locked",
        *(f"--group={g}" for g in groups),
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def test(session: nox.Session) -> None:
    """Run the unit tests of careerdex and dataenginex with the dev group."""
    _sync(session, "dev")
    session.run("pytest", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Run the full suite with the data and notebook groups."""
    _sync(session, "dev", "data", "notebook")
    session.run("pytest", *session.posargs)


@nox.session
def package(session: nox.Session) -> None:
    """Build dataenginex's sdist and wheel; twine check --strict, metadata, file lists."""
    _sync(session, "dev")  # dexops at the version uv.lock pins
    # The checked files stay in dist/dataenginex/ for a look, or for a publish job to upload.
    session.run("invoke", "package.validate", "dataenginex", "--out", "dist", *session.posargs)


@nox.session
def semgrep(session: nox.Session) -> None:
    """Scan with Semgrep's OWASP Top 10 and Python rules; write semgrep.sarif for code scanning."""
    session.install("semgrep")
    session.run(
        "semgrep",
        "scan",
        "--config=p/owasp-top-ten",
        "--config=p/python",
        "--sarif",
        "--output=semgrep.sarif",
        "--error",
        ".",
    )

"""Quality gates of slugkit, as nox sessions over dexops."""

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "test", "package"]


def _sync(session: nox.Session) -> None:
    # --locked: uv.lock is the tested set of versions; a stale lock fails instead of moving.
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--group=dev",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def test(session: nox.Session) -> None:
    """Run slugkit's tests with the dev group."""
    _sync(session)
    session.run("pytest", *session.posargs)


@nox.session
def package(session: nox.Session) -> None:
    """Build slugkit's sdist and wheel; twine check --strict, metadata, file lists."""
    _sync(session)  # dexops at the version uv.lock pins
    # The checked files stay in dist/slugkit/ for a look, or for a publish job to upload.
    session.run("invoke", "package.validate", "slugkit", "--out", "dist", *session.posargs)

"""Post-deploy smoke check: the environment's health URL answers as expected in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dexops import console
from dexops.domain.config import Environment
from dexops.domain.rollout import WaitTerminatedError
from dexops.errors import ConfigError, DexopsError, ExitCode
from dexops.workflows.workspace import Workspace

if TYPE_CHECKING:
    import requests

DEFAULT_TIMEOUT = 120.0
DEFAULT_INTERVAL = 5.0
ATTEMPT_TIMEOUT = 10.0  # one request may not use up the whole deadline


class SmokeCheckError(DexopsError):
    """The health endpoint did not answer with the expected status before the deadline."""

    exit_code = ExitCode.SMOKE_FAILED


class RollbackAfterFailureError(DexopsError):
    """The smoke check failed and the rollback it asked for failed too."""

    exit_code = ExitCode.ROLLBACK_FAILED


def health_url(env: Environment, url: str | None) -> str:
    """The URL to check: `--url`, else the environment's `health-url`."""
    chosen = url or env.health_url
    if chosen is None:
        raise ConfigError(
            f"environment {env.name!r} has no health-url in "
            f"[tool.dexops.environments.{env.name}]; pass --url"
        )
    parts = urlsplit(chosen)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"health URL {chosen!r} is not an http(s) URL")
    return chosen


@dataclass(frozen=True)
class SmokeResult:
    """How a smoke check ended: passed or not, after how many attempts, and the last answer."""

    url: str
    passed: bool
    attempts: int
    seconds: float
    last: str


def _attempt(session: requests.Session, url: str, timeout: float) -> tuple[int | None, str]:
    import requests

    try:
        response = session.get(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException as exc:
        return None, f"no answer ({type(exc).__name__})"
    return response.status_code, f"HTTP {response.status_code}"


def smoke_check(
    url: str,
    *,
    expect_status: int = 200,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SmokeResult:
    """GET `url` until it answers `expect_status` or the deadline passes (read-only)."""
    from dexops.adapters.http import make_session

    if timeout <= 0 or interval <= 0:
        raise ConfigError(f"--timeout ({timeout}) and --interval ({interval}) must be positive")
    # The loop is the retry: a failed attempt is tried again after `interval`.
    session = session or make_session(retries=0)
    start = clock()
    deadline = start + timeout
    attempts = 0
    last = "not tried"
    while True:
        attempts += 1
        remaining = max(0.1, deadline - clock())
        status, last = _attempt(session, url, min(ATTEMPT_TIMEOUT, remaining))
        elapsed = clock() - start
        if status == expect_status:
            console.say(f"[{elapsed:5.0f}s] {url}: {last} (attempt {attempts}) — passed")
            return SmokeResult(url, passed=True, attempts=attempts, seconds=elapsed, last=last)
        console.say(
            f"[{elapsed:5.0f}s] {url}: {last}, expected {expect_status} (attempt {attempts})"
        )
        if clock() >= deadline:
            return SmokeResult(url, passed=False, attempts=attempts, seconds=elapsed, last=last)
        sleep(max(0.0, min(interval, deadline - clock())))


def verify_environment(
    env: Environment,
    *,
    url: str | None = None,
    expect_status: int = 200,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    rollback: Callable[[], str] | None = None,
    session: requests.Session | None = None,
) -> SmokeResult:
    """Smoke-check an environment; on failure run `rollback` when given, then raise.

    `rollback` performs (or, under --dry-run, describes) the environment's rollback
    and returns one line saying what it did.
    """
    target = health_url(env, url)
    result = smoke_check(
        target, expect_status=expect_status, timeout=timeout, interval=interval, session=session
    )
    if result.passed:
        return result
    failed = (
        f"{env.name} failed its smoke check: {target} answered {result.last} "
        f"(expected {expect_status}) after {result.attempts} attempts in {result.seconds:.0f}s"
    )
    if rollback is None:
        raise SmokeCheckError(failed)
    console.warn(f"{failed}; rolling back")
    try:
        done = rollback()
    except WaitTerminatedError:
        raise WaitTerminatedError(
            f"terminated by SIGTERM during the rollback of {env.name} after its failed smoke "
            f"check; `invoke history --env {env.name}` shows whether the rollback was pushed"
        ) from None
    except DexopsError as exc:
        raise RollbackAfterFailureError(f"{failed}; the rollback failed too: {exc}") from None
    raise SmokeCheckError(f"{failed}; {done}")


def rollback_action(
    ws: Workspace, env: str, *, dry_run: bool = False, skip_registry_check: bool = False
) -> Callable[[], str]:
    """The rollback `--rollback-on-failure` runs: the default target of `invoke rollback`.

    It commits the rollback with a hold on the environment's branch and pushes it
    (under `dry_run` it shows the diff and changes nothing), and returns one line.
    """

    def run() -> str:
        from dexops.workflows.rollback import apply_rollback, plan_rollback

        plan = plan_rollback(ws, env=env, skip_registry_check=skip_registry_check)
        current = plan.state.tag or "(none)"
        branch = plan.state.env.branch
        if plan.held is not None:
            return (
                f"{env} is already rolled back to {plan.tag} (held since "
                f"{plan.held.commit[:8]}); nothing was rolled back again"
            )
        if plan.unchanged:
            return f"{env} already runs {plan.tag}; nothing was rolled back"
        if dry_run:
            console.say(plan.diff.rstrip("\n"))
            console.would(
                f"commit `fix: rollback {env} to {plan.tag}` with a hold on {branch} and push it"
            )
            return f"would roll {env} back from {current} to {plan.tag} (dry run: nothing changed)"
        result = apply_rollback(ws, plan)
        if result.outcome == "pushed" and result.commit is not None:
            return (
                f"rolled {env} back from {current} to {plan.tag}: {result.commit[:12]} pushed "
                f"to {branch}, held until `invoke hold.release --env {env}`"
            )
        return f"{env} already ran {plan.tag} when the rollback landed; nothing was pushed"

    return run

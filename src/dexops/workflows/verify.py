"""Post-deploy smoke check: the environment's health URL answers as expected in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from dexops import invocation
from dexops.adapters.http import make_session
from dexops.domain.config import Environment
from dexops.domain.durations import seconds
from dexops.domain.rollout import WaitTerminatedError
from dexops.errors import ConfigError, DexopsError, ExitCode
from dexops.workflows.deploy import render_warnings
from dexops.workflows.rollback import apply_rollback, plan_rollback
from dexops.workflows.workspace import Workspace

if TYPE_CHECKING:
    from dexops.workflows.rollback import RollbackPlan

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


@dataclass(frozen=True)
class SmokeAttempt:
    """One answer of the health URL, reported while the check goes on."""

    url: str
    last: str
    expected: int
    attempt: int
    elapsed: float
    passed: bool


@dataclass(frozen=True)
class RollingBack:
    """The smoke check failed (`failed` says how) and the rollback starts."""

    failed: str


SmokeProgress = SmokeAttempt | RollingBack


def _attempt(session: requests.Session, url: str, timeout: float) -> tuple[int | None, str]:
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
    on_progress: Callable[[SmokeProgress], None] | None = None,
) -> SmokeResult:
    """GET `url` until it answers `expect_status` or the deadline passes (read-only)."""
    timeout, interval = seconds(timeout, "--timeout"), seconds(interval, "--interval")
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
        passed = status == expect_status
        if on_progress is not None:
            on_progress(SmokeAttempt(url, last, expect_status, attempts, elapsed, passed))
        if passed:
            return SmokeResult(url, passed=True, attempts=attempts, seconds=elapsed, last=last)
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
    on_progress: Callable[[SmokeProgress], None] | None = None,
) -> SmokeResult:
    """Smoke-check an environment; on failure run `rollback` when given, then raise.

    `rollback` performs (or, under --dry-run, describes) the environment's rollback
    and returns one line saying what it did.
    """
    target = health_url(env, url)
    result = smoke_check(
        target,
        expect_status=expect_status,
        timeout=timeout,
        interval=interval,
        session=session,
        on_progress=on_progress,
    )
    if result.passed:
        return result
    failed = (
        f"{env.name} failed its smoke check: {target} answered {result.last} "
        f"(expected {expect_status}) after {result.attempts} attempts in {result.seconds:.0f}s"
    )
    if rollback is None:
        raise SmokeCheckError(failed)
    if on_progress is not None:
        on_progress(RollingBack(failed))
    try:
        done = rollback()
    except WaitTerminatedError:
        raise WaitTerminatedError(
            f"terminated by SIGTERM during the rollback of {env.name} after its failed smoke "
            f"check; `{invocation.command(f'history --env {env.name}')}` shows whether the "
            "rollback was pushed"
        ) from None
    except DexopsError as exc:
        raise RollbackAfterFailureError(f"{failed}; the rollback failed too: {exc}") from None
    raise SmokeCheckError(f"{failed}; {done}")


@dataclass(frozen=True)
class FailureRollback:
    """The rollback after a failed smoke check: one line, its warnings, under --dry-run its plan."""

    line: str
    warnings: tuple[str, ...] = ()
    preview: RollbackPlan | None = None  # the plan a dry run shows instead of applying it


def rollback_after_failure(
    ws: Workspace, env: str, *, dry_run: bool = False, skip_registry_check: bool = False
) -> FailureRollback:
    """The rollback `--rollback-on-failure` runs: the default target of `invoke rollback`.

    It commits the rollback with a hold on the environment's branch and pushes it
    (under `dry_run` it changes nothing and returns the plan to show).
    """
    plan = plan_rollback(ws, env=env, skip_registry_check=skip_registry_check)
    current = plan.state.tag or "(none)"
    branch = plan.state.env.branch
    if plan.held is not None:
        return FailureRollback(
            f"{env} is already rolled back to {plan.tag} (held since "
            f"{plan.held.commit[:8]}); nothing was rolled back again"
        )
    if plan.unchanged:
        return FailureRollback(f"{env} already runs {plan.tag}; nothing was rolled back")
    if dry_run:
        return FailureRollback(
            f"would roll {env} back from {current} to {plan.tag} (dry run: nothing changed)",
            plan.warnings,
            plan,
        )
    warnings = (*plan.warnings, *render_warnings())
    result = apply_rollback(ws, plan)
    if result.outcome == "pushed" and result.commit is not None:
        return FailureRollback(
            f"rolled {env} back from {current} to {plan.tag}: {result.commit[:12]} pushed "
            f"to {branch}, held until `{invocation.command(f'hold.release --env {env}')}`",
            warnings,
        )
    return FailureRollback(
        f"{env} already ran {plan.tag} when the rollback landed; nothing was pushed", warnings
    )

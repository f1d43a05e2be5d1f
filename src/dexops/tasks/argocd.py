"""`argocd.*` tasks: wait for a pushed commit to run Healthy, and trigger a sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context

from dexops import invocation
from dexops.tasks._edge import task

if TYPE_CHECKING:
    from rich.status import Status

    from dexops.domain.rollout import RolloutProgress
    from dexops.workflows.argocd import RolloutEvent


class RolloutReporter:
    """Shows a wait's progress: a line per change; a live status line on a terminal."""

    def __init__(self, app: str, *, live: bool | None = None) -> None:
        import os
        import sys

        from dexops import github_actions

        self.app = app
        self._last_line: str | None = None
        self._last_problem: str | None = None
        self._status: Status | None = None
        if live is None:
            live = sys.stdout.isatty() and not github_actions.active() and not os.environ.get("CI")
        if live:
            from rich.console import Console

            self._status = Console().status(f"waiting for {app}")
            self._status.start()

    def poll(self, progress: RolloutProgress, elapsed: float) -> None:
        """Report one judged poll; plain lines only when what it shows changed."""
        from dexops import console
        from dexops.workflows.argocd import describe

        state = progress.last
        if state is None:
            return
        shown = describe(state)
        self._last_problem = None
        if shown != self._last_line:
            self._last_line = shown
            console.say(f"[{elapsed:5.0f}s] {self.app}: {shown} ({progress.reason})")
        if self._status is not None:
            from dexops.secrets import mask

            self._status.update(mask(f"{self.app}: {shown} — {progress.reason} [{elapsed:.0f}s]"))

    def problem(self, message: str, elapsed: float) -> None:
        """Report a poll that failed but may succeed next time (once while it repeats)."""
        from dexops import console

        if message == self._last_problem:
            return
        self._last_problem = message
        console.warn(f"[{elapsed:5.0f}s] {self.app}: {message}; polling again")

    def close(self) -> None:
        """Stop the live status line."""
        if self._status is not None:
            self._status.stop()
            self._status = None


class _WaitShown:
    """Renders a wait's events: the start line, then each poll through a RolloutReporter."""

    def __init__(self) -> None:
        self.reporter: RolloutReporter | None = None

    def __call__(self, event: RolloutEvent) -> None:
        from dexops import console
        from dexops.workflows.argocd import Polled, WaitStarted

        if isinstance(event, WaitStarted):
            console.warn_each(event.warnings)
            pushed = event.pushed
            console.say(
                f"waiting up to {event.timeout:.0f}s for {event.app} to run "
                f"{pushed.commit[:12]} ({pushed.source}, pushed {pushed.pushed_at.isoformat()})"
            )
            self.reporter = RolloutReporter(event.app)
            return
        self.reporter = self.reporter or RolloutReporter(event.app)
        if isinstance(event, Polled):
            self.reporter.poll(event.progress, event.elapsed)
        else:
            self.reporter.problem(event.message, event.elapsed)

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()


@task(
    read_only=True,
    help={
        "env": "environment whose Argo CD application to wait for",
        "timeout": "SECONDS to wait before giving up (a number; default 600)",
        "interval": "SECONDS between polls (a number; default 5)",
        "revision": "commit to wait for (default: tip of origin/<env branch> after a fetch)",
        "pushed_at": "ISO 8601 time of the push (default: the commit's committer date)",
        "healthy_polls": "consecutive Healthy polls needed (default 3)",
        "repo": "target repository root",
    },
)
def wait(
    c: Context,
    env: str,
    timeout: float = 600.0,
    interval: float = 5.0,
    revision: str | None = None,
    pushed_at: str | None = None,
    healthy_polls: int = 3,
    repo: str | None = None,
) -> None:
    """Wait for ENV's Argo CD app to run the pushed commit Healthy (see docs/exit-codes.md)."""
    from dexops import console, github_actions
    from dexops.workflows.argocd import sigterm_raises, wait_for_environment
    from dexops.workflows.workspace import Workspace

    shown = _WaitShown()
    try:
        with sigterm_raises(f"argocd.wait --env {env}: nothing was changed (it only reads)"):
            result = wait_for_environment(
                Workspace.open(repo),
                env,
                timeout=timeout,
                interval=interval,
                healthy_polls=healthy_polls,
                revision=revision,
                pushed_at=pushed_at,
                on_progress=shown,
            )
    finally:
        shown.close()
    console.say(
        f"{result.app} runs {result.commit[:12]} Synced and Healthy "
        f"({result.polls} polls, {result.seconds:.0f}s)"
    )
    github_actions.set_output("revision", result.commit)
    github_actions.set_output("health", result.state.health_status)


@task(
    help={
        "env": "environment whose Argo CD application to sync",
        "prune": "delete resources that are no longer in git",
        "dry_run": "show the request, send nothing",
        "repo": "target repository root",
    }
)
def sync(
    c: Context, env: str, prune: bool = False, dry_run: bool = False, repo: str | None = None
) -> None:
    """Ask Argo CD to sync ENV's application (reports an operation already running)."""
    from dexops import console
    from dexops.workflows.argocd import sigterm_raises, trigger_sync
    from dexops.workflows.workspace import Workspace

    with sigterm_raises(f"argocd.sync --env {env} before its request: nothing was done"):
        outcome = trigger_sync(Workspace.open(repo), env, prune=prune, dry_run=dry_run)
    state = outcome.state
    console.warn_each(outcome.warnings)
    if outcome.action == "would-start":
        console.would(
            f"POST /api/v1/applications/{outcome.app}/sync "
            f"(prune={'true' if prune else 'false'}) on {outcome.server}"
        )
    if outcome.action == "running":
        console.say(
            f"{outcome.app}: an operation is already {state.operation_phase}; no new sync started"
        )
    elif outcome.action == "started":
        console.say(
            f"{outcome.app}: sync started (operation {state.operation_phase or 'requested'}); "
            f"`{invocation.command(f'argocd.wait --env {env}')}` follows it"
        )
    else:
        console.say(f"{outcome.app}: now sync={state.sync_status} health={state.health_status}")


def collection() -> Collection:
    """The `argocd` collection."""
    return Collection("argocd", wait, sync)

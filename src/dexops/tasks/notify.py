"""`notify`: post a pipeline outcome to Slack; a failed notification warns, never fails."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "event": "release | publish | deploy | promote | rollback",
        "status": "success | failure | cancelled (as `${{ job.status }}` gives it)",
        "component": "the component concerned",
        "env": "the environment concerned",
        "tag": "the git tag or image tag concerned",
        "url": "a link for details (default: this GitHub Actions run)",
        "timeout": "seconds the post to Slack may take in total, retries included",
        "dry_run": "show the message, send nothing",
    }
)
def notify(
    c: Context,
    event: str | None = None,
    status: str | None = None,
    component: str | None = None,
    env: str | None = None,
    tag: str | None = None,
    url: str | None = None,
    timeout: float = 10.0,
    dry_run: bool = False,
) -> None:
    """Post EVENT's STATUS to the Slack incoming webhook in $SLACK_WEBHOOK, when it is set."""
    import json

    from dexops import console, github_actions
    from dexops.adapters.slack import (
        EVENTS,
        STATUSES,
        WEBHOOK_VARIABLE,
        NotifyError,
        Outcome,
        build_message,
        post,
        summary_line,
        webhook_from_env,
    )

    if not event:
        raise NotifyError(f"--event is required: one of {', '.join(EVENTS)}")
    if not status:
        raise NotifyError(f"--status is required: one of {', '.join(STATUSES)}")
    run = github_actions.run_context()
    outcome = Outcome(
        event=event,
        status=status,
        component=component or None,
        env=env or None,
        tag=tag or None,
        url=url or run.run_url,
        repository=run.repository,
    )
    from dexops.domain.durations import seconds

    timeout = seconds(timeout, "--timeout")
    message = build_message(outcome)
    webhook = webhook_from_env()
    if dry_run:
        target = "Slack" if webhook else f"Slack (but ${WEBHOOK_VARIABLE} is not set)"
        console.would(f"post to {target}: {summary_line(outcome)}")
        console.say(json.dumps(message, indent=2))
        return
    if webhook is None:
        console.say(f"notify: ${WEBHOOK_VARIABLE} is not set; not sent: {summary_line(outcome)}")
        return
    try:
        post(webhook, message, timeout=timeout)
    except NotifyError as exc:
        # The pipeline's outcome stands whatever Slack does; say so and carry on.
        console.warn(f"notification not sent: {exc}")
        return
    console.say(f"notify: sent to Slack: {summary_line(outcome)}")

"""Slack notifications of pipeline outcomes: a pure message builder and a best-effort post."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dexops import secrets
from dexops.adapters.http import make_session
from dexops.domain.durations import seconds
from dexops.errors import DexopsError

if TYPE_CHECKING:
    import requests

EVENTS = ("release", "publish", "deploy", "promote", "rollback")
# `cancelled` is what `${{ job.status }}` says when a run is stopped; it is reported, not refused.
STATUSES = ("success", "failure", "cancelled")
WEBHOOK_VARIABLE = "SLACK_WEBHOOK"
DEFAULT_TIMEOUT = 10.0
# A notification is never worth holding a pipeline for long: few retries, short backoff.
RETRIES = 2
BACKOFF = 0.2

_VERBS = {"success": "succeeded", "failure": "failed", "cancelled": "was cancelled"}
_ICONS = {"success": ":white_check_mark:", "failure": ":x:", "cancelled": ":heavy_minus_sign:"}


class NotifyError(DexopsError):
    """A notification could not be built or delivered."""


@dataclass(frozen=True)
class Outcome:
    """What happened: one pipeline event, its status, and what it concerned."""

    event: str
    status: str
    component: str | None = None
    env: str | None = None
    tag: str | None = None
    url: str | None = None
    repository: str | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise NotifyError(f"unknown --event {self.event!r}; use one of {', '.join(EVENTS)}")
        if self.status not in STATUSES:
            raise NotifyError(f"unknown --status {self.status!r}; use one of {', '.join(STATUSES)}")
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise NotifyError(f"--url {self.url!r} is not an http(s) URL")


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary_line(outcome: Outcome) -> str:
    """One plain line: `release of dataenginex dataenginex-v1.0.0 succeeded (owner/repo)`."""
    subject = " ".join(part for part in (outcome.component, outcome.tag) if part)
    line = outcome.event
    if subject:
        line += f" of {subject}"
    if outcome.env:
        line += f" to {outcome.env}" if outcome.event != "rollback" else f" in {outcome.env}"
    line += f" {_VERBS[outcome.status]}"
    if outcome.repository:
        line += f" ({outcome.repository})"
    return line


def build_message(outcome: Outcome) -> dict[str, object]:
    """The incoming-webhook payload: a plain `text` fallback and Block Kit blocks."""
    line = summary_line(outcome)
    fields = [
        ("Event", outcome.event),
        ("Status", outcome.status),
        ("Component", outcome.component),
        ("Environment", outcome.env),
        ("Tag", outcome.tag),
        ("Repository", outcome.repository),
    ]
    blocks: list[dict[str, object]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{_ICONS[outcome.status]} {slack_escape(line)}"},
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{slack_escape(value)}"}
                for name, value in fields
                if value
            ],
        }
    ]
    if outcome.url:
        # Slack's link syntax is <url|label>; `|` and `>` would end it early.
        link = outcome.url.replace("|", "%7C").replace(">", "%3E")
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|details>"}]}
        )
    return {"text": line, "blocks": blocks}


def webhook_from_env(environ: Mapping[str, str] = os.environ) -> str | None:
    """The webhook URL from `$SLACK_WEBHOOK`, registered as a secret; None when unset."""
    webhook = environ.get(WEBHOOK_VARIABLE, "").strip()
    if not webhook:
        return None
    secrets.register(webhook)
    # The path is the credential; an error that quotes only the path must not reveal it.
    secrets.register(urlsplit(webhook).path)
    return webhook


def post(
    webhook: str,
    payload: Mapping[str, object],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> None:
    """POST the payload to the webhook; raise NotifyError naming what went wrong, never the URL."""
    # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
    import requests  # noqa: PLC0415

    if urlsplit(webhook).scheme not in ("http", "https"):
        raise NotifyError(f"${WEBHOOK_VARIABLE} is not an http(s) URL")

    timeout = seconds(timeout, "--timeout")
    # `timeout` bounds the whole post, retries and a server dripping bytes included.
    client = session or make_session(
        retries=RETRIES, backoff=BACKOFF, timeout=timeout, deadline=timeout
    )
    # requests' own exception texts quote the URL (the secret), so none of them is passed on.
    try:
        # The URL is the credential: a redirect would carry it (or the payload) elsewhere.
        response = client.post(webhook, json=dict(payload), allow_redirects=False)
    except requests.Timeout:
        raise NotifyError(f"Slack did not answer within {timeout:g}s") from None
    except requests.ConnectionError as exc:
        if _timed_out(exc):
            raise NotifyError(f"Slack did not answer within {timeout:g}s") from None
        raise NotifyError("could not connect to the Slack webhook") from None
    except requests.RequestException as exc:
        raise NotifyError(f"the Slack webhook request failed ({type(exc).__name__})") from None
    if 300 <= response.status_code < 400:
        raise NotifyError(f"Slack answered HTTP {response.status_code} (a redirect); not followed")
    if not 200 <= response.status_code < 300:
        reason = " ".join(response.text.split())[:80]
        raise NotifyError(
            f"Slack answered HTTP {response.status_code}" + (f": {reason}" if reason else "")
        )


def _timed_out(exc: requests.ConnectionError) -> bool:
    """Whether retries ran out on timeouts (requests reports that as a ConnectionError)."""
    # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
    from urllib3.exceptions import NewConnectionError  # noqa: PLC0415
    from urllib3.exceptions import TimeoutError as Urllib3Timeout  # noqa: PLC0415

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    # urllib3 makes a refused connection a subclass of its connect timeout; it is not one.
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dexops.adapters.slack import NotifyError, Outcome, build_message, summary_line
from dexops.github_actions import run_url
from tests.conftest import Cli

HOOK_PATH = "/services/T0DEXOPS/B0DEXOPS/s3cr3tW3bh00kT0ken"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[HTTPServer]:
    """A Slack incoming-webhook fake on 127.0.0.1; threaded so a slow answer blocks no retry."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    monkeypatch.setenv("SLACK_WEBHOOK", server.url_for(HOOK_PATH))
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert "s3cr3tW3bh00kT0ken" not in text
        assert HOOK_PATH not in text


def test_success_posts_the_message(slack: HTTPServer, cli: Cli, tmp_path: Path) -> None:
    slack.expect_oneshot_request(HOOK_PATH, method="POST").respond_with_data("ok")
    result = cli(
        "notify",
        "--event",
        "release",
        "--status",
        "success",
        "--component",
        "dataenginex",
        "--tag",
        "dataenginex-v0.4.11",
        "--url",
        "https://example.test/runs/1",
        cwd=tmp_path,
    )
    assert result.code == 0, result.err
    assert "sent to Slack: release of dataenginex dataenginex-v0.4.11 succeeded" in result.out
    slack.check_assertions()
    (request, _response), *_ = slack.log
    body = json.loads(request.get_data())
    assert body["text"] == "release of dataenginex dataenginex-v0.4.11 succeeded"
    assert body["blocks"][1]["elements"][0]["text"] == "<https://example.test/runs/1|details>"
    assert request.headers["Content-Type"] == "application/json"
    _no_secret(result.out, result.err)


def test_server_error_warns_and_exits_zero(slack: HTTPServer, cli: Cli, tmp_path: Path) -> None:
    slack.expect_request(HOOK_PATH, method="POST").respond_with_data("internal error", status=500)
    result = cli("notify", "--event", "deploy", "--status", "failure", "--env", "dev", cwd=tmp_path)
    assert result.code == 0
    assert result.err == "warning: notification not sent: Slack answered HTTP 500: internal error\n"
    # The first attempt and the bounded retries, then it gives up.
    assert len(slack.log) == 3
    _no_secret(result.out, result.err)


def test_rejected_webhook_warns_with_slacks_reason(
    slack: HTTPServer, cli: Cli, tmp_path: Path
) -> None:
    slack.expect_request(HOOK_PATH, method="POST").respond_with_data("no_service", status=404)
    result = cli("notify", "--event", "promote", "--status", "success", cwd=tmp_path)
    assert result.code == 0
    assert "Slack answered HTTP 404: no_service" in result.err
    assert len(slack.log) == 1  # a 404 is not retried


def test_timeout_warns_and_exits_zero(slack: HTTPServer, cli: Cli, tmp_path: Path) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("ok")

    slack.expect_request(HOOK_PATH, method="POST").respond_with_handler(slow)
    started = time.monotonic()
    result = cli(
        "notify", "--event", "rollback", "--status", "success", "--timeout", "0.2", cwd=tmp_path
    )
    elapsed = time.monotonic() - started
    assert result.code == 0
    assert result.err == "warning: notification not sent: Slack did not answer within 0.2s\n"
    assert elapsed < 5  # bounded: a few short attempts, not a hang
    _no_secret(result.out, result.err)


def test_unreachable_webhook_warns(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    url = server.url_for(HOOK_PATH)
    server.stop()  # nothing listens there any more
    monkeypatch.setenv("SLACK_WEBHOOK", url)
    result = cli("notify", "--event", "publish", "--status", "success", cwd=tmp_path)
    assert result.code == 0
    assert result.err == "warning: notification not sent: could not connect to the Slack webhook\n"
    _no_secret(result.out, result.err)


def test_without_webhook_nothing_is_sent(cli: Cli, tmp_path: Path) -> None:
    result = cli("notify", "--event", "publish", "--status", "success", cwd=tmp_path)
    assert result.code == 0
    assert result.out == "notify: $SLACK_WEBHOOK is not set; not sent: publish succeeded\n"


def test_dry_run_shows_the_message_and_sends_nothing(
    slack: HTTPServer, cli: Cli, tmp_path: Path
) -> None:
    result = cli(
        "notify", "--event", "deploy", "--status", "success", "--env", "dev", "--dry-run",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0
    assert result.out.startswith("[dry-run] would post to Slack: deploy to dev succeeded\n")
    assert json.loads(result.out.split("\n", 1)[1])["text"] == "deploy to dev succeeded"
    assert slack.log == []
    _no_secret(result.out, result.err)


def test_github_actions_output_masks_the_webhook(
    slack: HTTPServer, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "TheDataEngineX/DEX")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    slack.expect_request(HOOK_PATH, method="POST").respond_with_data("down", status=503)
    result = cli("notify", "--event", "deploy", "--status", "cancelled", cwd=tmp_path)
    assert result.code == 0
    assert "::add-mask::" in result.err  # the runner is told to hide the webhook
    err = [line for line in result.err.splitlines() if not line.startswith("::add-mask::")]
    assert err == ["::warning::notification not sent: Slack answered HTTP 503: down"]
    body = json.loads(slack.log[0][0].get_data())
    assert body["text"] == "deploy was cancelled (TheDataEngineX/DEX)"
    assert "https://github.com/TheDataEngineX/DEX/actions/runs/42" in json.dumps(body)
    _no_secret(result.out, *err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--status", "success"), "error: --event is required"),
        (("--event", "deploy"), "error: --status is required"),
        (("--event", "deploi", "--status", "success"), "error: unknown --event 'deploi'"),
        (("--event", "deploy", "--status", "ok"), "error: unknown --status 'ok'"),
        (
            ("--event", "deploy", "--status", "success", "--url", "javascript:alert(1)"),
            "error: --url 'javascript:alert(1)' is not an http(s) URL",
        ),
    ],
)
def test_bad_flags_are_one_line_errors(
    cli: Cli, tmp_path: Path, argv: tuple[str, ...], message: str
) -> None:
    result = cli("notify", *argv, cwd=tmp_path)
    assert result.code == 1
    assert result.err.startswith(message)
    assert result.err.count("\n") == 1


def test_message_escapes_slack_control_characters() -> None:
    outcome = Outcome(event="release", status="failure", component="a<b>&c", tag="v1")
    message = build_message(outcome)
    section = message["blocks"][0]  # type: ignore[index]
    assert section["text"]["text"] == ":x: release of a&lt;b&gt;&amp;c v1 failed"
    assert {"type": "mrkdwn", "text": "*Component*\na&lt;b&gt;&amp;c"} in section["fields"]
    assert message["text"] == "release of a<b>&c v1 failed"  # the plain fallback stays plain


def test_summary_lines() -> None:
    assert summary_line(Outcome("rollback", "success", env="prod", tag="sha-1")) == (
        "rollback of sha-1 in prod succeeded"
    )
    assert summary_line(Outcome("promote", "failure", env="stage", repository="o/r")) == (
        "promote to stage failed (o/r)"
    )


def test_run_url_needs_all_three_variables() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com/", "GITHUB_REPOSITORY": "o/r"}
    assert run_url(env) is None
    assert run_url({**env, "GITHUB_RUN_ID": "7"}) == "https://github.com/o/r/actions/runs/7"


def test_outcome_refuses_unknown_values() -> None:
    with pytest.raises(NotifyError, match="unknown --event"):
        Outcome(event="build", status="success")

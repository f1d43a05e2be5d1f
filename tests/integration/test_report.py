"""`report --html`: the page renders in a real headless Chromium and its figures are metrics'."""

from __future__ import annotations

import json
import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from tests.conftest import Cli, require_tool
from tests.fixtures_metrics import generate

pytestmark = pytest.mark.integration

DAY = 86_400
NOW = 1_800_000_000  # both tasks see the same "now": one window, the same figures
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Nothing may come from the network at view time: every name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
    # Time runs fast until the page is idle: the charts draw before the DOM is dumped.
    "--virtual-time-budget=5000",
)


class _Page(HTMLParser):
    """The body's attributes, the embedded JSON documents and the metrics table's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.scripts: dict[str, str] = {}
        self.cells: dict[str, list[str | None]] = {}
        self._script: str | None = None
        self._row: str | None = None
        self._in_metrics = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "body":
            self.body = named
        elif tag == "script" and named.get("type") == "application/json":
            self._script = named.get("id")
        elif tag == "table":
            self._in_metrics = named.get("id") == "metrics"
        elif tag == "tr" and self._in_metrics and (env := named.get("data-env")):
            self._row = env
            self.cells[env] = []
        elif tag == "td" and self._row is not None:
            self.cells[self._row].append(named.get("data-value"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] = self.scripts.get(self._script, "") + data


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    chromium = require_tool("chromium", "apt-get install chromium")
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture
def history_repo(tmp_path: Path) -> Path:
    require_tool("git", "apt-get install git")
    history = generate(tmp_path / "repo", start=NOW - 40 * DAY, batches=20, size=2)
    path = history.finish()
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(origin)], check=True)
    subprocess.run(["git", "-C", str(path), "remote", "add", "origin", str(origin)], check=True)
    subprocess.run(
        ["git", "-C", str(path), "push", "--quiet", "origin", "--all", "--follow-tags"], check=True
    )
    return path


def test_the_page_renders_in_chromium_with_the_metrics_figures(
    history_repo: Path, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    out = tmp_path / "report.html"
    done = cli("report", "--html", str(out), "--since", "60d", cwd=history_repo)
    assert done.code == 0, done.err
    metrics = cli("metrics", "--json", "--since", "60d", cwd=history_repo)
    assert metrics.code == 0, metrics.err
    expected = json.loads(metrics.out)

    text = out.read_text(encoding="utf-8")
    # Self-contained: no script, style or image is loaded from anywhere.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)

    dom = _chromium(tmp_path, out, "--dump-dom")
    page = _Page()
    page.feed(dom.stdout)
    assert "data-render-error" not in page.body, page.body
    assert page.body.get("data-rendered") == "6"
    assert page.body.get("data-painted") == "6"
    assert not [line for line in dom.stderr.splitlines() if "Uncaught" in line], dom.stderr

    # The figures on the page are `metrics --json`'s: embedded whole, and in the table.
    assert json.loads(page.scripts["dexops-metrics"]) == expected
    for env in expected["environments"]:
        cells = page.cells[env["environment"]]
        assert json.loads(cells[1] or "null") == env["deployments"]
        assert json.loads(cells[2] or "null") == env["per_week"]
        assert json.loads(cells[3] or "null") == env["lead_time"]["median_seconds"]
        assert json.loads(cells[4] or "null") == env["change_failure_rate"]
        assert json.loads(cells[5] or "null") == env["time_to_restore"]["median_seconds"]
    report = json.loads(page.scripts["dexops-report"])
    for env in expected["environments"]:
        weeks = report["weekly"][env["environment"]]
        assert [w["deployments"] for w in weeks] == [w["deployments"] for w in env["weekly"]]
    actions = {e["action"] for e in report["timeline"]}
    assert actions == {"deploy", "promote", "rollback"}

    shot = tmp_path / "report.png"
    _chromium(tmp_path, out, f"--screenshot={shot}", "--window-size=1000,2600")
    image = shot.read_bytes()
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(image) > 30_000


def test_dry_run_writes_nothing(history_repo: Path, tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "report.html"
    done = cli("report", "--html", str(out), "--dry-run", cwd=history_repo)
    assert done.code == 0, done.err
    assert "would write the report" in done.out
    assert not out.exists()

"""`report --html`: status, timeline, releases and delivery metrics as one self-contained page."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from dexops.domain.delivery_metrics import Window
from dexops.domain.report_model import releases_data, timeline, weekly_figures
from dexops.domain.report_page import PageAssets, render_page
from dexops.errors import DexopsError
from dexops.workflows.metrics import MetricsReport, delivery_metrics
from dexops.workflows.status import environment_status
from dexops.workflows.workspace import Workspace


@dataclass(frozen=True, slots=True)
class Report:
    """The page and the figures it was made from."""

    html: str
    metrics: MetricsReport
    warnings: tuple[str, ...] = ()


def _assets() -> PageAssets:
    folder = files("dexops").joinpath("report_assets")
    return PageAssets(
        library_js=folder.joinpath("uPlot.iife.min.js").read_text(encoding="utf-8"),
        library_css=folder.joinpath("uPlot.min.css").read_text(encoding="utf-8"),
        report_js=folder.joinpath("report.js").read_text(encoding="utf-8"),
    )


def build_report(ws: Workspace, *, metrics: MetricsReport) -> Report:
    """The page for the repository, drawn from `metrics` (what `metrics --json` shows)."""
    status: list[dict[str, Any]] = []
    warnings: tuple[str, ...] = ()
    if ws.config.environments:
        try:
            read = environment_status(ws)
        except DexopsError as exc:
            # The figures come from local history; the live status needs origin (and maybe
            # Argo CD). A page without it still says why.
            warnings = (f"report: no environment status: {exc}",)
            status = [{"note": str(exc)}]
        else:
            status = [row.as_json() for row in read.rows]
            warnings = read.warnings
    data = {
        "environments": [env.name for env in ws.config.promotion_order()],
        "weekly": {env.environment: weekly_figures(env) for env in metrics.environments},
        "timeline": [asdict(e) for e in timeline(metrics.histories, metrics.window)],
        "releases": releases_data(metrics.components),
    }
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    since = time.strftime("%Y-%m-%d", time.gmtime(metrics.window.start))
    page = render_page(
        title=f"dexops report: {ws.root.name}",
        subtitle=f"{since} to now; generated {stamp}",
        status=status,
        metrics=metrics.as_json(),
        report=data,
        assets=_assets(),
    )
    return Report(page, metrics, warnings)


def write_report(ws: Workspace, path: Path, *, window_start: int, failure_window: int) -> Report:
    """Compute the metrics over the window, build the page and write it to `path`."""
    window = Window(window_start, int(time.time()))
    metrics = delivery_metrics(ws, window=window, failure_window=failure_window)
    report = build_report(ws, metrics=metrics)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.html, encoding="utf-8")
    return report

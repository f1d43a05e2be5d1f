"""The report as one self-contained HTML page: tables, embedded data, the inlined chart code."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dexops.domain.delivery_metrics import format_duration

CHART_IDS = (
    "chart-frequency",
    "chart-lead-time",
    "chart-failure-rate",
    "chart-restore",
    "chart-timeline",
    "chart-releases",
)
STATUS_HEADERS = ("environment", "branch", "tag", "digest", "since", "hold", "drift", "Argo CD")
METRIC_HEADERS = (
    "environment",
    "deployments",
    "per week",
    "lead time (median)",
    "change failure rate",
    "time to restore (median)",
)


@dataclass(frozen=True, slots=True)
class PageAssets:
    """The chart library and the page's own drawing code, inlined so nothing is fetched."""

    library_js: str
    library_css: str
    report_js: str


def _json_script(element_id: str, data: object) -> str:
    # `<` escaped: no `</script>` inside the data can end the element early.
    text = json.dumps(data, sort_keys=True).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _cell(value: object, raw: object = None) -> str:
    shown = "-" if value is None else str(value)
    attribute = "" if raw is None else f' data-value="{html.escape(json.dumps(raw))}"'
    return f"<td{attribute}>{html.escape(shown)}</td>"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _status_rows(status: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = []
    for s in status:
        if "note" in s:
            note = html.escape(f"status unavailable: {s['note']}")
            rows.append(f'<tr class="note"><td colspan="{len(STATUS_HEADERS)}">{note}</td></tr>')
            continue
        argo = " / ".join(v for v in (s.get("sync"), s.get("health")) if v) or None
        cells = [
            _cell(s["environment"]),
            _cell(s["branch"]),
            _cell(s.get("tag")),
            _cell((s.get("digest") or "")[:19] or None),
            _cell(s.get("deployed_at")),
            _cell(s.get("hold")),
            _cell(s.get("drift")),
            _cell(argo),
        ]
        rows.append(f'<tr data-env="{html.escape(s["environment"])}">{"".join(cells)}</tr>')
    return rows


def _metric_rows(metrics: Mapping[str, Any]) -> list[str]:
    rows = []
    for env in metrics["environments"]:
        lead = env["lead_time"]["median_seconds"]
        restore = env["time_to_restore"]["median_seconds"]
        rate = env["change_failure_rate"]
        cells = [
            _cell(env["environment"]),
            _cell(env["deployments"], env["deployments"]),
            _cell(f"{env['per_week']:.2f}", env["per_week"]),
            _cell(format_duration(lead), lead),
            _cell(None if rate is None else f"{rate:.0%}", rate),
            _cell(format_duration(restore), restore),
        ]
        rows.append(f'<tr data-env="{html.escape(env["environment"])}">{"".join(cells)}</tr>')
    return rows


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #111827; }
table { border-collapse: collapse; margin: 8px 0 24px; }
th, td { border: 1px solid #d1d5db; padding: 4px 10px; text-align: left; }
th { background: #f3f4f6; }
.chart { margin: 12px 0 28px; }
"""


def render_page(
    *,
    title: str,
    subtitle: str,
    status: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    report: Mapping[str, Any],
    assets: PageAssets,
) -> str:
    """The whole page; `metrics` is the `metrics --json` document, embedded as it is."""
    charts = "".join(f'<div class="chart" id="{chart}"></div>' for chart in CHART_IDS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{assets.library_css}</style>
<style>{_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(subtitle)}</p>
<h2>Environments</h2>
{_table("environments", STATUS_HEADERS, _status_rows(status))}
<h2>Delivery metrics</h2>
{_table("metrics", METRIC_HEADERS, _metric_rows(metrics))}
{charts}
{_json_script("dexops-metrics", metrics)}
{_json_script("dexops-report", report)}
<script>{assets.library_js}</script>
<script>{assets.report_js}</script>
</body>
</html>
"""

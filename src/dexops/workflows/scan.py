"""The scan gate: read a Trivy report (or run Trivy), apply the ignore file and thresholds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dexops.adapters import trivy
from dexops.adapters.trivy import DEFAULT_TIMEOUT
from dexops.domain.durations import seconds
from dexops.domain.imageref import ImageRef
from dexops.domain.vulnerabilities import (
    Assessment,
    IgnoreEntry,
    ScannerFailedError,
    assess,
    parse_ignores,
    parse_report,
)
from dexops.errors import ConfigError, DexopsError
from dexops.workflows.workspace import Workspace

DEFAULT_IGNORE_FILE = ".trivyignore.yaml"


def load_ignores(ws: Workspace, path: str | None) -> tuple[IgnoreEntry, ...]:
    """Ignore entries from `path`, or the repository's .trivyignore.yaml when present."""
    chosen = Path(path) if path else ws.root / DEFAULT_IGNORE_FILE
    if not chosen.is_absolute():
        chosen = (Path.cwd() / chosen) if path else chosen
    if not chosen.is_file():
        if path:
            raise ConfigError(f"ignore file {path} does not exist")
        return ()
    try:
        text = chosen.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"ignore file {chosen} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read ignore file {chosen}: {exc.strerror}") from None
    try:
        data = YAML(typ="safe").load(text)
    except (YAMLError, RecursionError) as exc:  # nested too deeply: one line too
        first = " ".join(str(exc).split())[:200]
        raise ConfigError(f"ignore file {chosen} is not valid YAML: {first}") from None
    return parse_ignores(data, source=str(chosen))


def check_artifact(report_artifact: str, ref: ImageRef, source: str) -> None:
    """Refuse a report written for another image (it says nothing about this one)."""
    if not report_artifact:
        return
    try:
        scanned = ImageRef.parse(report_artifact)
    except DexopsError:
        return  # a tarball or directory scan: nothing to compare
    if scanned.name != ref.name or (ref.tag and scanned.tag and scanned.tag != ref.tag):
        raise ScannerFailedError(f"{source} is a scan of {scanned}, not of {ref}")


def read_report(report: str) -> str:
    """The text of a report file; an unreadable or binary file is a scanner failure."""
    try:
        return Path(report).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScannerFailedError(f"report {report} is not UTF-8 text") from None
    except OSError as exc:
        raise ScannerFailedError(f"cannot read report {report}: {exc.strerror}") from None


def scan_image(
    ws: Workspace,
    ref: ImageRef,
    *,
    report: str | None,
    ignore_file: str | None,
    fail_on: str | None,
    warn_on: str | None,
    timeout: float = DEFAULT_TIMEOUT,
    today: dt.date | None = None,
    on_retry: Callable[[int, float], None] | None = None,
) -> Assessment:
    """Read `report` (or run Trivy) for `ref` and apply the ignore file and thresholds."""
    timeout = seconds(timeout, "--scan-timeout")
    ignores = load_ignores(ws, ignore_file)
    if report is not None:
        text, source = read_report(report), report
    else:
        text = trivy.run_trivy(ref, timeout=timeout, on_retry=on_retry)
        source = "trivy's report"
    parsed = parse_report(text, source=source)
    check_artifact(parsed.artifact, ref, source)
    return assess(
        parsed,
        ignores,
        today=today or dt.datetime.now(dt.UTC).date(),
        fail_on=fail_on,
        warn_on=warn_on,
    )

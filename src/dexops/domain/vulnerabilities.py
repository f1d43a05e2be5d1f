"""The vulnerability gate: Trivy JSON reports, ignore entries with expiry, severity counts.

Pure: takes text and dates, returns findings and a verdict. Reports follow Trivy's
documented JSON schema (`SchemaVersion: 2`, `Results[].Vulnerabilities[]`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dexops.errors import ConfigError, DexopsError, ExitCode

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
SUPPORTED_SCHEMA = 2


class VulnerableImageError(DexopsError):
    """The image has findings at or above the failing severity."""

    exit_code = ExitCode.VULNERABLE


class ScannerFailedError(DexopsError):
    """The scanner did not produce a usable report; the image is NOT known to be clean."""

    exit_code = ExitCode.SCANNER_FAILED


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one package of one scan target."""

    vulnerability_id: str
    severity: str
    package: str
    installed_version: str
    fixed_version: str
    target: str
    title: str = ""


@dataclass(frozen=True)
class Report:
    """What a Trivy report says: the artifact scanned and its findings."""

    artifact: str
    findings: tuple[Finding, ...]


def _require(condition: bool, source: str, problem: str) -> None:
    if not condition:
        raise ScannerFailedError(f"{source} is not a Trivy JSON report: {problem}")


def parse_report(text: str, *, source: str = "report") -> Report:
    """Parse a Trivy JSON report; anything unexpected is a scanner failure, never 'clean'."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # nested too deeply: one line too
        raise ScannerFailedError(f"{source} is not valid JSON: {exc}") from None
    _require(isinstance(data, dict), source, "the top level is not an object")
    schema = data.get("SchemaVersion")
    _require(
        schema == SUPPORTED_SCHEMA,
        source,
        f"SchemaVersion is {schema!r}, expected {SUPPORTED_SCHEMA}",
    )
    results = data.get("Results", [])  # Trivy omits Results when it found no packages at all
    _require(isinstance(results, list), source, "Results is not a list")
    findings: list[Finding] = []
    for result in results:
        _require(isinstance(result, dict), source, "a Results entry is not an object")
        target = str(result.get("Target", ""))
        vulnerabilities = result.get("Vulnerabilities") or []
        _require(isinstance(vulnerabilities, list), source, f"{target}: Vulnerabilities not a list")
        for vuln in vulnerabilities:
            findings.append(_finding(vuln, target, source))
    return Report(artifact=str(data.get("ArtifactName", "")), findings=tuple(findings))


def _finding(vuln: Any, target: str, source: str) -> Finding:  # noqa: ANN401 - parsed JSON
    _require(isinstance(vuln, dict), source, f"{target}: a vulnerability is not an object")
    vid = vuln.get("VulnerabilityID")
    _require(isinstance(vid, str) and bool(vid), source, f"{target}: VulnerabilityID missing")
    severity = str(vuln.get("Severity", "UNKNOWN")).upper()
    if severity not in SEVERITIES:
        severity = "UNKNOWN"
    return Finding(
        vulnerability_id=vid,
        severity=severity,
        package=str(vuln.get("PkgName", "")),
        installed_version=str(vuln.get("InstalledVersion", "")),
        fixed_version=str(vuln.get("FixedVersion", "")),
        target=target,
        title=str(vuln.get("Title", "")),
    )


@dataclass(frozen=True)
class IgnoreEntry:
    """An accepted finding: which id, until when, and why."""

    vulnerability_id: str
    expires: dt.date
    reason: str
    packages: tuple[str, ...] = ()

    def active(self, today: dt.date) -> bool:
        """Whether the entry still applies (it expires at the end of its date)."""
        return today <= self.expires

    def matches(self, finding: Finding) -> bool:
        """Whether this entry covers `finding` (all packages when none are listed)."""
        if finding.vulnerability_id != self.vulnerability_id:
            return False
        return not self.packages or finding.package in self.packages


def _date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise ConfigError(f"{where}: expired_at {value!r} is not a date (YYYY-MM-DD)")


def parse_ignores(data: object, *, source: str) -> tuple[IgnoreEntry, ...]:
    """Validate an ignore file's parsed YAML (Trivy's `.trivyignore.yaml` layout).

    Every entry needs `id`, `expired_at` and `statement` (the reason): an acceptance
    nobody explained, or one that never ends, is refused.
    """
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping with a 'vulnerabilities' list")
    unknown = set(data) - {"vulnerabilities", "misconfigurations", "secrets", "licenses"}
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    items = data.get("vulnerabilities") or []
    if not isinstance(items, list):
        raise ConfigError(f"{source}: 'vulnerabilities' must be a list")
    entries = []
    for index, item in enumerate(items):
        where = f"{source}: vulnerabilities[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a mapping")
        extra = set(item) - {"id", "expired_at", "statement", "paths", "purls", "packages"}
        if extra:
            raise ConfigError(f"{where} has unknown key(s) {', '.join(sorted(map(str, extra)))}")
        vid, reason = item.get("id"), item.get("statement")
        if not isinstance(vid, str) or not vid.strip():
            raise ConfigError(f"{where} needs an 'id' (e.g. CVE-2024-1234)")
        if "expired_at" not in item:
            raise ConfigError(f"{where} ({vid}) needs 'expired_at': ignores must expire")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where} ({vid}) needs a 'statement' giving the reason")
        packages = item.get("packages") or []
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise ConfigError(f"{where} ({vid}): 'packages' must be a list of package names")
        entries.append(
            IgnoreEntry(
                vid.strip(), _date(item["expired_at"], where), reason.strip(), tuple(packages)
            )
        )
    return tuple(entries)


@dataclass(frozen=True)
class SeverityCount:
    """One row of the summary: findings that count and findings ignored."""

    severity: str
    counted: int
    ignored: int


@dataclass(frozen=True)
class Assessment:
    """The findings split by the ignore list, and the verdict of the gate."""

    counted: tuple[Finding, ...]
    ignored: tuple[tuple[Finding, IgnoreEntry], ...]
    expired: tuple[IgnoreEntry, ...]
    fail_on: str | None
    warn_on: str | None

    def rows(self) -> list[SeverityCount]:
        """One row per severity, most severe first."""
        return [
            SeverityCount(
                severity,
                sum(1 for f in self.counted if f.severity == severity),
                sum(1 for f, _ in self.ignored if f.severity == severity),
            )
            for severity in SEVERITIES
        ]

    def at_or_above(self, threshold: str | None) -> tuple[Finding, ...]:
        """Counted findings at `threshold` severity or worse (none when threshold is None)."""
        if threshold is None:
            return ()
        return tuple(f for f in self.counted if _RANK[f.severity] >= _RANK[threshold])

    @property
    def failing(self) -> tuple[Finding, ...]:
        """Findings that block the image."""
        return self.at_or_above(self.fail_on)

    @property
    def warning(self) -> tuple[Finding, ...]:
        """Findings that warn but do not block."""
        failing = set(self.failing)
        return tuple(f for f in self.at_or_above(self.warn_on) if f not in failing)

    @property
    def verdict(self) -> str:
        """`fail`, `warn` or `pass`."""
        if self.failing:
            return "fail"
        return "warn" if self.warning else "pass"


def parse_threshold(value: str | None, flag: str) -> str | None:
    """A severity threshold from a flag: a severity name, or `none` to switch it off."""
    if value is None or value.strip().lower() in ("", "none", "off"):
        return None
    name = value.strip().upper()
    if name not in SEVERITIES:
        raise ConfigError(f"{flag} {value!r} is not one of {', '.join(SEVERITIES)} or none")
    return name


def assess(
    report: Report,
    ignores: Sequence[IgnoreEntry],
    *,
    today: dt.date,
    fail_on: str | None = "CRITICAL",
    warn_on: str | None = "HIGH",
) -> Assessment:
    """Apply active ignores to a report; expired entries no longer hide anything."""
    active = [entry for entry in ignores if entry.active(today)]
    counted: list[Finding] = []
    ignored: list[tuple[Finding, IgnoreEntry]] = []
    for finding in report.findings:
        entry = next((e for e in active if e.matches(finding)), None)
        if entry is None:
            counted.append(finding)
        else:
            ignored.append((finding, entry))
    seen = {f.vulnerability_id for f in report.findings}
    expired = tuple(e for e in ignores if not e.active(today) and e.vulnerability_id in seen)
    return Assessment(tuple(counted), tuple(ignored), expired, fail_on, warn_on)


def unique_ids(findings: Iterable[Finding]) -> list[str]:
    """Vulnerability ids in first-seen order, each once."""
    return list(dict.fromkeys(f.vulnerability_id for f in findings))


# Messages Trivy prints when it cannot fetch or open its vulnerability database.
DB_ERROR_MARKERS = (
    "failed to download vulnerability db",
    "db error",
    "failed to download artifact",
    "oci artifact error",
    "toomanyrequests",
    "failed to init db",
)


def is_db_download_error(stderr: str) -> bool:
    """Whether Trivy failed while fetching its database (worth a retry with backoff)."""
    text = stderr.lower()
    return any(marker in text for marker in DB_ERROR_MARKERS)

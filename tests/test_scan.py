from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest

from dexops.domain.vulnerabilities import (
    ScannerFailedError,
    assess,
    is_db_download_error,
    parse_ignores,
    parse_report,
    parse_threshold,
)
from dexops.errors import ConfigError, ExitCode
from tests.conftest import Cli
from tests.gitrepo import GitRepo

DATA = Path(__file__).parent / "data" / "trivy"
IMAGE = "ghcr.io/thedataenginex/dex:sha-0a1b2c3d"
TODAY = dt.date(2025, 6, 1)


def _report(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def test_parse_report_reads_trivys_schema() -> None:
    report = parse_report(_report("critical.json"))
    assert report.artifact == IMAGE
    assert [(f.vulnerability_id, f.severity, f.package) for f in report.findings] == [
        ("CVE-2024-0001", "CRITICAL", "openssl"),
        ("CVE-2024-0002", "HIGH", "libexpat1"),
        ("CVE-2024-0004", "LOW", "tar"),
        ("CVE-2024-0003", "MEDIUM", "requests"),
    ]
    assert report.findings[0].fixed_version == "3.0.13-1"
    assert parse_report(_report("clean.json")).findings == ()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '{"Results": []}',  # no SchemaVersion: not something Trivy wrote
        '{"SchemaVersion": 1, "Results": []}',
        '{"SchemaVersion": 2, "Results": {}}',
        '{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [{"Severity": 1}]}]}',
    ],
)
def test_a_broken_report_is_a_scanner_failure_never_clean(text: str) -> None:
    with pytest.raises(ScannerFailedError):
        parse_report(text)


def test_gate_verdicts() -> None:
    critical = parse_report(_report("critical.json"))
    high = parse_report(_report("high-only.json"))
    clean = parse_report(_report("clean.json"))
    assert assess(critical, (), today=TODAY).verdict == "fail"
    assert assess(high, (), today=TODAY).verdict == "warn"
    assert assess(clean, (), today=TODAY).verdict == "pass"
    assert assess(high, (), today=TODAY, fail_on="HIGH").verdict == "fail"
    assert assess(critical, (), today=TODAY, fail_on=None, warn_on=None).verdict == "pass"
    rows = {r.severity: r.counted for r in assess(critical, (), today=TODAY).rows()}
    assert rows == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 0}


def _ignores(expires: str, vid: str = "CVE-2024-0001") -> list[dict[str, object]]:
    return [
        {"id": vid, "expired_at": expires, "statement": "not reachable: no TLS server in the app"}
    ]


def test_active_ignore_hides_and_expired_ignore_counts_again() -> None:
    report = parse_report(_report("critical.json"))
    active = parse_ignores({"vulnerabilities": _ignores("2025-06-01")}, source="ignore")
    result = assess(report, active, today=TODAY)
    assert result.verdict == "warn"
    assert [f.vulnerability_id for f, _ in result.ignored] == ["CVE-2024-0001"]
    expired = parse_ignores({"vulnerabilities": _ignores("2025-05-31")}, source="ignore")
    result = assess(report, expired, today=TODAY)
    assert result.verdict == "fail"
    assert [e.vulnerability_id for e in result.expired] == ["CVE-2024-0001"]


def test_ignore_limited_to_packages() -> None:
    report = parse_report(_report("critical.json"))
    entry = {**_ignores("2030-01-01")[0], "packages": ["libssl3"]}
    result = assess(report, parse_ignores({"vulnerabilities": [entry]}, source="f"), today=TODAY)
    assert result.verdict == "fail"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"vulnerabilities": [{"id": "CVE-1", "statement": "why"}]}, "must expire"),
        ({"vulnerabilities": [{"id": "CVE-1", "expired_at": "2030-01-01"}]}, "reason"),
        ({"vulnerabilities": [{"expired_at": "2030-01-01", "statement": "x"}]}, "needs an 'id'"),
        ({"vulnerabilities": [{"id": "C", "expired_at": "soon", "statement": "x"}]}, "not a date"),
        (
            {
                "vulnerabilities": [
                    {"id": "C", "expired_at": "2030-01-01", "statement": "x", "until": 1}
                ]
            },
            "unknown",
        ),
        ({"vulns": []}, "unknown key"),
        ([], "mapping"),
    ],
)
def test_bad_ignore_files(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_ignores(data, source="ignore.yaml")


def test_thresholds() -> None:
    assert parse_threshold("critical", "--fail-on") == "CRITICAL"
    assert parse_threshold("none", "--fail-on") is None
    with pytest.raises(ConfigError, match="--warn-on 'SEVERE'"):
        parse_threshold("SEVERE", "--warn-on")


def test_db_download_errors_are_recognised() -> None:
    assert is_db_download_error(
        "FATAL init error: DB error: failed to download vulnerability DB: OCI repository error: "
        "TOOMANYREQUESTS"
    )
    assert not is_db_download_error("FATAL unable to find the specified image")


# --- image.scan ----------------------------------------------------------------------------


def _scan(cli: Cli, repo: GitRepo, *argv: str) -> tuple[int, str, str]:
    result = cli("image.scan", "sha-0a1b2c3d", *argv, cwd=repo.path)
    return result.code, result.out, result.err


def test_scan_critical_fails_with_the_vulnerable_exit_code(dex_repo: GitRepo, cli: Cli) -> None:
    code, out, err = _scan(cli, dex_repo, "--report", str(DATA / "critical.json"))
    assert code == ExitCode.VULNERABLE
    assert "CRITICAL  1" in out
    assert "CVE-2024-0001" in out
    assert err.splitlines()[-1] == (
        f"error: {IMAGE} has 1 vulnerability at CRITICAL or worse: CVE-2024-0001"
    )
    assert "warning: 1 HIGH+ vulnerability" in err


def test_scan_high_only_warns_and_passes(dex_repo: GitRepo, cli: Cli) -> None:
    code, out, err = _scan(cli, dex_repo, "--report", str(DATA / "high-only.json"))
    assert code == 0, err
    assert "scan gate: warn" in out
    assert "warning: 1 HIGH+ vulnerability" in err
    assert "CVE-2024-0002" in err
    code, _, _ = _scan(cli, dex_repo, "--report", str(DATA / "high-only.json"), "--fail-on", "HIGH")
    assert code == ExitCode.VULNERABLE


def test_scan_clean_passes_json(dex_repo: GitRepo, cli: Cli) -> None:
    code, out, _ = _scan(cli, dex_repo, "--report", str(DATA / "clean.json"), "--json")
    assert code == 0
    assert json.loads(out)["verdict"] == "pass"


def test_scan_report_errors_are_scanner_failures(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Results": []}')
    for report in (broken, tmp_path / "missing.json"):
        code, _, err = _scan(cli, dex_repo, "--report", str(report))
        assert code == ExitCode.SCANNER_FAILED
        assert err.startswith("error: ")
        assert err.count("\n") == 1


def test_scan_refuses_a_report_of_another_image(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli(
        "image.scan", "sha-99999999", "--report", str(DATA / "clean.json"), cwd=dex_repo.path
    )
    assert result.code == ExitCode.SCANNER_FAILED
    assert "is a scan of" in result.err


def test_scan_expired_ignore_counts_again(dex_repo: GitRepo, cli: Cli, tmp_path: Path) -> None:
    ignore = dex_repo.path / ".trivyignore.yaml"
    ignore.write_text(
        "vulnerabilities:\n"
        "  - id: CVE-2024-0001\n"
        "    expired_at: 2099-01-01\n"
        "    statement: the vulnerable TLS code path is not used by careerdex\n"
    )
    code, out, _ = _scan(cli, dex_repo, "--report", str(DATA / "critical.json"))
    assert code == 0
    assert "CRITICAL  0         1" in out
    ignore.write_text(ignore.read_text().replace("2099-01-01", "2020-01-01"))
    code, _, err = _scan(cli, dex_repo, "--report", str(DATA / "critical.json"))
    assert code == ExitCode.VULNERABLE
    assert "ignore of CVE-2024-0001 expired on 2020-01-01; it counts again" in err
    other = tmp_path / "other.yaml"
    other.write_text("vulnerabilities:\n  - id: CVE-2024-0001\n    expired_at: 2099-01-01\n")
    code, _, err = _scan(
        cli, dex_repo, "--report", str(DATA / "critical.json"), "--ignore-file", str(other)
    )
    assert code == 1
    assert "statement" in err


def _fake_trivy(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / "trivy"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _with_path(monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> None:
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr("dexops.adapters.trivy.RETRY_DELAYS", (0.0, 0.0))


def test_trivy_db_errors_are_retried_then_scanned(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = tmp_path / "count"
    report = DATA / "high-only.json"
    # Fails twice with a DB download error, then writes the report where --output says.
    _fake_trivy(
        tmp_path / "bin",
        f'echo x >> "{counter}"\n'
        f'if [ "$(wc -l < "{counter}")" -lt 3 ]; then\n'
        '  echo "FATAL init error: DB error: failed to download vulnerability DB" >&2; exit 1\n'
        "fi\n"
        'while [ "$1" != "--output" ]; do shift; done\n'
        f'cp "{report}" "$2"\n',
    )
    _with_path(monkeypatch, tmp_path / "bin")
    code, out, err = _scan(cli, dex_repo)
    assert code == 0, err
    assert "scan gate: warn" in out
    assert err.count("could not fetch its database") == 2
    assert counter.read_text().count("x") == 3


def test_trivy_that_keeps_failing_is_a_scanner_failure(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_trivy(
        tmp_path / "bin", 'echo "FATAL DB error: failed to download vulnerability DB" >&2\nexit 1\n'
    )
    _with_path(monkeypatch, tmp_path / "bin")
    code, _, err = _scan(cli, dex_repo)
    assert code == ExitCode.SCANNER_FAILED
    assert "trivy could not fetch its database after 3 attempt(s)" in err.splitlines()[-1]

    _fake_trivy(tmp_path / "bin", 'echo "FATAL unable to inspect the image" >&2\nexit 1\n')
    code, _, err = _scan(cli, dex_repo)
    assert code == ExitCode.SCANNER_FAILED
    assert err.splitlines()[-1].startswith("error: trivy failed after 1 attempt(s)")

    _fake_trivy(tmp_path / "bin", "exit 0\n")  # "success" without a report is not clean
    code, _, err = _scan(cli, dex_repo)
    assert code == ExitCode.SCANNER_FAILED


def test_no_trivy_and_no_report_is_one_line(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = _scan(cli, dex_repo)
    assert code == ExitCode.TOOL_MISSING
    assert err.startswith("error: trivy is not installed")
    assert err.count("\n") == 1


def test_trivy_that_hangs_is_stopped_by_the_scan_timeout(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_trivy(tmp_path / "bin", "exec sleep 30\n")
    _with_path(monkeypatch, tmp_path / "bin")
    code, _, err = _scan(cli, dex_repo, "--scan-timeout", "0.5")
    assert code == ExitCode.SCANNER_FAILED
    assert err.count("\n") == 1
    assert err.startswith("error: trivy's scan of "), err
    assert "did not finish within 0.5s (attempt 1; raise --scan-timeout)" in err, err
    assert "within 0.5s" in err
    code, _, err = _scan(cli, dex_repo, "--scan-timeout", "0")
    assert code == 1
    assert err == "error: --scan-timeout must be a finite positive number of seconds, not 0\n"


def test_a_binary_report_is_a_scanner_failure(dex_repo: GitRepo, cli: Cli, tmp_path: Path) -> None:
    binary = tmp_path / "report.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00")
    code, _, err = _scan(cli, dex_repo, "--report", str(binary))
    assert code == ExitCode.SCANNER_FAILED
    assert err == f"error: report {binary} is not UTF-8 text\n"


def test_a_binary_ignore_file_is_one_error_naming_it(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    binary = tmp_path / "ignore.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00")
    code, _, err = _scan(
        cli, dex_repo, "--report", str(DATA / "clean.json"), "--ignore-file", str(binary)
    )
    assert code == 1
    assert err == f"error: ignore file {binary} is not UTF-8 text\n"

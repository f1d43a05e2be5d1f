"""The Trivy adapter: run `trivy image` for a JSON report, with retries and a time limit."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dexops.adapters.registry import Credentials
from dexops.adapters.tool import run_tool
from dexops.domain.imageref import ImageRef
from dexops.domain.vulnerabilities import ScannerFailedError, is_db_download_error
from dexops.errors import ToolMissingError

RETRY_DELAYS = (5.0, 15.0, 30.0)
DEFAULT_TIMEOUT = 600.0  # seconds per attempt; a scan stuck on a pull must not hold CI forever


def _argv(trivy: str, output: Path, ref: ImageRef) -> list[str]:
    argv = [trivy, "image", "--format", "json", "--output", str(output), "--quiet"]
    argv += ["--scanners", "vuln"]
    if ref.is_loopback:
        argv.append("--insecure")
    argv.append(str(ref))
    return argv


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    credentials = Credentials.from_env()
    if credentials is not None:  # Trivy reads these; never put them on the command line
        env.update(TRIVY_USERNAME=credentials.username, TRIVY_PASSWORD=credentials.password)
    return env


def run_trivy(
    ref: ImageRef,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[int, float], None] | None = None,
) -> str:
    """Run Trivy on `ref` and return its JSON report; DB download errors are retried.

    Each attempt may take `timeout` seconds. Any other failure, a timeout, or retries
    running out is a ScannerFailedError: a scan that did not complete is never clean.
    `on_retry(attempt, delay)` is told before each pause.
    """
    trivy = shutil.which("trivy")
    if trivy is None:
        raise ToolMissingError(
            "trivy is not installed (https://trivy.dev/latest/getting-started/installation/); "
            "or pass --report with a report it wrote"
        )
    pause = sleep or time.sleep
    env = _environment()
    attempts = len(RETRY_DELAYS) + 1
    with tempfile.TemporaryDirectory(prefix="dexops-trivy-") as tmp:
        output = Path(tmp) / "report.json"
        argv = _argv(trivy, output, ref)
        for attempt in range(1, attempts + 1):
            done = run_tool(
                argv,
                what=f"trivy's scan of {ref}",
                hint=f" (attempt {attempt}; raise --scan-timeout)",
                timeout=timeout,
                error=ScannerFailedError,
                env=env,
            )
            if done.returncode == 0 and output.is_file():
                return _read_report(output)
            detail = " ".join(done.stderr.split())[-300:] or f"exit status {done.returncode}"
            if is_db_download_error(done.stderr) and attempt < attempts:
                delay = RETRY_DELAYS[attempt - 1]
                if on_retry is not None:
                    on_retry(attempt, delay)
                pause(delay)
                continue
            what = "could not fetch its database" if is_db_download_error(done.stderr) else "failed"
            raise ScannerFailedError(f"trivy {what} after {attempt} attempt(s): {detail}")
    raise ScannerFailedError("trivy did not run")  # pragma: no cover - the loop returns or raises


def _read_report(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ScannerFailedError("trivy wrote a report that is not readable UTF-8 text") from None

"""Supply-chain records of a release: file digests kept in the tag message, a CycloneDX SBOM.

The digest block is `sha256sum` output between two marker lines, so a person can check it
with `sha256sum -c` and dexops can parse it back out of an annotated (or signed) tag:

    --- dexops sha256 ---
    <64 hex>  dataenginex-0.4.11-py3-none-any.whl
    <64 hex>  dataenginex-0.4.11.tar.gz
    --- end dexops sha256 ---
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from email.parser import HeaderParser
from pathlib import Path

from dexops.adapters.tool import run_checked
from dexops.errors import DexopsError, PackageError

BLOCK_START = "--- dexops sha256 ---"
BLOCK_END = "--- end dexops sha256 ---"
SBOM_SUFFIX = ".cdx.json"
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
SBOM_TIMEOUT = 300.0

_LINE = re.compile(r"^(?P<digest>[0-9a-f]{64}) [ *](?P<name>[^/\\\s][^/\\]*)$")


class SupplyChainError(DexopsError):
    """A release record is missing or malformed, or released bytes do not match it."""


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_digests(paths: Iterable[Path]) -> dict[str, str]:
    """File name -> SHA-256 for each file, sorted by name; two files may not share a name."""
    digests: dict[str, str] = {}
    for path in sorted(paths, key=lambda p: p.name):
        if path.name in digests:
            raise PackageError(f"two built files are named {path.name}")
        digests[path.name] = file_sha256(path)
    return digests


def digest_block(digests: Mapping[str, str]) -> str:
    """The marked block recording `digests` (sorted by file name), ending with a newline."""
    lines = [BLOCK_START]
    for name in sorted(digests):
        if not _LINE.match(f"{digests[name]}  {name}"):
            raise PackageError(f"cannot record {name!r} with digest {digests[name]!r}")
        lines.append(f"{digests[name]}  {name}")
    lines.append(BLOCK_END)
    return "\n".join(lines) + "\n"


def sha256sums(digests: Mapping[str, str]) -> str:
    """The digests as a `SHA256SUMS` file (`sha256sum -c` reads it), sorted by file name."""
    return "".join(digest_block(digests).splitlines(keepends=True)[1:-1])


def neutralise(notes: str) -> str:
    """Release notes with every line that reads as a record marker indented, so it is text."""
    markers = {BLOCK_START, BLOCK_END}
    return "".join(
        f"  {line}" if line.strip() in markers else line for line in notes.splitlines(keepends=True)
    )


def with_digests(message: str, digests: Mapping[str, str]) -> str:
    """A tag message: the notes neutralised, then the digest block as its very end.

    The record has one place, the end of the message (before a signature), so notes that
    quote the markers can neither plant a record nor hide the real one.
    """
    base = neutralise(message).rstrip("\n")
    if not digests:
        return f"{base}\n" if base else ""
    return f"{base}\n\n{digest_block(digests)}" if base else digest_block(digests)


def _record_span(lines: list[str]) -> tuple[int, int] | None:
    """Where the trailing record lies: (start, end) line indexes, or None when there is none."""
    end = len(lines)
    # A signed tag's message ends with its signature; the record sits just before it.
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("-----BEGIN ") and lines[index].endswith(" SIGNATURE-----"):
            end = index
            break
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    if end == 0 or lines[end - 1] != BLOCK_END:
        return None
    for index in range(end - 2, -1, -1):
        if lines[index] == BLOCK_START:
            return index, end - 1
        if lines[index] == BLOCK_END:
            return None
    return None


def strip_digests(message: str) -> str:
    """The message without its trailing digest block."""
    lines = message.splitlines()
    span = _record_span(lines)
    if span is None:
        return message
    kept = lines[: span[0]] + lines[span[1] + 1 :]
    return "\n".join(kept).rstrip("\n") + "\n" if any(line.strip() for line in kept) else ""


def parse_digests(message: str) -> dict[str, str] | None:
    """The digests the message's trailing record holds; None when it has none.

    Only the block that ends the message counts; markers anywhere else are notes' text. A
    trailing block with a malformed line is an error.
    """
    lines = message.splitlines()
    span = _record_span(lines)
    if span is None:
        if any(line == BLOCK_START for line in lines) and BLOCK_END not in lines:
            raise SupplyChainError(f"the sha256 record is not closed by {BLOCK_END!r}")
        return None
    digests: dict[str, str] = {}
    for line in lines[span[0] + 1 : span[1]]:
        match = _LINE.match(line)
        if match is None or match.group("name") in digests:
            raise SupplyChainError(f"the sha256 record has a malformed line: {line!r}")
        digests[match.group("name")] = match.group("digest")
    return digests


# --- SBOM ---------------------------------------------------------------------------------


def wheel_metadata(wheel: Path) -> tuple[str, str, str, list[str]]:
    """Name, version, summary and unconditional Requires-Dist of a wheel's METADATA."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
            if name is None:
                raise PackageError(f"{wheel.name} has no .dist-info/METADATA")
            text = archive.read(name).decode("utf-8")
    except (OSError, zipfile.BadZipFile) as exc:
        raise PackageError(f"cannot read {wheel.name}: {exc}") from None
    headers = HeaderParser().parsestr(text, headersonly=True)
    requires = [
        str(r).strip()
        for r in headers.get_all("Requires-Dist") or []
        # Optional extras are not dependencies of the distribution as installed.
        if "extra ==" not in str(r).replace("extra==", "extra ==")
    ]
    return (
        str(headers.get("Name", "")).strip(),
        str(headers.get("Version", "")).strip(),
        str(headers.get("Summary", "") or "").strip(),
        requires,
    )


def sbom_command(requirements: Path, pyproject: Path, output: Path) -> list[str]:
    """The cyclonedx-py command that writes a CycloneDX JSON SBOM of the requirements."""
    return [
        sys.executable, "-m", "cyclonedx_py", "requirements",
        "--mc-type", "library",
        "--pyproject", str(pyproject),
        "--output-reproducible",
        # Schema validation costs ~9s of start-up per run; the tests validate the output instead.
        "--no-validate",
        "--output-format", "JSON",
        "--output-file", str(output),
        str(requirements),
    ]  # fmt: skip


def write_sbom(wheel: Path, output: Path) -> Path:
    """Write the CycloneDX SBOM of a wheel's declared dependencies; the wheel is the root."""
    name, version, summary, requires = wheel_metadata(wheel)
    with tempfile.TemporaryDirectory(prefix="dexops-sbom-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(f"{r}\n" for r in requires), encoding="utf-8")
        # A minimal PEP 621 file names the root component exactly as the wheel does.
        pyproject = Path(tmp) / "pyproject.toml"
        pyproject.write_text(
            f"[project]\nname = {_toml(name)}\nversion = {_toml(version)}\n"
            f"description = {_toml(summary)}\n",
            encoding="utf-8",
        )
        run_checked(
            sbom_command(requirements, pyproject, output),
            what=f"cyclonedx-py for {wheel.name}",
            timeout=SBOM_TIMEOUT,
            error=PackageError,
        )
    return output


def sbom_name(wheel: Path) -> str:
    """The file name of a wheel's SBOM: `<project>-<version>.cdx.json`."""
    name, version, _, _ = wheel_metadata(wheel)
    return f"{distribution_stem(name)}-{version}{SBOM_SUFFIX}"


def distribution_stem(project: str) -> str:
    """A project's name as distribution file names spell it (normalized, `_` for runs of -_.)."""
    return re.sub(r"[-_.]+", "_", project).lower()


def _toml(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'

"""Distribution files: names, digests, metadata and archive contents. Pure, no I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from dexops.errors import PackageError

DistKind = Literal["sdist", "wheel"]
FileStatus = Literal["upload", "present", "conflict"]

# What a published archive must not carry unless the component allows it: tests, caches,
# VCS metadata and editor debris. Patterns match any path segment sequence (see `_matches`).
# `.gitignore` is not stray: hatchling ships it on purpose so the sdist rebuilds the same files.
STRAY_PATTERNS: tuple[str, ...] = (
    "tests/**",
    "test/**",
    "testing/**",
    "conftest.py",
    "**/__pycache__/**",
    "*.pyc",
    "*.pyo",
    ".pytest_cache/**",
    ".mypy_cache/**",
    ".ruff_cache/**",
    ".hypothesis/**",
    ".tox/**",
    ".nox/**",
    ".venv/**",
    ".coverage",
    ".coverage.*",
    "htmlcov/**",
    ".git/**",
    ".gitattributes",
    ".gitmodules",
    ".hg/**",
    ".hgignore",
    ".svn/**",
    ".DS_Store",
    "*.swp",
    "*~",
    "*.orig",
    "*.rej",
)


@dataclass(frozen=True)
class DistName:
    """What a distribution file name says: project, version and kind."""

    project: str  # canonical (PEP 503) name
    version: Version
    kind: DistKind


def parse_dist_filename(filename: str) -> DistName:
    """Read an sdist (`.tar.gz`) or wheel file name, or raise `PackageError` naming it."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return DistName(str(name), version, "wheel")
        if filename.endswith(".tar.gz"):
            name, version = parse_sdist_filename(filename)
            return DistName(str(name), version, "sdist")
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise PackageError(f"{filename!r} is not a valid distribution file name: {exc}") from None
    raise PackageError(f"{filename!r} is neither a wheel (.whl) nor an sdist (.tar.gz)")


def dist_name_or_none(filename: str) -> DistName | None:
    """Like `parse_dist_filename`, but None for files that are not distributions."""
    try:
        return parse_dist_filename(filename)
    except PackageError:
        return None


def size_text(size: int) -> str:
    """A file size as a person reads it: bytes, KiB or MiB."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"


def sha256_hex(chunks: Iterable[bytes]) -> str:
    """The hex SHA-256 digest of a byte stream given in chunks."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class DistFile:
    """A built distribution file: its name, kind, size and digest."""

    filename: str
    kind: DistKind
    size: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "filename": self.filename,
            "kind": self.kind,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class IndexFile:
    """A file an index lists for a project, with its SHA-256 when known."""

    filename: str
    url: str
    sha256: str | None


# --- metadata -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreMetadata:
    """The fields of a METADATA / PKG-INFO file dexops checks."""

    name: str
    version: str
    metadata_version: str


def parse_core_metadata(text: str) -> CoreMetadata:
    """Read Name, Version and Metadata-Version from an RFC 822 METADATA/PKG-INFO text."""
    headers = HeaderParser().parsestr(text, headersonly=True)
    return CoreMetadata(
        name=str(headers.get("Name", "")).strip(),
        version=str(headers.get("Version", "")).strip(),
        metadata_version=str(headers.get("Metadata-Version", "")).strip(),
    )


def metadata_problems(
    metadata: CoreMetadata, *, name: str, version: Version, where: str
) -> list[str]:
    """How a METADATA file disagrees with the project's name and version (empty: agrees)."""
    problems = []
    if not metadata.name:
        problems.append(f"{where} has no Name")
    elif canonicalize_name(metadata.name) != canonicalize_name(name):
        problems.append(f"{where} names {metadata.name!r}, pyproject names {name!r}")
    if not metadata.version:
        problems.append(f"{where} has no Version")
    else:
        try:
            built = Version(metadata.version)
        except ValueError:
            problems.append(f"{where} version {metadata.version!r} is not PEP 440")
        else:
            if built != version:
                problems.append(f"{where} says version {built}, pyproject says {version}")
    return problems


# --- archive contents ---------------------------------------------------------------------


def _matches(path: str, pattern: str) -> bool:
    """Whether `path` matches `pattern` at the archive root or below any directory.

    `dir/**` matches everything inside a directory called `dir` at any depth; any other
    pattern is an fnmatch pattern tried against every trailing part of the path.
    """
    parts = PurePosixPath(path).parts
    pattern = pattern.removeprefix("**/")
    if pattern.endswith("/**"):
        directory = pattern.removesuffix("/**")
        return any(
            fnmatchcase("/".join(parts[start:end]), directory)
            for start in range(len(parts))
            for end in range(start + 1, len(parts))
        )
    return any(fnmatchcase("/".join(parts[start:]), pattern) for start in range(len(parts)))


def stray_files(
    names: Iterable[str],
    *,
    allow: Sequence[str] = (),
    patterns: Sequence[str] = STRAY_PATTERNS,
) -> list[str]:
    """Archive members that look like tests, caches or VCS files and are not allowed."""
    found = []
    for name in names:
        if any(_matches(name, pattern) for pattern in allow):
            continue
        if any(_matches(name, pattern) for pattern in patterns):
            found.append(name)
    return sorted(found)


def sdist_root(names: Iterable[str]) -> str | None:
    """The single top-level directory every sdist member lives in, or None."""
    roots = {PurePosixPath(name).parts[0] for name in names if name}
    return roots.pop() if len(roots) == 1 else None


def wheel_payload(names: Iterable[str]) -> list[str]:
    """Wheel members that are installed code or data (not the .dist-info metadata)."""
    return sorted(
        n
        for n in names
        if not PurePosixPath(n).parts[0].endswith(".dist-info") and not n.endswith("/")
    )


def importable_tops(names: Iterable[str]) -> list[str]:
    """Top-level modules or packages a wheel installs (what `import` can find)."""
    tops = set()
    for name in wheel_payload(names):
        parts = PurePosixPath(name).parts
        if parts[0].endswith(".data"):
            if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
                parts = parts[2:]
            else:
                continue
        if len(parts) == 1:
            if parts[0].endswith((".py", ".so", ".pyd")):
                tops.add(parts[0].split(".", 1)[0])
        elif parts[-1].endswith((".py", ".so", ".pyd", ".pyi")):
            tops.add(parts[0])
    return sorted(tops)


def wheel_problems(names: Sequence[str], *, dist_info: str, allow: Sequence[str]) -> list[str]:
    """What is wrong with a wheel's file list: missing metadata, no code, stray files."""
    problems = []
    have = set(names)
    for required in ("METADATA", "WHEEL", "RECORD"):
        if f"{dist_info}/{required}" not in have:
            problems.append(f"wheel lacks {dist_info}/{required}")
    if not importable_tops(names):
        problems.append("wheel installs no Python module or package")
    stray = stray_files(wheel_payload(names), allow=allow)
    if stray:
        problems.append(f"wheel holds stray files: {_shown(stray)}")
    return problems


def sdist_problems(
    names: Sequence[str], *, root: str, wheel_names: Sequence[str], allow: Sequence[str]
) -> list[str]:
    """What is wrong with an sdist's file list: layout, metadata, sources, stray files."""
    problems = []
    if sdist_root(names) != root:
        problems.append(f"sdist members do not all live under {root}/")
        return problems
    inside = [name.removeprefix(f"{root}/") for name in names if name.startswith(f"{root}/")]
    have = set(inside)
    for required in ("PKG-INFO", "pyproject.toml"):
        if required not in have:
            problems.append(f"sdist lacks {root}/{required}")
    # Every source file the wheel installs must come from the sdist (any source layout).
    sources = [
        n for n in wheel_payload(wheel_names) if not PurePosixPath(n).parts[0].endswith(".data")
    ]
    missing = [n for n in sources if n not in have and not any(m.endswith(f"/{n}") for m in inside)]
    if missing:
        problems.append(f"sdist lacks sources the wheel installs: {_shown(missing)}")
    stray = stray_files(inside, allow=allow)
    if stray:
        problems.append(f"sdist holds stray files: {_shown(stray)}")
    return problems


def _shown(items: Sequence[str], limit: int = 3) -> str:
    return ", ".join(items[:limit]) + (
        f" (+{len(items) - limit} more)" if len(items) > limit else ""
    )


# --- comparing a build with an index --------------------------------------------------------


@dataclass(frozen=True)
class FileComparison:
    """One built file against what an index holds under the same name."""

    file: DistFile
    status: FileStatus
    index_sha256: str | None = None


def compare_with_index(
    built: Sequence[DistFile], listed: Sequence[IndexFile]
) -> list[FileComparison]:
    """Match built files to an index's files by name; same name and digest means present."""
    by_name = {f.filename: f for f in listed}
    result = []
    for file in built:
        there = by_name.get(file.filename)
        if there is None:
            result.append(FileComparison(file, "upload"))
        elif there.sha256 == file.sha256:
            result.append(FileComparison(file, "present", there.sha256))
        else:
            result.append(FileComparison(file, "conflict", there.sha256))
    return result


def files_of_release(
    listed: Iterable[IndexFile], project: str, version: Version
) -> list[IndexFile]:
    """The listed files that are distributions of `project` at `version`."""
    wanted = canonicalize_name(project)
    found = []
    for file in listed:
        parsed = dist_name_or_none(file.filename)
        if parsed is not None and parsed.project == wanted and parsed.version == version:
            found.append(file)
    return found

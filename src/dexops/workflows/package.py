"""Package workflows: build a library's sdist and wheel in isolation, then check them."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from dexops.adapters.pyproject_file import read_version
from dexops.domain.config import Component
from dexops.domain.distributions import (
    DistFile,
    DistKind,
    metadata_problems,
    parse_core_metadata,
    parse_dist_filename,
    sdist_problems,
    sha256_hex,
    size_text,
    wheel_problems,
)
from dexops.errors import ConfigError, PackageError, ToolMissingError
from dexops.github_actions import markdown_table
from dexops.workflows.workspace import Workspace

BUILD_TIMEOUT = 900.0  # seconds; a build that hangs on a download must not hold CI forever
CHECK_TIMEOUT = 300.0
CHECKS = ("filename", "metadata", "files", "twine")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class BuiltDist:
    """One built file, what it holds, and the problems each check found."""

    path: Path
    file: DistFile
    members: tuple[str, ...]
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not any(self.problems.values())

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping with the file, its members and its checks."""
        return {
            **self.file.as_json(),
            "path": str(self.path),
            "members": list(self.members),
            "checks": {name: self.problems.get(name, []) for name in CHECKS},
        }


@dataclass(frozen=True)
class PackageReport:
    """The validated distributions of one library component."""

    component: str
    project: str
    version: Version
    outdir: Path
    dists: list[BuiltDist]

    @property
    def problems(self) -> list[str]:
        """Every problem found, each prefixed with its file."""
        return [
            f"{d.file.filename}: {problem}"
            for d in self.dists
            for name in CHECKS
            for problem in d.problems.get(name, [])
        ]

    @property
    def files(self) -> list[DistFile]:
        """The built files."""
        return [d.file for d in self.dists]

    def rows(self) -> list[list[object]]:
        """Rows of the summary table: file, kind, size, digest and one column per check."""
        return [
            [
                d.file.filename,
                d.file.kind,
                size_text(d.file.size),
                len(d.members),
                d.file.sha256[:12],
                *("ok" if not d.problems.get(name) else "FAILED" for name in CHECKS),
            ]
            for d in self.dists
        ]

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "component": self.component,
            "project": self.project,
            "version": str(self.version),
            "outdir": str(self.outdir),
            "ok": not self.problems,
            "problems": self.problems,
            "dists": [d.as_json() for d in self.dists],
        }


TABLE_HEADERS = ["file", "kind", "size", "members", "sha256", *CHECKS]


# --- sources --------------------------------------------------------------------------------


def stage_worktree(ws: Workspace, dest: Path) -> Path:
    """Copy what git would commit (tracked and unignored files) to `dest`; no caches ride along."""
    out = ws.git.run("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    dest.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(out.split("\0")) - {""}):
        source = ws.root / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


def stage_revision(ws: Workspace, commit: str, dest: Path) -> Path:
    """Extract the tree of `commit` to `dest` (file times = commit time, as git archive sets)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest.parent / f"{dest.name}.tar"
    ws.git.run("archive", "--format=tar", f"--output={archive}", commit)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    finally:
        archive.unlink(missing_ok=True)
    return dest


def project_name(source_root: Path, component: Component) -> str:
    """The `[project] name` of the component's pyproject in a staged tree."""
    file = source_root / component.pyproject
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{component.pyproject} does not exist") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # too deep: one line too
        raise ConfigError(f"{component.pyproject} is not valid TOML: {exc}") from None
    name = data.get("project", {}).get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{component.pyproject} has no [project] name")
    return name


# --- building -------------------------------------------------------------------------------


def require_uv() -> None:
    """Fail early when `build --installer=uv` would not find uv."""
    if shutil.which("uv") is None and importlib.util.find_spec("uv") is None:
        raise ToolMissingError("uv is not installed (pip install uv); build uses it as installer")


def build_command(project_dir: Path, outdir: Path, *, installer: str = "uv") -> list[str]:
    """The `python -m build` command: sdist, then the wheel built from that sdist."""
    return [
        sys.executable, "-m", "build", f"--installer={installer}",
        "--outdir", str(outdir), str(project_dir),
    ]  # fmt: skip


def build(
    project_dir: Path, outdir: Path, *, installer: str = "uv", source_date_epoch: int | None = None
) -> list[Path]:
    """Build into `outdir` (which must be empty) and return the sdist and wheel paths."""
    if installer == "uv":
        require_uv()
    outdir.mkdir(parents=True, exist_ok=True)
    # A wide "terminal": build wraps the output it echoes, and its error line is read back.
    env = {**os.environ, "COLUMNS": "400"}
    if source_date_epoch is not None:
        # Reproducible archives: the same tag builds the same bytes, which idempotency needs.
        env["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
    try:
        done = subprocess.run(
            build_command(project_dir, outdir, installer=installer),
            capture_output=True,
            text=True,
            env=env,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PackageError(f"build of {project_dir.name} took over {BUILD_TIMEOUT:.0f}s") from None
    if done.returncode != 0:
        raise PackageError(f"build of {project_dir.name} failed: {_build_failure(done)}")
    built = sorted(outdir.iterdir())
    sdists = [p for p in built if p.name.endswith(".tar.gz")]
    wheels = [p for p in built if p.name.endswith(".whl")]
    if len(sdists) != 1 or not wheels:
        shown = ", ".join(p.name for p in built) or "nothing"
        raise PackageError(
            f"build of {project_dir.name} made {shown}; expected an sdist and a wheel"
        )
    return [*sdists, *wheels]


def _build_failure(done: subprocess.CompletedProcess[str]) -> str:
    """The line that says why a build failed: the failing tool's own words first.

    `python -m build` echoes a failed command's output as `< ` lines, then ends with
    `ERROR Command [...] returned non-zero exit status N`, which only names a temporary
    folder; what uv or pyenv said (a missing interpreter, say) is the reason.
    """
    lines = [_ANSI.sub("", line).rstrip() for line in f"{done.stdout}\n{done.stderr}".splitlines()]
    said = _echoed(lines)
    lines = [line.strip() for line in lines if line.strip()]
    errors = [
        line for line in lines if line.startswith(("ERROR", "error:", "ValueError", "OSError"))
    ]
    if said and (not errors or "returned non-zero exit status" in errors[-1]):
        telling = [line for line in said if _TELLING.search(line)]
        return (telling or said)[-1]
    return (errors or lines or ["no output"])[-1]


# Words that make one of a tool's lines its reason rather than its progress.
_TELLING = re.compile(r"error|not installed|not found|no such|no interpreter|cannot|failed", re.I)


def _echoed(lines: list[str]) -> list[str]:
    """The output `build` echoed (`< ` lines, wrapped ones joined again), one entry a line."""
    said: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("< "):
            said.append(line[2:].strip())
            inside = True
        elif inside and line.startswith("  ") and said:
            # build wraps at the terminal's width, after a hyphen or instead of a space.
            joint = "" if said[-1].endswith("-") else " "
            said[-1] += joint + line.strip()
        else:
            inside = False
    return [line for line in said if line]


def twine_check(paths: Sequence[Path]) -> dict[str, list[str]]:
    """`twine check --strict` each file; problems by file name (empty lists when they pass)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "twine", "check", "--strict", *(p.name for p in paths)],
            # Short relative names and a wide console: rich wraps long lines, which would
            # split a file's name from its status.
            cwd=paths[0].parent,
            stdout=subprocess.PIPE,
            # One unbuffered stream keeps each warning right after the file it belongs to.
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "4000"},
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PackageError(f"twine check took over {CHECK_TIMEOUT:.0f}s") from None
    return parse_twine_check(done.stdout, [p.name for p in paths], done.returncode)


def parse_twine_check(output: str, names: Sequence[str], returncode: int) -> dict[str, list[str]]:
    """Problems per file from `twine check` output: its warnings, else its FAILED status."""
    messages: dict[str, list[str]] = {name: [] for name in names}
    failed: dict[str, str] = {}
    current: str | None = None
    for raw in output.splitlines():
        line = " ".join(_ANSI.sub("", raw).split())
        if line.startswith("Checking "):
            current = Path(line.removeprefix("Checking ").split(":", 1)[0]).name
            status = line.rsplit(":", 1)[-1].strip()
            if "FAILED" in status:
                failed[current] = status
        elif current is not None and line.startswith(("WARNING ", "ERROR ")):
            messages.setdefault(current, []).append(line.split(" ", 1)[1])
    problems = {name: (msgs if name in failed else []) for name, msgs in messages.items()}
    for name, status in failed.items():
        if not problems.get(name):
            problems[name] = [status]
    if returncode != 0 and not any(problems.values()):
        problems[names[0]] = [f"twine check exited {returncode}"]
    return problems


# --- checking -------------------------------------------------------------------------------


def _read_wheel(path: Path) -> tuple[list[str], str | None, str]:
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        infos = sorted(
            {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        )
        dist_info = infos[0] if len(infos) == 1 else ""
        metadata = f"{dist_info}/METADATA"
        text = wheel.read(metadata).decode("utf-8") if metadata in names else None
    return names, text, dist_info


def _read_sdist(path: Path, root: str) -> tuple[list[str], str | None]:
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        names = [m.name for m in members if m.isfile()]
        pkg_info = tar.extractfile(f"{root}/PKG-INFO") if f"{root}/PKG-INFO" in names else None
        text = pkg_info.read().decode("utf-8") if pkg_info is not None else None
    return names, text


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_hex(iter(lambda: handle.read(1 << 16), b""))


def check_dists(
    paths: Sequence[Path], *, name: str, version: Version, allow: Sequence[str]
) -> list[BuiltDist]:
    """Run every check on built files against the project's name and version."""
    twine = twine_check(paths)
    wheels = [p for p in paths if p.name.endswith(".whl")]
    wheel_members: list[str] = []
    result = []
    for path in sorted(paths, key=lambda p: (not p.name.endswith(".whl"), p.name)):
        problems: dict[str, list[str]] = {check: [] for check in CHECKS}
        kind: DistKind = "wheel" if path.name.endswith(".whl") else "sdist"
        parsed = parse_dist_filename(path.name)
        if parsed.project != canonicalize_name(name) or parsed.version != version:
            problems["filename"].append(f"file name says {parsed.project} {parsed.version}")
        stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
        if kind == "sdist" and path.name != f"{stem}.tar.gz":
            problems["filename"].append(f"sdist should be named {stem}.tar.gz (PEP 625)")
        if kind == "wheel":
            members, metadata, dist_info = _read_wheel(path)
            wheel_members = members
            problems["files"] += wheel_problems(members, dist_info=dist_info, allow=allow)
            where = f"{dist_info}/METADATA"
        else:
            root = path.name.removesuffix(".tar.gz")
            members, metadata = _read_sdist(path, root)
            problems["files"] += sdist_problems(
                members, root=root, wheel_names=wheel_members, allow=allow
            )
            where = f"{root}/PKG-INFO"
        if metadata is None:
            problems["metadata"].append(f"{where} is missing")
        else:
            problems["metadata"] += metadata_problems(
                parse_core_metadata(metadata), name=name, version=version, where=where
            )
        problems["twine"] += twine.get(path.name, [])
        file = DistFile(path.name, kind, path.stat().st_size, _digest(path))
        result.append(BuiltDist(path, file, tuple(sorted(members)), problems))
    if not wheels:
        raise PackageError("no wheel was built")
    return result


def package_component(
    ws: Workspace,
    component: Component,
    outdir: Path,
    *,
    commit: str | None = None,
    version: Version | None = None,
) -> PackageReport:
    """Build a library from the working tree (or from `commit`) into `outdir` and check it.

    The sources are staged in a scratch folder first, so neither the build nor its
    backend touches the working tree, and ignored caches never reach an archive.
    """
    if component.kind != "library":
        raise ConfigError(f"{component.name} is an {component.kind} component, not a library")
    scratch = Path(tempfile.mkdtemp(prefix=f"dexops-{component.name}-src-"))
    epoch: int | None = None
    try:
        if commit is None:
            source = stage_worktree(ws, scratch)
        else:
            source = stage_revision(ws, commit, scratch)
            epoch = int(ws.git.run("show", "-s", "--format=%ct", commit))
        name = project_name(source, component)
        if commit is not None:
            _require_same_project(ws, component, name, commit)
        declared = read_version(source, component)
        if version is not None and declared != version:
            raise PackageError(f"{component.pyproject} says {declared}, expected {version}")
        paths = build(source / component.path, outdir, source_date_epoch=epoch)
        dists = check_dists(paths, name=name, version=declared, allow=component.dist_allow)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return PackageReport(component.name, name, declared, outdir, dists)


def _require_same_project(ws: Workspace, component: Component, name: str, commit: str) -> None:
    """Refuse to build a revision whose project is not the component's (renamed since)."""
    current = project_name(ws.root, component)
    if canonicalize_name(name) != canonicalize_name(current):
        raise PackageError(
            f"{component.pyproject} at {commit[:12]} names the project {name!r}, not "
            f"{current!r} ({component.name}'s project): its files would be published under "
            "another name"
        )


ALL = "all"


def chosen_libraries(ws: Workspace, name: str) -> list[Component]:
    """The library named `name`, or every library for `all` (invoke has no optional positional)."""
    if name != ALL:
        return [ws.config.component(name)]
    libraries = ws.config.libraries()
    if not libraries:
        raise ConfigError(f"{ws.config.file}: no library component is configured")
    return libraries


def clear_previous_build(folder: Path) -> None:
    """Remove the distributions an earlier run left; refuse a folder holding anything else."""
    if not folder.is_dir():
        return
    entries = list(folder.iterdir())
    others = [p.name for p in entries if not p.name.endswith((".whl", ".tar.gz"))]
    if others:
        raise PackageError(f"{folder} holds other files ({', '.join(sorted(others)[:3])})")
    for entry in entries:
        entry.unlink()


def validate_libraries(ws: Workspace, name: str, out: Path | None) -> list[PackageReport]:
    """Build and check `name` (or `all` libraries) into `out/<component>/`, else a scratch folder.

    An earlier run's distributions in `out/<component>/` are replaced; other files stop it.
    """
    components = chosen_libraries(ws, name)
    reports = []
    with tempfile.TemporaryDirectory(prefix="dexops-package-") as scratch:
        for component in components:
            if out is not None:
                target = out.resolve() / component.name
                clear_previous_build(target)
            else:
                target = Path(scratch) / component.name
            reports.append(package_component(ws, component, target))
    return reports


def summary_markdown(report: PackageReport) -> str:
    """The report as a Markdown table for `$GITHUB_STEP_SUMMARY`."""
    title = f"### {report.component} {report.version}\n\n"
    lines = "".join(f"- {p}\n" for p in report.problems)
    return title + markdown_table(TABLE_HEADERS, report.rows()) + lines

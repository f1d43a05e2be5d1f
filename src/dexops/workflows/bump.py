"""Version bumps: every file that declares the version, edited together or not at all.

The component's version literal (its pyproject.toml, or the `version-file` of a dynamic
version), each of its `version-files` (a `__version__ = "..."` beside it), and the
component's entry in the workspace's `uv.lock` when there is one, so that `uv lock --check`
still passes. Line endings are kept: a CRLF file stays CRLF.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from packaging.utils import canonicalize_name
from packaging.version import Version

from dexops.adapters.git import signing_args
from dexops.adapters.pyproject_file import read_version, render_module_version, render_version
from dexops.adapters.textfile import inside, write_inside
from dexops.domain.config import Component
from dexops.domain.versioning import BumpPart, bump_version, parse_version, require_greater
from dexops.errors import ConfigError, VersionError, WorkInterruptedError
from dexops.workflows.package import project_name
from dexops.workflows.workspace import Workspace

LOCK_FILE = "uv.lock"


@dataclass(frozen=True, slots=True)
class FileEdit:
    """One file's text before and after a bump (paths relative to the root)."""

    file: str
    old_text: str
    new_text: str


@dataclass(frozen=True, slots=True)
class BumpPlan:
    """A version bump: from what, to what, every file it edits, and the edits as one diff."""

    component: str
    current: Version
    new: Version
    edits: tuple[FileEdit, ...]

    @property
    def files(self) -> list[str]:
        """The files the bump writes, the version's own file first."""
        return [edit.file for edit in self.edits]

    @property
    def diff(self) -> str:
        """A unified diff of every edit."""
        return "".join(
            "".join(
                difflib.unified_diff(
                    edit.old_text.splitlines(keepends=True),
                    edit.new_text.splitlines(keepends=True),
                    f"a/{edit.file}",
                    f"b/{edit.file}",
                )
            )
            for edit in self.edits
        )


def read_exact(path: Path) -> str:
    """A file's text with its line endings as they are (no newline translation)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def _lock_edit(ws: Workspace, component: Component, new: Version) -> FileEdit | None:
    """The component's `[[package]]` entry of `uv.lock` at the new version (None: no lock)."""
    lock = ws.root / LOCK_FILE
    if not lock.is_file():
        return None

    text = read_exact(lock)
    name = canonicalize_name(project_name(ws.root, component))
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{lock} is not valid TOML: {exc}") from None
    packages = document.get("package", [])
    # A workspace member is locked from its source tree (editable or virtual), never an index.
    found = [
        entry
        for entry in packages
        if canonicalize_name(str(entry.get("name", ""))) == name
        and isinstance(entry.get("source"), dict)
        and ("editable" in entry["source"] or "virtual" in entry["source"])
    ]
    if not found or "version" not in found[0]:
        return None  # not a member of this lock, or locked without a version (dynamic)
    found[0]["version"] = str(new)
    return FileEdit(LOCK_FILE, text, tomlkit.dumps(document))


def plan_bump(
    ws: Workspace, name: str, *, part: BumpPart | None = None, to: str | None = None
) -> BumpPlan:
    """Compute a bump without writing anything."""
    component = ws.config.component(name)
    if (part is None) == (to is None):
        raise VersionError("give exactly one of --part or --to")
    for relative in (component.pyproject, *component.version_files):
        inside(ws.root, ws.root / relative)  # a symlink out of the repository: refused first
    current = read_version(ws.root, component)
    new = parse_version(to) if to is not None else bump_version(current, part)  # type: ignore[arg-type]
    require_greater(current, new)
    location, new_text = render_version(ws.root, component, new)
    edits = [FileEdit(location.relative_to(ws.root).as_posix(), read_exact(location), new_text)]
    for extra in component.version_files:
        path = ws.root / extra
        old = read_exact(path)
        edits.append(FileEdit(extra, old, render_module_version(old, new, file=str(path))))
    lock = _lock_edit(ws, component, new)
    if lock is not None:
        edits.append(lock)
    return BumpPlan(name, current, new, tuple(edits))


def apply_bump(ws: Workspace, plan: BumpPlan) -> None:
    """Write every edited file; on any failure each file is restored as it was."""
    written: list[FileEdit] = []
    try:
        for edit in plan.edits:
            _write(ws, ws.root / edit.file, edit.new_text)
            written.append(edit)
    except BaseException:
        restore(ws, written)
        raise


def restore(ws: Workspace, edits: list[FileEdit]) -> None:
    """Put back the text each edited file had before the bump."""
    for edit in edits:
        _write(ws, ws.root / edit.file, edit.old_text)


def _write(ws: Workspace, path: Path, text: str) -> None:
    write_inside(ws.root, path, text)


def commit_bump(ws: Workspace, plan: BumpPlan) -> str:
    """Write and commit the bump alone; on failure every file is restored. Returns the commit."""
    ws.git.current_branch()
    dirty = set(ws.git.dirty_paths())
    for file in plan.files:
        if file in dirty:
            raise VersionError(f"{file} has uncommitted changes; commit or stash them first")
    apply_bump(ws, plan)
    try:
        message = f"chore: bump {plan.component} to {plan.new}"
        sign = signing_args(sign=ws.config.sign)
        ws.git.run("commit", "--quiet", *sign, "-m", message, "--", *plan.files)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: every file goes back first
        restore(ws, list(plan.edits))
        files = ", ".join(plan.files)
        raise WorkInterruptedError(
            f"{files} restored; {plan.component} was not bumped", signal=stop
        ) from None
    except BaseException:  # no file may stay bumped without a commit
        restore(ws, list(plan.edits))
        raise
    return ws.git.head()

"""Stand-ins for actions/upload-artifact and actions/download-artifact (v4 semantics)."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import shutil
from pathlib import Path

from tests.rehearsal.actionkit import ActionContext, ActionError, StandIn


def _search_root(pattern: str) -> str:
    """The part of a path pattern before its first wildcard."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if any(char in part for char in "*?["):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _collect(ctx: ActionContext) -> tuple[Path, list[Path]]:
    """The files a multi-line `path:` names (globs, directories, `!` exclusions) and their root."""
    include_hidden = ctx.flag("include-hidden-files", default=False)
    files: set[Path] = set()
    roots: list[Path] = []
    for raw in ctx.text("path").splitlines():
        line = raw.strip()
        if not line:
            continue
        exclude = line.startswith("!")
        pattern = str(ctx.workspace / Path(line.lstrip("!")).expanduser())
        found: set[Path] = set()
        for match in glob.glob(pattern, recursive=True, include_hidden=True):  # noqa: PTH207 - ** and absolute
            path = Path(match)
            found |= {p for p in path.rglob("*") if p.is_file()} if path.is_dir() else {path}
        if exclude:
            files -= found
            continue
        if any(char in line for char in "*?["):
            roots.append(Path(_search_root(pattern)))
        else:
            roots.append(Path(pattern) if Path(pattern).is_dir() else Path(pattern).parent)
        files |= {p for p in found if include_hidden or not _hidden(p, ctx.workspace)}
    if not roots:
        raise ActionError("Input required and not supplied: path")
    root = Path(os.path.commonpath([str(r) for r in roots]))
    return root, sorted(files)


def upload(ctx: ActionContext) -> None:
    """Copy the files into the run's artifact folder; an existing name fails unless overwrite."""
    name = ctx.text("name", "artifact")
    root, files = _collect(ctx)
    if not files:
        mode = ctx.text("if-no-files-found", "warn")
        message = (
            f"No files were found with the provided path: {ctx.text('path')}. "
            "No artifacts will be uploaded."
        )
        if mode == "error":
            raise ActionError(message)
        if mode not in ("warn", "ignore"):
            raise ActionError(f"Unrecognized if-no-files-found input: {mode}")
        ctx.log(("Warning: " if mode == "warn" else "") + message)
        return
    folder = ctx.artifacts.folder(int(ctx.github["run_id"]), name)
    if folder.exists():
        if not ctx.flag("overwrite", default=False):
            raise ActionError(
                "Failed to CreateArtifact: an artifact with this name already exists "
                f"on the workflow run: {name}"
            )
        shutil.rmtree(folder)
    digest = hashlib.sha256()
    for path in files:
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        digest.update(path.read_bytes())
        ctx.log(f"uploaded {path.relative_to(root)}")
    ctx.outputs.update(
        {
            "artifact-id": str(abs(hash((ctx.github["run_id"], name))) % 10**9),
            "artifact-url": f"https://github.com/{ctx.github['repository']}/actions/runs/{ctx.github['run_id']}/artifacts",
            "artifact-digest": digest.hexdigest(),
        }
    )


def download(ctx: ActionContext) -> None:
    """Copy artifacts of this run (or of `run-id`, with `github-token`) into `path`."""
    run_id = ctx.text("run-id")
    if run_id and not ctx.text("github-token"):
        raise ActionError("run-id is only used together with github-token")
    source_run = int(run_id) if run_id else int(ctx.github["run_id"])
    dest = ctx.workspace / Path(ctx.text("path", ".")).expanduser()
    name, pattern = ctx.text("name"), ctx.text("pattern")
    if name:
        folder = ctx.artifacts.folder(source_run, name)
        if not folder.is_dir():
            raise ActionError(
                f"Unable to download artifact(s): Artifact not found for name: {name}\n"
                "Please ensure that your artifact is not expired and the artifact was uploaded "
                "using a compatible version of toolkit/upload-artifact."
            )
        shutil.copytree(folder, dest, dirs_exist_ok=True)
        ctx.log(f"downloaded {name} to {dest}")
    else:
        names = [
            n for n in ctx.artifacts.names(source_run) if not pattern or fnmatch.fnmatch(n, pattern)
        ]
        merge = ctx.flag("merge-multiple", default=False)
        for each in names:
            target = dest if merge else dest / each
            shutil.copytree(ctx.artifacts.folder(source_run, each), target, dirs_exist_ok=True)
            ctx.log(f"downloaded {each} to {target}")
    ctx.outputs["download-path"] = str(dest)


UPLOAD_INPUTS = {
    "name", "path", "if-no-files-found", "retention-days", "compression-level", "overwrite",
    "include-hidden-files",
}  # fmt: skip
DOWNLOAD_INPUTS = {
    "name",
    "path",
    "pattern",
    "merge-multiple",
    "github-token",
    "repository",
    "run-id",
}

STAND_INS = {
    "actions/upload-artifact": StandIn(frozenset(UPLOAD_INPUTS), upload),
    "actions/download-artifact": StandIn(frozenset(DOWNLOAD_INPUTS), download),
}

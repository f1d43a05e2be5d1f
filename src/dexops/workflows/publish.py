"""Publishing a library release: which tag, whether it changed, where its files must go.

The plan is computed without uploading anything: tag, change detection, build and checks,
and each index's current files. Uploads happen only after every index was read and no
conflict was found, test index first, and each upload is verified by reading again.
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.version import Version

from dexops.adapters.package_index import (
    IndexClient,
    UploadProgress,
    credentials_for,
    missing_credentials_hint,
)
from dexops.adapters.pyproject_file import MissingVersionFileError, version_literal
from dexops.domain.config import Component, PackageIndex
from dexops.domain.distributions import compare_with_index
from dexops.domain.release_gate import release_refusal
from dexops.domain.versioning import ComponentTag, is_stable, parse_version
from dexops.errors import (
    ConfigError,
    ConflictError,
    ExitCode,
    GitError,
    PackageError,
    PackageIndexError,
    ReleaseRefusedError,
    Terminated,
)
from dexops.workflows.package import package_component
from dexops.workflows.reachable import latest_reachable
from dexops.workflows.supply_chain import recorded_digests
from dexops.workflows.workspace import Workspace

if TYPE_CHECKING:
    from dexops.domain.distributions import FileComparison
    from dexops.workflows.package import PackageReport

Decision = Literal["publish", "skip"]


class UploadInterruptedError(PackageIndexError):
    """An upload was interrupted (SIGINT); the message says which indexes have the files."""

    exit_code = ExitCode.INTERRUPTED


IndexAction = Literal["upload", "skip", "not-eligible"]


@dataclass(frozen=True)
class ResolvedTag:
    """The release tag being published and the commit it names."""

    name: str
    version: Version
    commit: str


@dataclass(frozen=True)
class Changes:
    """What changed under the component between the previous release tag and this one."""

    previous: str | None
    paths: list[str]

    @property
    def any(self) -> bool:
        """Whether there is something new to publish (always, without a previous tag)."""
        return self.previous is None or bool(self.paths)


@dataclass
class IndexTarget:
    """One index's part of the plan: whether it gets this release and which files."""

    index: PackageIndex
    action: IndexAction
    reason: str
    files: list[FileComparison] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    dist_dir: Path | None = None

    @property
    def to_upload(self) -> list[FileComparison]:
        """Built files the index does not have yet."""
        return [f for f in self.files if f.status == "upload"]

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping (URLs carry no credentials: config refuses them)."""
        return {
            "name": self.index.name,
            "role": self.index.role,
            "upload_url": self.index.upload_url,
            "simple_url": self.index.simple_url,
            "action": self.action,
            "reason": self.reason,
            "files": [
                {
                    "filename": f.file.filename,
                    "status": "uploaded" if f.file.filename in self.uploaded else f.status,
                    "sha256": f.file.sha256,
                }
                for f in self.files
            ],
            "dist_dir": str(self.dist_dir) if self.dist_dir else None,
        }


@dataclass
class PublishPlan:
    """The whole decision for one component and tag, as CI reads it with --json."""

    component: str
    decision: Decision
    reason: str
    tag: ResolvedTag | None = None
    changes: Changes | None = None
    report: PackageReport | None = None
    targets: list[IndexTarget] = field(default_factory=list)
    dry_run: bool = False
    build_only: bool = False

    @property
    def stable(self) -> bool | None:
        """Whether the version may reach the production index."""
        return None if self.tag is None else is_stable(self.tag.version)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        tag = self.tag
        return {
            "component": self.component,
            "decision": self.decision,
            "reason": self.reason,
            "tag": tag.name if tag else None,
            "version": str(tag.version) if tag else None,
            "commit": tag.commit if tag else None,
            "stable": self.stable,
            "previous_tag": self.changes.previous if self.changes else None,
            "changed": self.changes.paths if self.changes else [],
            "files": [f.as_json() for f in self.report.files] if self.report else [],
            "indexes": [t.as_json() for t in self.targets],
            "dry_run": self.dry_run,
            "build_only": self.build_only,
        }


# --- step 1: the tag --------------------------------------------------------------------------


def resolve_tag(
    ws: Workspace, component: Component, tag: str | None, refs: tuple[str, Mapping[str, str]]
) -> ResolvedTag | None:
    """The tag to publish: `tag`, else the component's highest tag at HEAD (None if none).

    `refs`: HEAD's commit and every tag's commit, as `Git.head_and_tags` reads them.
    """
    head, tags = refs
    if tag is None:
        at_head = [
            (parsed, commit)
            for name, commit in tags.items()
            if commit == head and (parsed := _parse_tag(component, name)) is not None
        ]
        if not at_head:
            return None
        (name, version), commit = max(at_head, key=lambda item: item[0][1])
        return ResolvedTag(name, version, commit)
    ws.git.check_ref_name(tag)
    parsed = _parse_tag(component, tag)
    if parsed is None:
        for other in ws.config.components.values():
            if other.name != component.name and _parse_tag(other, tag) is not None:
                raise ConfigError(f"tag {tag!r} belongs to {other.name}, not {component.name}")
        raise ConfigError(
            f"tag {tag!r} is not a {component.name} tag "
            f"(expected {component.tag_prefix}<PEP 440 version>)"
        )
    tagged = tags.get(tag)
    if tagged is None:
        raise GitError(f"tag {tag!r} does not exist in {ws.root} (git fetch --tags?)")
    return ResolvedTag(tag, parsed[1], tagged)


def _parse_tag(component: Component, name: str) -> tuple[str, Version] | None:
    parsed = ComponentTag.parse(component.tag_prefix, name)
    return None if parsed is None else (name, parsed.version)


def version_at(ws: Workspace, component: Component, commit: str) -> Version:
    """The component's version as its files say at `commit` (read from git objects)."""

    def label(path: str) -> str:
        return f"{path} at {commit[:12]}" if path == component.pyproject else path

    try:
        literal = version_literal(
            component, lambda path: ws.git.show_file(commit, path), label=label
        )
    except MissingVersionFileError as missing:
        raise ConfigError(f"{missing.path} at {commit[:12]} does not exist") from None
    return parse_version(literal)


def check_tag_version(ws: Workspace, component: Component, tag: ResolvedTag) -> None:
    """Refuse a tag whose version differs from the pyproject at the tagged commit."""
    declared = version_at(ws, component, tag.commit)
    if declared != tag.version:
        raise ConfigError(
            f"tag {tag.name} is version {tag.version} but {component.pyproject} at that tag "
            f"says {declared}"
        )


# --- step 2: change detection ---------------------------------------------------------------


def detect_changes(
    ws: Workspace, component: Component, tag: ResolvedTag, tags: Mapping[str, str]
) -> Changes:
    """Files under the component's paths changed since the previous release tag (PEP 440).

    The previous release is the highest of the component's tags reachable from the tag's
    commit; a higher tag on another line (a maintenance branch) is not it.
    `tags`: tag names mapped to their commits (every tag, or the component's).
    """
    prefix = component.tag_prefix
    previous = latest_reachable(ws.git, tag.commit, [prefix], tags, before=True)[prefix]
    if previous is None:
        return Changes(None, [])
    base = f"refs/tags/{previous.name}"
    return Changes(previous.name, ws.git.changed_paths(base, tag.commit, component.paths))


def require_release_gate(
    ws: Workspace, component: Component, tag: ResolvedTag, changes: Changes
) -> None:
    """Refuse a tag made off the release branches, or not above its line's latest release."""
    previous = ComponentTag.parse(component.tag_prefix, changes.previous or "")
    refusal = release_refusal(
        component.name,
        tag.version,
        branches=ws.git.branches_containing(tag.commit),
        patterns=ws.config.release_lines,
        latest=previous,
    )
    if refusal is not None:
        raise ReleaseRefusedError(f"{tag.name}: {refusal}")


# --- steps 4 and 5: indexes -------------------------------------------------------------------


def target_indexes(ws: Workspace, version: Version) -> list[tuple[PackageIndex, str | None]]:
    """Indexes in upload order, each with the reason it is left out (None: it takes part)."""
    test = ws.config.index_for("test")
    production = ws.config.index_for("production")
    chosen: list[tuple[PackageIndex, str | None]] = []
    if test is not None:
        chosen.append((test, None))
    if production is not None:
        left_out = (
            None
            if is_stable(version)
            else f"{version} is a pre-release; {production.name} takes stable versions only"
        )
        chosen.append((production, left_out))
    return chosen


# What a version on the index that dexops never recorded is: another tool published it.
ADOPTED = "published before adoption; not re-uploaded"


def read_target(
    client: IndexClient, report: PackageReport, left_out: str | None, *, recorded: bool = True
) -> IndexTarget:
    """Compare the build with what the index has for this version; refuse other bytes.

    `recorded`: whether the release tag records its files' sha256. Without a record, a
    version the index holds in files none of which is this build's was published by another
    tool before dexops was adopted: it is left as it is, never completed or replaced. (A
    file of this very build there is an earlier dexops run cut short: that one completes.)
    """
    index = client.index
    if left_out is not None:
        return IndexTarget(index, "not-eligible", left_out)
    listed = client.release_files(report.project, report.version)
    files = compare_with_index(report.files, listed)
    if listed and not recorded and not any(f.status == "present" for f in files):
        held = ", ".join(sorted(f.filename for f in listed))
        return IndexTarget(index, "skip", f"{ADOPTED} (the index holds {held})")
    conflicts = [f for f in files if f.status == "conflict"]
    if conflicts:
        first = conflicts[0]
        raise ConflictError(
            f"{index.name} already has {first.file.filename} with sha256 "
            f"{(first.index_sha256 or '?')[:16]}…, the build has {first.file.sha256[:16]}…; "
            "a published file is never replaced — release a new version"
        )
    extra = sorted({f.filename for f in listed} - {f.filename for f in report.files})
    missing = [f.file.filename for f in files if f.status == "upload"]
    if not missing:
        reason = "every file is already there with the same sha256"
        return IndexTarget(index, "skip", reason, files)
    reason = f"{len(missing)} of {len(files)} files missing"
    if extra:
        reason += f" (the index also has {', '.join(extra)})"
    return IndexTarget(index, "upload", reason, files)


def _verify(client: IndexClient, target: IndexTarget, report: PackageReport) -> None:
    listed = {f.filename: f.sha256 for f in client.release_files(report.project, report.version)}
    for comparison in target.files:
        name = comparison.file.filename
        if listed.get(name) != comparison.file.sha256:
            raise PackageIndexError(
                f"{target.index.name} does not list {name} with the uploaded sha256 after upload"
            )


# --- the whole run ----------------------------------------------------------------------------


def decide_publish(
    ws: Workspace,
    component: Component,
    tag: str | None,
    refs: tuple[str, Mapping[str, str]],
) -> PublishPlan:
    """Steps 1 and 2: the tag to publish and whether the library changed since the last one.

    A plan left at "skip" is final; one that passes is completed by `read_indexes`.
    `refs`: HEAD and every tag's commit (`pipeline.plan` adds the tag a release will make).
    """
    if component.kind != "library":
        raise ConfigError(
            f"{component.name} is an {component.kind} component; only libraries are published"
        )
    plan = PublishPlan(component.name, "skip", "")
    resolved = resolve_tag(ws, component, tag, refs)
    if resolved is None:
        plan.reason = f"HEAD has no {component.tag_prefix}<version> tag; nothing to publish"
        return plan
    plan.tag = resolved
    plan.changes = detect_changes(ws, component, resolved, refs[1])
    require_release_gate(ws, component, resolved, plan.changes)
    if not plan.changes.any:
        shown = ", ".join(component.paths)
        plan.reason = f"nothing under {shown} changed since {plan.changes.previous}"
        return plan
    check_tag_version(ws, component, resolved)
    return plan


def index_clients(
    ws: Workspace, version: Version, environ: dict[str, str] | None = None
) -> dict[str, IndexClient]:
    """A client for every index `version` goes to, with its credentials when it has them."""
    clients = {
        index.name: IndexClient(index, credentials=credentials_for(index, environ))
        for index, _ in target_indexes(ws, version)
    }
    if not clients:
        raise ConfigError(f"{ws.config.file}: no package index is configured")
    return clients


def read_indexes(
    ws: Workspace, plan: PublishPlan, clients: Mapping[str, IndexClient], dist: Path
) -> None:
    """Steps 3 to 5: build into `dist`, validate, then read every index (which files it lacks).

    Sets the plan's report and targets and makes it a "publish" plan; a conflict on any
    index raises before anything is uploaded.
    """
    resolved = plan.tag
    assert resolved is not None  # noqa: S101 - decide_publish resolved it
    component = ws.config.component(plan.component)
    report = package_component(
        ws, component, dist, commit=resolved.commit, version=resolved.version
    )
    plan.report = report
    if report.problems:
        more = f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise PackageError(f"{resolved.name} does not validate: {report.problems[0]}{more}")
    recorded = check_recorded_digests(ws, resolved.name, report)
    # Read every index before touching any: a conflict anywhere stops everything.
    for index, left_out in target_indexes(ws, resolved.version):
        plan.targets.append(read_target(clients[index.name], report, left_out, recorded=recorded))
    plan.decision = "publish"
    plan.reason = _reason(plan)


def read_indexes_unless_empty(
    ws: Workspace, plan: PublishPlan, clients: Mapping[str, IndexClient], dist: Path
) -> None:
    """`read_indexes`, skipping the build when no eligible index has a file of the version.

    An index without any file of the version takes every file, which is what `read_indexes`
    would find after building; only an index that has some needs the build's sha256.
    """
    resolved = plan.tag
    assert resolved is not None  # noqa: S101 - decide_publish resolved it
    component = ws.config.component(plan.component)
    text = ws.git.show_file(resolved.commit, component.pyproject) or ""
    project = tomllib.loads(text).get("project", {}).get("name")
    chosen = target_indexes(ws, resolved.version)
    if not isinstance(project, str) or any(
        clients[index.name].release_files(project, resolved.version)
        for index, left_out in chosen
        if left_out is None
    ):
        read_indexes(ws, plan, clients, dist)
        return
    plan.targets = [
        IndexTarget(index, "not-eligible", left_out)
        if left_out is not None
        else IndexTarget(index, "upload", f"no file of {resolved.version} yet")
        for index, left_out in chosen
    ]
    plan.decision = "publish"
    plan.reason = _reason(plan)


def plan_and_publish(
    ws: Workspace,
    name: str,
    *,
    tag: str | None = None,
    dry_run: bool = False,
    build_only: bool = False,
    out: Path | None = None,
    environ: dict[str, str] | None = None,
    on_progress: Callable[[UploadProgress], None] | None = None,
) -> PublishPlan:
    """Plan the publication of a library component's tag, then (unless told not to) do it.

    Re-running after success converges: files already on an index with the same sha256
    are skipped; a partial earlier upload is completed. With `build_only` the files each
    index lacks are left in `out/<index>/` for another uploader (trusted publishing).
    `on_progress` hears of each file's upload as it starts and as it ends.
    """
    component = ws.config.component(name)
    # HEAD and every tag, read once for the tag to publish and the release before it.
    plan = decide_publish(ws, component, tag, ws.git.head_and_tags())
    plan.dry_run, plan.build_only = dry_run, build_only
    if plan.tag is None or not plan.changes or not plan.changes.any:
        return plan
    clients = index_clients(ws, plan.tag.version, environ)
    with tempfile.TemporaryDirectory(prefix="dexops-publish-") as scratch:
        read_indexes(ws, plan, clients, Path(scratch) / "dist")
        assert plan.report is not None  # noqa: S101 - read_indexes built it
        if build_only:
            if not dry_run:
                _leave_for_uploader(plan, plan.report, out or ws.root / "dist" / component.name)
            return plan
        if dry_run:
            return plan
        _upload(plan, clients, plan.report, on_progress)
    return plan


def check_recorded_digests(ws: Workspace, tag: str, report: PackageReport) -> bool:
    """Refuse a build whose bytes differ from what the release tag recorded (if it did).

    Returns whether the tag records digests at all.
    """
    recorded = recorded_digests(ws, tag)
    if recorded is None:
        return False
    built = {f.filename: f.sha256 for f in report.files}
    differs = sorted(n for n in set(recorded) | set(built) if recorded.get(n) != built.get(n))
    if differs:
        raise ConflictError(
            f"the build of {tag} differs from the sha256 its tag records ({', '.join(differs)}); "
            "only the released bytes are published — was the build backend upgraded?"
        )
    return True


def _upload(
    plan: PublishPlan,
    clients: dict[str, IndexClient],
    report: PackageReport,
    on_progress: Callable[[UploadProgress], None] | None,
) -> None:
    """Upload in plan order; a failure says which indexes already have the files."""
    pending = [t for t in plan.targets if t.action == "upload"]
    for target in pending:
        if clients[target.index.name].credentials is None:
            raise PackageIndexError(
                f"no credentials for {target.index.name}: "
                f"{missing_credentials_hint(target.index)}; nothing was uploaded"
            )
    done: list[str] = []
    for target in pending:
        client = clients[target.index.name]
        files = [report.outdir / f.file.filename for f in target.to_upload]
        try:
            client.upload(files, on_progress=on_progress)
            target.uploaded = [f.name for f in files]
            _verify(client, target, report)
        except PackageIndexError as exc:
            if done:
                raise PackageIndexError(
                    f"{exc} ({', '.join(done)} already has the files; re-run to complete)"
                ) from None
            raise
        except KeyboardInterrupt as stop:
            # Ctrl-C or a cancelled job: say which indexes have the files, not only "stopped".
            have = f"{', '.join(done)} already has the files" if done else "no index has them yet"
            how = "terminated by SIGTERM" if isinstance(stop, Terminated) else "interrupted"
            interrupted = UploadInterruptedError(
                f"{how} during the upload to {target.index.name}; {have}; re-run to complete"
            )
            interrupted.exit_code = (
                ExitCode.TERMINATED if isinstance(stop, Terminated) else ExitCode.INTERRUPTED
            )
            raise interrupted from None
        done.append(target.index.name)


def _reason(plan: PublishPlan) -> str:
    assert plan.changes is not None  # noqa: S101 - set before any index is read
    since = (
        f"{len(plan.changes.paths)} files changed since {plan.changes.previous}"
        if plan.changes.previous
        else "first release of this component"
    )
    uploads = [t.index.name for t in plan.targets if t.action == "upload"]
    adopted = [t.index.name for t in plan.targets if t.reason.startswith(ADOPTED)]
    if adopted:
        since += f"; {', '.join(adopted)}: {ADOPTED}"
    if not uploads:
        return since if adopted else f"{since}; already published to every eligible index"
    return f"{since}; upload to {', '.join(uploads)}"


def _leave_for_uploader(plan: PublishPlan, report: PackageReport, out: Path) -> None:
    """Copy each index's missing files to `out/<index>/` (replacing what dexops left there)."""
    for target in plan.targets:
        folder = out / target.index.name
        shutil.rmtree(folder, ignore_errors=True)
        if target.action != "upload":
            continue
        folder.mkdir(parents=True)
        for comparison in target.to_upload:
            shutil.copy2(report.outdir / comparison.file.filename, folder)
        target.dist_dir = folder

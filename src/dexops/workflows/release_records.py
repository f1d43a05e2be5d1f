"""What a library release records: the built files' sha256 in its tag, an SBOM and SHA256SUMS.

A library's release builds its sdist and wheel from the commit being tagged, exactly as
`publish.<component>` will (the same staging, SOURCE_DATE_EPOCH = the commit's time), so the
digests the tag records are the bytes publish uploads; publish refuses other bytes.
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from dexops.adapters.sbom import (
    SBOM_MEDIA_TYPE,
    SBOM_SUFFIX,
    SupplyChainError,
    distribution_stem,
    sha256sums,
)
from dexops.domain.config import Component
from dexops.errors import ConfigError, ForgeError, PackageError
from dexops.workflows.package import package_component
from dexops.workflows.supply_chain import record_release, recorded_digests

if TYPE_CHECKING:
    from dexops.adapters.github import GitHub, Release
    from dexops.workflows.release import ReleasePlan
    from dexops.workflows.workspace import Workspace

SUMS_ASSET = "SHA256SUMS"
SUMS_MEDIA_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class RecordPlan:
    """What one library release would record and attach; computed without building."""

    component: str
    tag: str
    commit: str
    project: str
    version: Version
    build: bool
    files: tuple[str, ...]  # the sdist's name and the wheel's name pattern
    assets: tuple[str, ...]  # what would be attached to the GitHub release
    reason: str

    @property
    def sbom_name(self) -> str:
        """The SBOM asset's name: `<project>-<version>.cdx.json`."""
        return f"{distribution_stem(self.project)}-{self.version}{SBOM_SUFFIX}"

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "build": self.build,
            "files": list(self.files),
            "assets": list(self.assets),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class LibraryRecord:
    """The built files' digests and the SBOM of one library release."""

    digests: dict[str, str]
    sbom_name: str
    sbom: bytes | None

    def assets(self) -> list[tuple[str, bytes, str]]:
        """(name, bytes, media type) of each file to attach to the GitHub release."""
        found = [(SUMS_ASSET, sha256sums(self.digests).encode("utf-8"), SUMS_MEDIA_TYPE)]
        if self.sbom is not None:
            found.insert(0, (self.sbom_name, self.sbom, SBOM_MEDIA_TYPE))
        return found


def project_at(ws: Workspace, component: Component, commit: str) -> str:
    """The `[project] name` of a component's pyproject at `commit` (read from git objects)."""
    where = f"{component.pyproject} at {commit[:12]}"
    text = ws.git.show_file(commit, component.pyproject)
    if text is None:
        raise ConfigError(f"{where} does not exist")
    try:
        name = tomllib.loads(text).get("project", {}).get("name")
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # too deep: one line too
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where} has no [project] name")
    return name


def plan_record(
    ws: Workspace,
    *,
    component: Component,
    tag: str,
    commit: str,
    version: Version,
    create_tag: bool,
    forge: GitHub | None,
    attached: tuple[str, ...] | None,
) -> RecordPlan | None:
    """Whether a release builds and what it attaches; None for apps (they build no files).

    `attached` names the assets the GitHub release already has (None: no release yet, or
    not asked, as in a dry run). A new tag always builds: it records the digests. An
    existing tag builds again only to attach what its GitHub release lacks.
    """
    if component.kind != "library":
        return None
    project = project_at(ws, component, commit)
    stem = f"{distribution_stem(project)}-{version}"
    files = (f"{stem}.tar.gz", f"{stem}-*.whl")
    wanted = (f"{stem}{SBOM_SUFFIX}", SUMS_ASSET)
    assets = () if forge is None else tuple(a for a in wanted if a not in (attached or ()))
    if create_tag:
        build, reason = True, "the new tag records the sha256 of every built file"
    elif assets:
        build, reason = True, f"the GitHub release lacks {', '.join(assets)}"
    elif forge is None:
        build, reason = False, "the tag exists; no GitHub release to attach files to"
    else:
        build, reason = False, "the tag exists and its GitHub release has every record"
    return RecordPlan(component.name, tag, commit, project, version, build, files, assets, reason)


def build_record(ws: Workspace, plan: RecordPlan, *, with_sbom: bool) -> LibraryRecord:
    """Build the library at the plan's commit in a temporary folder, check it, digest it.

    The files are built as `publish` builds them; a build or validation failure raises
    before anything is tagged. When the tag already exists and records digests, the
    rebuilt bytes must be the recorded ones.
    """
    component = ws.config.component(plan.component)
    scratch = Path(tempfile.mkdtemp(prefix=f"dexops-release-{component.name}-"))
    try:
        report = package_component(
            ws, component, scratch / "dist", commit=plan.commit, version=plan.version
        )
        if report.problems:
            more = f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
            raise PackageError(
                f"{component.name} {plan.version} does not validate: {report.problems[0]}{more}"
            )
        record = record_release(
            [d.path for d in report.dists], scratch / "sbom", with_sbom=with_sbom
        )
        sbom = record.sbom.read_bytes() if record.sbom is not None else None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    digests = dict(record.digests)
    if ws.git.tag_commit(plan.tag) is not None:
        recorded = recorded_digests(ws, plan.tag)
        if recorded is not None and recorded != digests:
            differs = sorted(
                n for n in set(recorded) | set(digests) if recorded.get(n) != digests.get(n)
            )
            raise SupplyChainError(
                f"rebuilding {plan.tag} does not reproduce the bytes its tag records "
                f"({', '.join(differs)}); not attaching records"
            )
    return LibraryRecord(digests, plan.sbom_name, sbom)


def attach(forge: GitHub, release: Release, record: LibraryRecord) -> tuple[list[str], list[str]]:
    """Upload the record's assets the release lacks: (uploaded, already there)."""
    uploaded: list[str] = []
    present: list[str] = []
    for name, data, media_type in record.assets():
        if name in release.assets:
            present.append(name)
            continue
        try:
            created = forge.upload_release_asset(release, name, data, media_type)
        except ForgeError as exc:
            done = f" (attached before it: {', '.join(uploaded)})" if uploaded else ""
            raise ForgeError(
                f"the GitHub release {release.tag} exists, but attaching {name} failed: "
                f"{exc}{done}; re-run to retry"
            ) from None
        (uploaded if created else present).append(name)
    return uploaded, present


def record_plans(
    ws: Workspace,
    plans: Sequence[ReleasePlan],
    forge: GitHub | None,
    existing: Mapping[str, Release | None] | None = None,
) -> dict[str, RecordPlan]:
    """What each library release builds and attaches (`existing`: None in a dry run)."""
    found = {}
    for plan in plans:
        release = (existing or {}).get(plan.tag)
        record = plan_record(
            ws,
            component=ws.config.component(plan.component),
            tag=plan.tag,
            commit=plan.commit,
            version=plan.version,
            create_tag=plan.create_tag,
            forge=forge,
            attached=release.assets if release is not None else None,
        )
        if record is not None:
            found[plan.tag] = record
    return found


def build_records(ws: Workspace, records: Mapping[str, RecordPlan]) -> dict[str, LibraryRecord]:
    """Build every library that needs it, before any tag exists (a failure leaves nothing)."""
    built = {}
    for tag, record in records.items():
        if record.build:
            built[tag] = build_record(ws, record, with_sbom=record.sbom_name in record.assets)
    return built

"""Release records: build them (digests, SBOM) and verify released bytes against them."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.version import Version

from dexops.adapters.package_index import IndexClient, credentials_for
from dexops.adapters.sbom import (
    SupplyChainError,
    file_digests,
    parse_digests,
    sbom_name,
    write_sbom,
)
from dexops.domain.config import Component, PackageIndex
from dexops.domain.distributions import IndexFile, files_of_release
from dexops.domain.versioning import ComponentTag
from dexops.errors import ConfigError, GitError
from dexops.workflows.package import project_name, stage_revision
from dexops.workflows.workspace import Workspace

CheckStatus = Literal["ok", "differs", "missing", "unrecorded"]
SIGNATURE_MARKERS = ("-----BEGIN PGP SIGNATURE-----", "-----BEGIN SSH SIGNATURE-----",
                     "-----BEGIN SIGNED MESSAGE-----")  # fmt: skip


@dataclass(frozen=True)
class ReleaseRecord:
    """What a library release records: the built files' digests and the SBOM's path."""

    digests: Mapping[str, str]
    sbom: Path | None


def record_release(
    files: Sequence[Path], sbom_dir: Path, *, with_sbom: bool = True
) -> ReleaseRecord:
    """Digests of the built files and, for the wheel, a CycloneDX SBOM written in `sbom_dir`."""
    digests = file_digests(files)
    wheels = [f for f in files if f.name.endswith(".whl")]
    sbom = None
    if wheels and with_sbom:
        sbom_dir.mkdir(parents=True, exist_ok=True)
        sbom = write_sbom(wheels[0], sbom_dir / sbom_name(wheels[0]))
    return ReleaseRecord(digests, sbom)


@dataclass(frozen=True)
class FileCheck:
    """One released file: what the tag records, what the index lists and serves."""

    filename: str
    recorded: str | None
    listed: str | None
    served: str | None

    @property
    def status(self) -> CheckStatus:
        """ok: served bytes are the recorded ones; otherwise what went wrong."""
        if self.recorded is None:
            return "unrecorded"
        if self.served is None:
            return "missing"
        if self.served != self.recorded or self.listed not in (None, self.recorded):
            return "differs"
        return "ok"


@dataclass(frozen=True)
class ReleaseVerification:
    """The outcome of `verify.release`."""

    tag: str
    component: str
    version: str
    index: str
    signature: Literal["good", "unsigned"]
    files: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        """Whether every recorded file is on the index with the recorded bytes, and no other."""
        return all(f.status == "ok" for f in self.files)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready report."""
        return {
            "tag": self.tag,
            "component": self.component,
            "version": self.version,
            "index": self.index,
            "signature": self.signature,
            "ok": self.ok,
            "files": [
                {
                    "filename": f.filename,
                    "status": f.status,
                    "recorded_sha256": f.recorded,
                    "listed_sha256": f.listed,
                    "served_sha256": f.served,
                }
                for f in self.files
            ],
        }


def _component_of(ws: Workspace, tag: str) -> tuple[Component, Version]:
    for component in ws.config.components.values():
        parsed = ComponentTag.parse(component.tag_prefix, tag)
        if parsed is not None:
            if component.kind != "library":
                raise ConfigError(f"{tag} is a release of app {component.name}; no index holds it")
            return component, parsed.version
    raise ConfigError(f"{tag!r} is not a release tag of any configured component")


def _index(ws: Workspace, version: Version, name: str | None) -> PackageIndex:
    if name is not None:
        for index in ws.config.indexes:
            if index.name == name:
                return index
        known = ", ".join(i.name for i in ws.config.indexes)
        raise ConfigError(f"unknown index {name!r} (configured: {known})")
    stable = not (version.is_prerelease or version.is_devrelease or version.local)
    chosen = ws.config.index_for("production" if stable else "test")
    if chosen is None:
        raise ConfigError(f"no index is configured for {version}; pass --index")
    return chosen


def tag_message(ws: Workspace, tag: str) -> str:
    """The message of an annotated tag (its signature included); an error for other tags."""
    ws.git.check_ref_name(tag)
    ref = f"refs/tags/{tag}"
    kind = ws.git.call("cat-file", "-t", ref)
    if kind.code != 0:
        raise GitError(f"tag {tag} does not exist here; run git fetch --tags")
    if kind.stdout.strip() != "tag":
        raise SupplyChainError(f"{tag} is a lightweight tag: it records no digests")
    raw = ws.git.run("cat-file", "tag", ref)
    _, _, message = raw.partition("\n\n")
    return message


def recorded_digests(ws: Workspace, tag: str) -> dict[str, str] | None:
    """The digests an annotated tag records; None for a lightweight tag or one without them."""
    ws.git.check_ref_name(tag)
    kind = ws.git.call("cat-file", "-t", f"refs/tags/{tag}")
    if kind.code != 0 or kind.stdout.strip() != "tag":
        return None
    return parse_digests(tag_message(ws, tag))


def verify_release(
    ws: Workspace, tag: str, *, index_name: str | None = None
) -> ReleaseVerification:
    """Check the index serves exactly the files, byte for byte, the tag recorded."""
    component, version = _component_of(ws, tag)
    message = tag_message(ws, tag)
    recorded = parse_digests(message)
    if recorded is None:
        raise SupplyChainError(f"{tag} records no sha256 digests of released files")
    signature: Literal["good", "unsigned"] = "unsigned"
    if any(marker in message for marker in SIGNATURE_MARKERS):
        done = ws.git.call("tag", "-v", tag)
        if done.code != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise SupplyChainError(
                f"the signature of {tag} does not verify: {lines[-1] if lines else done.code}"
            )
        signature = "good"
    with tempfile.TemporaryDirectory(prefix="dexops-verify-") as tmp:
        tree = stage_revision(ws, f"refs/tags/{tag}", Path(tmp) / "src")
        project = project_name(tree, component)
    index = _index(ws, version, index_name)
    client = IndexClient(index, credentials=credentials_for(index))
    listed = files_of_release(client.project_files(project), project, version)
    by_name = {f.filename: f for f in listed}
    checks = []
    for filename in sorted(set(recorded) | set(by_name)):
        there = by_name.get(filename)
        served = (
            client.digest_of(IndexFile(there.filename, there.url, None))
            if there is not None
            else None
        )
        checks.append(
            FileCheck(filename, recorded.get(filename), there.sha256 if there else None, served)
        )
    return ReleaseVerification(
        tag, component.name, str(version), index.name, signature, tuple(checks)
    )

"""`verify.release`: the files on the index are the bytes the release tag recorded."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task


@task(
    read_only=True,
    positional=["tag"],
    help={
        "index": "index name to check (default: production for stable versions, else test)",
        "json": "print a JSON report",
        "repo": "target repository root",
    },
)
def release(
    c: Context, tag: str, index: str | None = None, json: bool = False, repo: str | None = None
) -> None:
    """Check TAG's signature (when signed) and that the index serves exactly its recorded bytes."""
    from dexops import console
    from dexops.adapters.sbom import SupplyChainError
    from dexops.workflows.supply_chain import verify_release
    from dexops.workflows.workspace import Workspace

    result = verify_release(Workspace.open(repo), tag, index_name=index)
    if json:
        console.emit_json(result.as_json())
    else:
        console.say(
            f"{result.tag}: {result.component} {result.version} on {result.index}, "
            f"signature {result.signature}"
        )
        console.table(
            ["file", "status", "recorded sha256", "served sha256"],
            [[f.filename, f.status, f.recorded or "-", f.served or "-"] for f in result.files],
        )
    if not result.ok:
        bad = ", ".join(f"{f.filename} {f.status}" for f in result.files if f.status != "ok")
        raise SupplyChainError(f"{result.tag} does not match {result.index}: {bad}")


def collection() -> Collection:
    """The `verify` collection."""
    return Collection("verify", release)

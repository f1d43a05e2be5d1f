"""`demo`: the whole pipeline on the example monorepo, in a local sandbox."""

from __future__ import annotations

from invoke.context import Context

from dexops.tasks._edge import task


@task(
    help={
        "keep": "leave the sandbox (repository, origin, index and registry data) for inspection",
        "workdir": "create the sandbox under this directory instead of the system temp dir",
    }
)
def demo(c: Context, keep: bool = False, workdir: str | None = None) -> None:
    """Run the example monorepo's whole pipeline locally: release, publish, build, deploy."""
    from pathlib import Path

    from dexops.demo.pipeline import run_demo

    run_demo(keep=keep, workdir=Path(workdir) if workdir else None)

"""`package.*` tasks: build and validate library distributions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task

if TYPE_CHECKING:
    from pathlib import Path


@task(
    help={
        "component": "library component to validate, or `all` for every library",
        "out": "keep the built files in this folder (default: a temporary one, removed)",
        "json": "print the report as JSON",
        "repo": "target repository root",
    }
)
def validate(
    c: Context,
    component: str,
    out: str | None = None,
    json: bool = False,
    repo: str | None = None,
) -> None:
    """Build COMPONENT's sdist and wheel with uv, then twine check, metadata and file lists."""
    import tempfile
    from pathlib import Path

    from dexops import actions, console
    from dexops.errors import ConfigError, PackageError
    from dexops.workflows.package import TABLE_HEADERS, package_component, summary_markdown
    from dexops.workspace import Workspace

    ws = Workspace.open(repo)
    # invoke has no optional positionals; `all` names every library, as in `release.all`.
    components = ws.config.libraries() if component == "all" else [ws.config.component(component)]
    if not components:
        raise ConfigError(f"{ws.config.file}: no library component is configured")
    reports = []
    with tempfile.TemporaryDirectory(prefix="dexops-package-") as scratch:
        for comp in components:
            if out is not None:
                target = Path(out).resolve() / comp.name
                _clear_previous_build(target)
            else:
                target = Path(scratch) / comp.name
            reports.append(package_component(ws, comp, target))
    problems = [f"{r.component}: {p}" for r in reports for p in r.problems]
    for report in reports:
        actions.add_summary(summary_markdown(report))
    actions.set_output("ok", "false" if problems else "true")
    if json:
        console.emit_json([r.as_json() for r in reports])
    else:
        for report in reports:
            console.table(
                TABLE_HEADERS,
                report.rows(),
                title=f"{report.component} {report.version} ({report.project})",
            )
            for problem in report.problems:
                console.say(f"  - {problem}")
            if out is not None:
                console.say(f"kept in {report.outdir}")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PackageError(f"package validation failed: {problems[0]}{more}")


def _clear_previous_build(folder: Path) -> None:
    """Remove the distributions an earlier run left; refuse a folder holding anything else."""
    from dexops.errors import PackageError

    if not folder.is_dir():
        return
    entries = list(folder.iterdir())
    others = [p.name for p in entries if not p.name.endswith((".whl", ".tar.gz"))]
    if others:
        raise PackageError(f"{folder} holds other files ({', '.join(sorted(others)[:3])})")
    for entry in entries:
        entry.unlink()


def collection() -> Collection:
    """The `package` collection."""
    return Collection("package", validate)

"""`package.*` tasks: build and validate library distributions."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task


@task(
    positional=["component"],
    help={
        "component": "COMPONENT|all: the library component to validate, or `all` for every library",
        "out": "keep the built files in OUT/<component>/ (default: a temporary folder, removed)",
        "json": "print the report as JSON",
        "repo": "target repository root",
    },
)
def validate(
    c: Context,
    component: str,
    out: str | None = None,
    json: bool = False,
    repo: str | None = None,
) -> None:
    """Build COMPONENT|all: a library's (or every library's) sdist and wheel, then check them.

    Built with uv, then twine check --strict, metadata and file lists. COMPONENT is a
    library component, or `all` for every library.
    """
    from pathlib import Path

    from dexops import console, github_actions
    from dexops.errors import PackageError
    from dexops.workflows.package import TABLE_HEADERS, summary_markdown, validate_libraries
    from dexops.workflows.workspace import Workspace

    reports = validate_libraries(
        Workspace.open(repo), component, Path(out) if out is not None else None
    )
    problems = [f"{r.component}: {p}" for r in reports for p in r.problems]
    for report in reports:
        github_actions.add_summary(summary_markdown(report))
    github_actions.set_output("ok", "false" if problems else "true")
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


def collection() -> Collection:
    """The `package` collection."""
    return Collection("package", validate)

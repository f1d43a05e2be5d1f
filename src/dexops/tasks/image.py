"""`image.*` tasks: tags, build, exists, scan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context

from dexops.tasks._edge import task

if TYPE_CHECKING:
    from dexops.workflows.image_build import BuildPlan

_REGISTRY_HELP = "use this registry host[:port] instead of the configured one ($DEXOPS_REGISTRY)"


@task(
    read_only=True,
    help={
        "component": "app component (default: the only app)",
        "branch": "compute tags as if built on this branch (default: the current one)",
        "registry": _REGISTRY_HELP,
        "json": "print JSON",
        "repo": "target repository root",
    },
)
def tags(
    c: Context,
    component: str | None = None,
    branch: str | None = None,
    registry: str | None = None,
    json: bool = False,
    repo: str | None = None,
) -> None:
    """Show the tags and OCI labels an image of HEAD gets on this branch."""
    from dexops import console, github_actions
    from dexops.workflows.image import plan_image
    from dexops.workflows.workspace import Workspace

    plan = plan_image(Workspace.open(repo), component, branch=branch, registry=registry)
    github_actions.set_output("tags", list(plan.tags))
    github_actions.set_output("refs", [str(ref) for ref in plan.refs])
    github_actions.set_output("sha-tag", plan.tags[0])
    if json:
        console.emit_json(plan.as_json())
        return
    console.say(f"{plan.component} {plan.version} at {plan.commit[:12]} on {plan.branch or '-'}")
    console.table(["tag", "reference"], [[ref.tag, str(ref)] for ref in plan.refs])
    console.table(["label", "value"], [[k, v] for k, v in plan.labels.items()])


@task(
    positional=["component"],
    iterable=["build_arg", "cache_from", "cache_to"],
    help={
        "component": "app component to build",
        "push": "push every tag and print the pushed digest",
        "platform": "target platform(s), comma separated, e.g. linux/amd64,linux/arm64",
        "engine": "docker | buildah | podman (default: docker with a daemon, else buildah, podman)",
        "build_arg": "KEY=VALUE build argument (repeatable; overrides config build-args)",
        "cache_from": "docker buildx --cache-from (repeatable; default type=gha in Actions)",
        "cache_to": "docker buildx --cache-to (repeatable; default type=gha,mode=max in Actions)",
        "sbom": "docker buildx: attach an SBOM attestation",
        "provenance": "docker buildx: attach a provenance attestation (mode=max)",
        "rebuild": "build and push even when the sha tag is already in the registry",
        "branch": "tag as if built on this branch (default: the current one)",
        "registry": _REGISTRY_HELP,
        "json": "print the result as JSON",
        "dry_run": "print the engine command and pushes, change nothing",
        "repo": "target repository root",
        "plan": "a `pipeline.plan --output` file; refuse a build it did not decide",
    },
)
def build(
    c: Context,
    component: str,
    push: bool = False,
    platform: str | None = None,
    engine: str | None = None,
    build_arg: list[str] | None = None,
    cache_from: list[str] | None = None,
    cache_to: list[str] | None = None,
    sbom: bool = False,
    provenance: bool = False,
    rebuild: bool = False,
    branch: str | None = None,
    registry: str | None = None,
    json: bool = False,
    dry_run: bool = False,
    repo: str | None = None,
    plan: str | None = None,
) -> None:
    """Build COMPONENT's image with its tags and labels; --push pushes every tag."""
    from dexops import console, github_actions
    from dexops.workflows.image import plan_image
    from dexops.workflows.image_build import (
        BuildOptions,
        apply_build,
        parse_build_args,
        parse_platforms,
        plan_build,
    )
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(repo)
    if plan is not None:
        from dexops.workflows.pipeline import require_planned

        require_planned(ws, plan, "images", component, "build")
    image_plan = plan_image(ws, component, branch=branch, registry=registry)
    options = BuildOptions(
        push=push,
        engine=engine,
        platforms=parse_platforms(platform),
        build_args=parse_build_args(build_arg or []),
        cache_from=tuple(cache_from or ()),
        cache_to=tuple(cache_to or ()),
        sbom=sbom,
        provenance=provenance,
        rebuild=rebuild,
    )
    build_plan = plan_build(ws, image_plan, options, dry_run=dry_run)
    _say_build_plan(build_plan, dry_run=dry_run)
    if dry_run:
        return
    result = apply_build(build_plan)
    github_actions.set_output("image", str(image_plan.refs[0]))
    github_actions.set_output("tags", list(image_plan.tags))
    if result.digest:
        github_actions.set_output("digest", result.digest)
    if json:
        console.emit_json(
            {
                **image_plan.as_json(),
                "engine": result.engine,
                "built": result.built,
                "digests": dict(result.digests),
                "retagged": list(result.retagged),
            }
        )
        return
    if not push:
        console.say(f"built {', '.join(str(ref) for ref in image_plan.refs)} with {result.engine}")
        return
    for ref, digest in result.digests.items():
        moved = " (re-tagged)" if ref in result.retagged else ""
        console.say(f"pushed {ref}@{digest}{moved}")
    console.say(f"digest: {result.digest}")


def _say_build_plan(plan: BuildPlan, *, dry_run: bool) -> None:
    """The plan's warnings, and under --dry-run what the build would do."""
    import shlex

    from dexops import console

    console.warn_each(plan.warnings)
    if plan.existing is not None:
        console.say(
            f"{plan.image.refs[0]} is already in the registry ({plan.existing}); not rebuilt"
        )
    if not dry_run:
        return
    for retag in plan.retags:
        console.would(f"point {retag.ref} at {plan.existing} (now {retag.current or 'absent'})")
    if plan.existing is None:
        console.would(f"run {shlex.join(plan.argv)}")
        for ref in plan.pushes:
            console.would(f"push {ref}")


@task(
    read_only=True,
    positional=["tag"],
    help={
        "tag": "a tag of the component's image, or a full reference (registry/repo:tag)",
        "component": "app component whose image TAG belongs to (default: the only app)",
        "registry": _REGISTRY_HELP,
        "json": "print JSON",
        "repo": "target repository root",
    },
)
def exists(
    c: Context,
    tag: str,
    component: str | None = None,
    registry: str | None = None,
    json: bool = False,
    repo: str | None = None,
) -> None:
    """Check that the registry has TAG and print its digest (NOT_FOUND when it has not)."""
    from dexops import console, github_actions
    from dexops.adapters.registry import ImageNotFoundError
    from dexops.workflows.image import resolve_ref
    from dexops.workflows.image_build import image_digest
    from dexops.workflows.workspace import Workspace

    ref = resolve_ref(Workspace.open(repo), tag, component=component, registry=registry)
    try:
        digest = image_digest(ref)
    except ImageNotFoundError:
        github_actions.set_output("exists", "false")
        if json:
            console.emit_json({"image": str(ref), "exists": False, "digest": None})
        raise
    github_actions.set_output("exists", "true")
    github_actions.set_output("digest", digest)
    if json:
        console.emit_json({"image": str(ref), "exists": True, "digest": digest})
        return
    console.say(f"{ref} {digest}")


@task(
    read_only=True,
    positional=["tag"],
    help={
        "tag": "a tag of the component's image, or a full reference",
        "report": "read this Trivy JSON report instead of running trivy",
        "fail_on": "fail at this severity or worse (default CRITICAL; 'none' to never fail)",
        "warn_on": "warn at this severity or worse (default HIGH; 'none' to never warn)",
        "ignore_file": "ignore file in .trivyignore.yaml form (default: the repo's, if any)",
        "scan_timeout": "seconds one trivy run may take before the scan fails (default 600)",
        "component": "app component whose image TAG belongs to (default: the only app)",
        "registry": _REGISTRY_HELP,
        "json": "print JSON",
        "repo": "target repository root",
    },
)
def scan(
    c: Context,
    tag: str,
    report: str | None = None,
    fail_on: str = "CRITICAL",
    warn_on: str = "HIGH",
    ignore_file: str | None = None,
    scan_timeout: float = 600.0,
    component: str | None = None,
    registry: str | None = None,
    json: bool = False,
    repo: str | None = None,
) -> None:
    """Gate TAG on its vulnerabilities: VULNERABLE or SCANNER_FAILED exit codes."""
    from dexops import console, github_actions
    from dexops.domain.vulnerabilities import VulnerableImageError, parse_threshold, unique_ids
    from dexops.workflows.image import resolve_ref
    from dexops.workflows.scan import scan_image
    from dexops.workflows.workspace import Workspace

    failing_at = parse_threshold(fail_on, "--fail-on")
    warning_at = parse_threshold(warn_on, "--warn-on")
    ws = Workspace.open(repo)
    ref = resolve_ref(ws, tag, component=component, registry=registry)
    result = scan_image(
        ws,
        ref,
        report=report,
        ignore_file=ignore_file,
        fail_on=failing_at,
        warn_on=warning_at,
        timeout=scan_timeout,
        on_retry=lambda attempt, delay: console.warn(
            f"trivy could not fetch its database (attempt {attempt}); retrying in {delay:.0f}s"
        ),
    )
    rows = [[r.severity, r.counted, r.ignored] for r in result.rows()]
    github_actions.set_output("verdict", result.verdict)
    github_actions.add_summary(
        f"### Image scan: {ref}\n\n"
        + github_actions.markdown_table(["severity", "findings", "ignored"], rows)
        + f"\nverdict: **{result.verdict}**"
    )
    for entry in result.expired:
        console.warn(
            f"ignore of {entry.vulnerability_id} expired on {entry.expires}; it counts again"
        )
    if json:
        console.emit_json(
            {
                "image": str(ref),
                "verdict": result.verdict,
                "counts": {r.severity: r.counted for r in result.rows()},
                "ignored": {r.severity: r.ignored for r in result.rows()},
                "failing": unique_ids(result.failing),
                "warning": unique_ids(result.warning),
                "expired_ignores": [e.vulnerability_id for e in result.expired],
            }
        )
    else:
        console.table(["severity", "findings", "ignored"], rows, title=f"scan of {ref}")
        shown = [*result.failing, *result.warning]
        if shown:
            console.table(
                ["id", "severity", "package", "installed", "fixed"],
                [
                    [
                        f.vulnerability_id,
                        f.severity,
                        f.package,
                        f.installed_version,
                        f.fixed_version,
                    ]
                    for f in shown
                ],
            )
    if result.warning:
        ids = unique_ids(result.warning)
        console.warn(
            f"{len(ids)} {warning_at}+ vulnerabilit{'y' if len(ids) == 1 else 'ies'} in {ref}: "
            + ", ".join(ids[:10])
        )
    if result.failing:
        ids = unique_ids(result.failing)
        raise VulnerableImageError(
            f"{ref} has {len(ids)} vulnerabilit{'y' if len(ids) == 1 else 'ies'} at "
            f"{failing_at} or worse: {', '.join(ids[:10])}"
        )
    if not json:
        console.say(f"scan gate: {result.verdict}")


def collection() -> Collection:
    """The `image` collection."""
    return Collection("image", tags, build, exists, scan)

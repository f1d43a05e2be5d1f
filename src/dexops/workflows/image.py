"""Image workflows: plan tags and labels, build and push, check the registry."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from dexops import github_actions
from dexops.adapters.container_engine import Buildah, BuildSpec, Docker, Engine, select_engine
from dexops.adapters.pyproject_file import read_version
from dexops.adapters.registry import ImageNotFoundError, RegistryClient, RegistryError
from dexops.domain.config import Component
from dexops.domain.image_tags import (
    TagRules,
    image_tags,
    moving_tags_by_branch,
    oci_labels,
    source_url,
)
from dexops.domain.imageref import ImageRef, ImageRefError, validate_tag
from dexops.errors import ConfigError, ConflictError, DexopsError, ToolMissingError
from dexops.workflows.workspace import Workspace

REGISTRY_ENV = "DEXOPS_REGISTRY"
_COMMIT = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_BUILD_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


# --- which image, which commit, which branch -------------------------------------------


def app_component(ws: Workspace, name: str | None) -> Component:
    """The named app component, or the only one when no name is given."""
    if name is not None:
        component = ws.config.component(name)
        if component.kind != "app":
            raise ConfigError(f"component {name!r} is a {component.kind}, not an app with an image")
        return component
    apps = ws.config.apps()
    if len(apps) != 1:
        names = ", ".join(c.name for c in apps) or "none"
        raise ConfigError(f"name the app component (apps: {names})")
    return apps[0]


def component_image(component: Component, registry: str | None = None) -> ImageRef:
    """The component's configured image, moved to `registry` (or `$DEXOPS_REGISTRY`) if set."""
    if component.image is None:
        raise ConfigError(f"component {component.name!r} has no image configured")
    try:
        image = ImageRef.parse(component.image)
    except ImageRefError as exc:
        raise ConfigError(f"tool.dexops.components.{component.name}.image: {exc}") from None
    if image.tag or image.digest:
        raise ConfigError(
            f"tool.dexops.components.{component.name}.image {component.image!r} must not carry "
            "a tag or digest; dexops computes the tags"
        )
    override = registry or os.environ.get(REGISTRY_ENV)
    return image.with_registry(override) if override else image


def resolve_ref(
    ws: Workspace, text: str, *, component: str | None, registry: str | None
) -> ImageRef:
    """TAG of the component's image, or a full reference when TEXT has '/', ':' or '@'."""
    if any(ch in text for ch in "/:@"):
        return ImageRef.parse(text)
    return component_image(app_component(ws, component), registry).with_tag(validate_tag(text))


def build_commit(ws: Workspace) -> str:
    """The commit an image is built from: HEAD, or a pull request's head (never its merge).

    Any other event's head (`github_actions.event_head`) is what the job checked out unless
    the workflow chose another ref; HEAD is then what is built, so HEAD names it.
    """
    head = ws.git.head()
    if github_actions.event_name() in ("pull_request", "pull_request_target"):
        pushed = github_actions.event_head()
        if pushed is not None and _COMMIT.match(pushed):
            return pushed
    if github_actions.event_name() == "workflow_run":
        tested = github_actions.event_head()
        if tested is not None and tested != head:
            # The job runs on the default branch: without `ref:` it builds that tip under
            # the name of the commit CI tested on another branch.
            raise ConflictError(
                f"HEAD is {head[:12]} but the workflow_run tested {tested[:12]}; check out "
                "github.event.workflow_run.head_sha"
            )
    return head


def build_branch(ws: Workspace, branch: str | None) -> str | None:
    """The branch whose tags apply; None for pull requests and a detached HEAD."""
    if branch is not None:
        ws.git.check_ref_name(branch)
        return branch
    if github_actions.active():
        if (github_actions.event_name() or "").startswith("pull_request"):
            return None  # a PR build is not the branch's state: no moving tags
        # workflow_run jobs run on the default branch; the event names the branch CI tested.
        event_branch = github_actions.event_branch()
        if event_branch is not None:
            ws.git.check_ref_name(event_branch)
            return event_branch
    try:
        return ws.git.current_branch()
    except DexopsError:
        return None


def _commit_time(ws: Workspace, commit: str) -> int:
    done = ws.git.call("show", "-s", "--format=%ct", commit)
    if done.code != 0:  # the Actions head may not be fetched; HEAD's time is the next best
        done = ws.git.call("show", "-s", "--format=%ct", "HEAD")
    return int(done.stdout.strip())


def _source(ws: Workspace) -> str | None:
    run = github_actions.run_context()
    if run.active and run.repository_url:
        return run.repository_url
    done = ws.git.call("remote", "get-url", "origin")
    return source_url(done.stdout) if done.code == 0 else None


@dataclass(frozen=True)
class ImagePlan:
    """The tags, labels and inputs of one component image at one commit."""

    component: str
    image: ImageRef
    commit: str
    branch: str | None
    version: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    timestamp: int
    containerfile: str
    context: str

    @property
    def refs(self) -> tuple[ImageRef, ...]:
        """Every tag as a full reference, the immutable sha tag first."""
        return tuple(self.image.with_tag(tag) for tag in self.tags)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "component": self.component,
            "image": self.image.name,
            "commit": self.commit,
            "branch": self.branch,
            "version": self.version,
            "tags": list(self.tags),
            "refs": [str(ref) for ref in self.refs],
            "labels": dict(self.labels),
        }


def tag_rules(ws: Workspace, component: Component) -> TagRules:
    """The tagging rules of a component: config release tags, environments' moving tags."""
    pairs = [
        (env.branch, env.moving_tag)
        for env in ws.config.environments.values()
        if env.component == component.name
    ]
    return TagRules(
        default_branch=ws.config.default_branch,
        release_tags=component.release_tags,
        moving_tags=moving_tags_by_branch(pairs),
    )


def plan_image(
    ws: Workspace,
    component_name: str | None = None,
    *,
    branch: str | None = None,
    registry: str | None = None,
) -> ImagePlan:
    """Compute tags and labels for HEAD (or the Actions head) of an app component. Pure read."""
    return plan_image_at(
        ws,
        component_name,
        commit=build_commit(ws),
        branch=build_branch(ws, branch),
        registry=registry,
    )


def plan_image_at(
    ws: Workspace,
    component_name: str | None,
    *,
    commit: str,
    branch: str | None,
    registry: str | None = None,
) -> ImagePlan:
    """`plan_image` for the commit and branch the caller already chose with `build_*`."""
    component = app_component(ws, component_name)
    image = component_image(component, registry)
    version = str(read_version(ws.root, component))
    tags = image_tags(commit=commit, branch=branch, version=version, rules=tag_rules(ws, component))
    timestamp = _commit_time(ws, commit)
    created = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = oci_labels(
        commit=commit, source=_source(ws), version=version, created=created, title=component.name
    )
    containerfile = str(PurePosixPath(component.path) / component.dockerfile)
    return ImagePlan(
        component=component.name,
        image=image,
        commit=commit,
        branch=branch,
        version=version,
        tags=tags,
        labels=labels,
        timestamp=timestamp,
        containerfile=containerfile,
        context=component.path,
    )


# --- build and push --------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOptions:
    """Flags of image.build beyond the plan."""

    push: bool = False
    engine: str | None = None
    platforms: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    sbom: bool = False
    provenance: bool = False
    rebuild: bool = False


def parse_build_args(values: Sequence[str]) -> dict[str, str]:
    """KEY=VALUE flags into a mapping; keys must be identifiers."""
    parsed: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not _BUILD_ARG.match(key):
            raise ConfigError(f"--build-arg {value!r} must be KEY=VALUE with KEY an identifier")
        parsed[key] = text
    return parsed


def parse_platforms(value: str | None) -> tuple[str, ...]:
    """`linux/amd64,linux/arm64` into a tuple, each checked."""
    if not value:
        return ()
    platforms = tuple(p.strip() for p in value.split(",") if p.strip())
    for platform in platforms:
        if not _PLATFORM.match(platform):
            raise ConfigError(f"--platform {platform!r} is not os/arch[/variant]")
    return platforms


def _check_cache(values: Sequence[str], flag: str) -> tuple[str, ...]:
    for value in values:
        if not value or value.startswith("-") or any(ch.isspace() for ch in value):
            raise ConfigError(f"{flag} {value!r} is not a buildx cache specification")
    return tuple(values)


def build_spec(ws: Workspace, plan: ImagePlan, options: BuildOptions) -> BuildSpec:
    """The engine's BuildSpec for a plan (config build args first, flags override)."""
    component = ws.config.component(plan.component)
    containerfile = ws.root / plan.containerfile
    if not containerfile.is_file():
        raise ConfigError(f"{plan.containerfile} does not exist in {ws.root}")
    cache_from = _check_cache(options.cache_from, "--cache-from")
    cache_to = _check_cache(options.cache_to, "--cache-to")
    if not cache_from and not cache_to and github_actions.active():
        cache_from, cache_to = ("type=gha",), ("type=gha,mode=max",)
    return BuildSpec(
        context=ws.root / plan.context,
        containerfile=containerfile,
        tags=plan.refs,
        labels=plan.labels,
        build_args={**dict(component.build_args), **options.build_args},
        platforms=options.platforms,
        timestamp=plan.timestamp,
        cache_from=cache_from,
        cache_to=cache_to,
        sbom=options.sbom,
        provenance=options.provenance,
    )


@dataclass(frozen=True)
class BuildResult:
    """What image.build did: the engine, and each pushed tag's digest."""

    engine: str
    built: bool
    digests: Mapping[str, str]
    retagged: tuple[str, ...] = ()

    @property
    def digest(self) -> str | None:
        """The digest of the immutable tag (every tag points at it after a push)."""
        return next(iter(self.digests.values()), None)


@dataclass(frozen=True)
class Retag:
    """A tag to point at the immutable tag's manifest, and what it points at now."""

    ref: ImageRef
    current: str | None


@dataclass(frozen=True)
class BuildPlan:
    """How image.build makes the plan's image: rebuilt by an engine, or re-tagged in place."""

    image: ImagePlan
    spec: BuildSpec
    push: bool
    existing: str | None = None  # the registry's digest of the immutable tag: not rebuilt
    retags: tuple[Retag, ...] = ()
    engine: Engine | None = None
    argv: tuple[str, ...] = ()  # the engine command (shown under --dry-run)
    pushes: tuple[ImageRef, ...] = ()  # pushes after the build (engines other than docker)
    warnings: tuple[str, ...] = ()


def _already_pushed(plan: ImagePlan, *, dry_run: bool) -> tuple[str | None, tuple[str, ...]]:
    """The digest the registry holds for the immutable tag (or None), and any warning."""
    try:
        return RegistryClient().digest(plan.refs[0]), ()
    except ImageNotFoundError:
        return None, ()
    except RegistryError as exc:
        if dry_run:
            return None, (f"could not check the registry: {exc}",)
        raise


def _retags(plan: ImagePlan, digest: str) -> tuple[Retag, ...]:
    """The other tags that do not point at the pushed immutable tag's digest yet."""
    client = RegistryClient()
    retags = []
    for ref in plan.refs[1:]:
        try:
            current = client.digest(ref)
        except ImageNotFoundError:
            current = None
        if current != digest:
            retags.append(Retag(ref, current))
    return tuple(retags)


def plan_build(
    ws: Workspace, plan: ImagePlan, options: BuildOptions, *, dry_run: bool = False
) -> BuildPlan:
    """Decide how to make the plan's image; only reads the registry.

    Idempotent: when the immutable sha tag is already in the registry it is not rebuilt
    (a rebuild could change its digest); the other tags are pointed at it instead.
    """
    spec = build_spec(ws, plan, options)
    warnings: tuple[str, ...] = ()
    if options.push and not options.rebuild:
        existing, warnings = _already_pushed(plan, dry_run=dry_run)
        if existing is not None:
            return BuildPlan(
                plan, spec, push=True, existing=existing, retags=_retags(plan, existing)
            )
    engine: Engine
    try:
        engine = select_engine(options.engine)
    except ToolMissingError as exc:
        if not dry_run:
            raise
        warnings += (f"{exc}; showing the buildah command",)
        engine = Buildah("buildah")
    if engine.name != "docker":
        warnings += _not_produced(engine.name, options)
    if isinstance(engine, Docker):
        argv = engine.build_argv(spec, push=options.push)
    else:
        argv = engine.build_argv(spec)
    pushes = spec.tags if options.push and engine.name != "docker" else ()
    return BuildPlan(
        plan,
        spec,
        push=options.push,
        engine=engine,
        argv=tuple(argv),
        pushes=tuple(pushes),
        warnings=warnings,
    )


def apply_build(build: BuildPlan) -> BuildResult:
    """Build (and push) the image, or point the other tags at the one already pushed."""
    if build.existing is not None:
        digests = {str(ref): build.existing for ref in build.image.refs}
        if build.retags:
            client = RegistryClient()
            manifest = client.manifest(build.image.refs[0])
            for retag in build.retags:
                client.put_manifest(retag.ref, manifest)
        retagged = tuple(str(retag.ref) for retag in build.retags)
        return BuildResult("registry", built=False, digests=digests, retagged=retagged)
    if build.engine is None:  # pragma: no cover - plan_build sets one when not re-tagging
        raise DexopsError("no container engine was chosen")
    digests = build.engine.build(build.spec, push=build.push)
    return BuildResult(build.engine.name, built=True, digests=digests)


def _not_produced(engine: str, options: BuildOptions) -> tuple[str, ...]:
    """A warning when asked-for attestations (or cache options) cannot be had from `engine`."""
    # buildah 1.28 and podman build have no --sbom/--provenance: the image is built without
    # them rather than refused, and the user is told so.
    warnings = []
    asked = [
        name for name, on in (("SBOM", options.sbom), ("provenance", options.provenance)) if on
    ]
    if asked:
        warnings.append(
            f"{engine} produces no {' or '.join(asked)} attestation: the image is built without "
            "one (use --engine docker with buildx for attestations)"
        )
    if options.engine is None and (options.cache_from or options.cache_to):
        warnings.append(f"--cache-from/--cache-to need docker buildx; {engine} ignores them")
    return tuple(warnings)


# --- registry checks ---------------------------------------------------------------------


def image_digest(ref: ImageRef) -> str:
    """The digest the registry holds for `ref` (ImageNotFoundError when it has none)."""
    return RegistryClient().digest(ref)

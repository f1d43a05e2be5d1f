"""Image builds: the engine command for an image plan, the push, and the registry checks.

Idempotent: an immutable tag the registry already holds is never rebuilt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dexops import github_actions
from dexops.adapters.container_engine import Buildah, BuildSpec, Docker, Engine, select_engine
from dexops.adapters.registry import ImageNotFoundError, RegistryClient, RegistryError
from dexops.domain.imageref import ImageRef
from dexops.errors import ConfigError, DexopsError, ToolMissingError
from dexops.workflows.image import ImagePlan
from dexops.workflows.workspace import Workspace

_BUILD_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


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

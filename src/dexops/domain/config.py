"""The `[tool.dexops]` configuration model and its validation.

Pure: takes parsed TOML, and asks the repository's files through `RepoFiles`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeVar

from dexops.domain.config_keys import NAME_PATTERN, ROOT, table_problems
from dexops.errors import ConfigError

ComponentKind = Literal["library", "app"]
IndexRole = Literal["test", "production"]
INDEX_ROLES: tuple[IndexRole, ...] = ("test", "production")

_NAME = re.compile(NAME_PATTERN)


_T = TypeVar("_T")

DEFAULT_RELEASE_TAGS = ("latest", "v{version}")


@dataclass(frozen=True, slots=True)
class Component:
    """A releasable part of the monorepo: a library for indexes or an app for images."""

    name: str
    kind: ComponentKind
    path: str
    tag_prefix: str
    watch: tuple[str, ...] = ()
    image: str | None = None
    changelog: str | None = None
    version_file: str | None = None
    # Further files declaring the version (`__version__ = "..."`), bumped with it.
    version_files: tuple[str, ...] = ()
    dockerfile: str = "Dockerfile"
    build_args: tuple[tuple[str, str], ...] = ()
    # Tags an image built on the default branch gets besides sha-<8 hex>; {version} expands.
    release_tags: tuple[str, ...] = DEFAULT_RELEASE_TAGS
    # Archive paths (globs) a library's sdist/wheel may hold although they look stray.
    dist_allow: tuple[str, ...] = ()

    @property
    def pyproject(self) -> str:
        """Repository-relative path of the component's pyproject.toml."""
        return str(PurePosixPath(self.path) / "pyproject.toml")

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths whose changes count as changes of this component."""
        if self.watch:
            # The pyproject holds the version and dependencies: always part of the component.
            return (*self.watch, self.pyproject)
        return (self.path,)


@dataclass(frozen=True, slots=True)
class Environment:
    """A deployment target: a Kustomize overlay on a branch, optionally an Argo CD app."""

    name: str
    overlay: str
    branch: str
    component: str
    promote_from: str | None = None
    argocd_app: str | None = None
    health_url: str | None = None
    moving_tag: str | None = None
    deployment: str | None = None
    namespace: str | None = None
    # Changed only by promote and rollback, never by CD (`deploy.update`) on its branch.
    promotion_only: bool = False
    # Names the overlay's image entry had before an organisation rename (oldest last).
    former_images: tuple[str, ...] = ()
    # Subjects of deploy commits made by other tools, counted as deployments.
    deploy_commit_pattern: str | None = None

    @property
    def kustomization(self) -> str:
        """Repository-relative path of the overlay's kustomization.yaml."""
        return str(PurePosixPath(self.overlay) / "kustomization.yaml")


@dataclass(frozen=True, slots=True)
class PackageIndex:
    """A package index: where to upload, where to read its Simple API, which token."""

    name: str
    upload_url: str
    simple_url: str
    token_env: str | None = None
    # "test" gets every release first; "production" only stable PEP 440 versions.
    role: IndexRole = "production"


DEFAULT_INDEXES = (
    PackageIndex(
        "testpypi",
        "https://test.pypi.org/legacy/",
        "https://test.pypi.org/simple/",
        "TEST_PYPI_TOKEN",
        "test",
    ),
    PackageIndex(
        "pypi",
        "https://upload.pypi.org/legacy/",
        "https://pypi.org/simple/",
        "PYPI_TOKEN",
        "production",
    ),
)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration of one target repository."""

    root: Path
    file: Path
    default_branch: str
    components: Mapping[str, Component]
    environments: Mapping[str, Environment] = field(default_factory=lambda: MappingProxyType({}))
    indexes: tuple[PackageIndex, ...] = DEFAULT_INDEXES
    sign: bool = False
    release_branches: tuple[str, ...] = ()  # globs; empty: the default branch alone

    @property
    def release_lines(self) -> tuple[str, ...]:
        """The branch globs releases are made from (`release-branches`; the default branch)."""
        return self.release_branches or (self.default_branch,)

    def component(self, name: str) -> Component:
        """Look up a component, or fail naming the known ones."""
        try:
            return self.components[name]
        except KeyError:
            known = ", ".join(sorted(self.components)) or "none"
            raise ConfigError(f"unknown component {name!r} (configured: {known})") from None

    def environment(self, name: str) -> Environment:
        """Look up an environment, or fail naming the known ones."""
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(f"unknown environment {name!r} (configured: {known})") from None

    def libraries(self) -> list[Component]:
        """Components published to package indexes."""
        return [c for c in self.components.values() if c.kind == "library"]

    def index_for(self, role: IndexRole) -> PackageIndex | None:
        """The index configured for a role, if any."""
        return next((i for i in self.indexes if i.role == role), None)

    def apps(self) -> list[Component]:
        """Components built into images."""
        return [c for c in self.components.values() if c.kind == "app"]

    def environments_on(self, branch: str) -> list[Environment]:
        """Environments whose overlay lives on `branch`."""
        return [e for e in self.environments.values() if e.branch == branch]

    def promotion_order(self) -> list[Environment]:
        """Environments ordered so every source comes before the targets promoted from it."""
        ordered: list[Environment] = []
        seen: set[str] = set()

        def visit(env: Environment) -> None:
            if env.name in seen:
                return
            if env.promote_from is not None:
                visit(self.environments[env.promote_from])
            seen.add(env.name)
            ordered.append(env)

        for env in self.environments.values():
            visit(env)
        return ordered


class _Section:
    """Reads one TOML table whose shape `config_keys` has checked, remembering where it is."""

    def __init__(self, table: dict[str, Any], where: str, file: Path) -> None:
        self.table = table
        self.where = where
        self.file = file

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.where}.{key} {problem}", file=str(self.file))

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.table.get(key, default)
        return None if value is None else str(value)

    def required(self, key: str) -> str:
        return str(self.table[key])

    def strings(self, key: str) -> tuple[str, ...]:
        return tuple(self.table.get(key, []))

    def subtable(self, key: str) -> dict[str, Any]:
        value: dict[str, Any] = self.table.get(key, {})
        return value


class RepoFiles(Protocol):
    """The repository's files, as validation asks about them (paths relative to its root)."""

    def is_dir(self, relative: str) -> bool:
        """Whether `relative` is a directory."""
        ...

    def is_file(self, relative: str) -> bool:
        """Whether `relative` is a file."""
        ...

    def exists(self, relative: str) -> bool:
        """Whether anything is at `relative`."""
        ...

    def inside(self, relative: str) -> bool:
        """Whether `relative` stays in the repository (no `..` or link climbs out)."""
        ...


def _inside(files: RepoFiles, relative: str, section: _Section, key: str) -> None:
    """Refuse paths that climb out of the repository through a symbolic link."""
    if not files.inside(relative):
        raise section.fail(key, f"{relative!r} leaves the repository")


def _component(
    root: Path, files: RepoFiles, file: Path, name: str, table: dict[str, Any]
) -> Component:
    s = _Section(table, f"tool.dexops.components.{name}", file)
    path = s.required("path")
    _inside(files, path, s, "path")
    if not files.is_dir(path):
        raise s.fail("path", f"{path!r} does not exist in {root}")
    watch = s.strings("watch")
    for entry in watch:
        _inside(files, entry, s, "watch")
        if not files.exists(entry):
            raise s.fail("watch", f"entry {entry!r} does not exist in {root}")
    for key in ("changelog", "version-file"):
        if (value := s.string(key)) is not None:
            _inside(files, value, s, key)
    version_files = s.strings("version-files")
    for entry in version_files:
        _inside(files, entry, s, "version-files")
        if not files.is_file(entry):
            raise s.fail("version-files", f"entry {entry!r} does not exist in {root}")
    dockerfile = s.string("dockerfile", "Dockerfile") or "Dockerfile"
    _inside(files, str(PurePosixPath(path) / dockerfile), s, "dockerfile")
    return Component(
        name=name,
        kind=s.required("kind"),  # type: ignore[arg-type]  # config_keys checked the choices
        path=path,
        tag_prefix=s.string("tag-prefix", f"{name}-v") or f"{name}-v",
        watch=watch,
        image=s.string("image"),
        changelog=s.string("changelog"),
        version_file=s.string("version-file"),
        version_files=version_files,
        dockerfile=dockerfile,
        build_args=tuple(sorted(s.subtable("build-args").items())),
        release_tags=s.strings("release-tags") if "release-tags" in table else DEFAULT_RELEASE_TAGS,
        dist_allow=s.strings("dist-allow"),
    )


def _environment(
    root: Path,
    files: RepoFiles,
    file: Path,
    name: str,
    table: dict[str, Any],
    *,
    components: Mapping[str, Component],
) -> Environment:
    s = _Section(table, f"tool.dexops.environments.{name}", file)
    overlay = s.required("overlay")
    _inside(files, overlay, s, "overlay")
    if not files.is_file(str(PurePosixPath(overlay) / "kustomization.yaml")):
        raise s.fail("overlay", f"{overlay!r} has no kustomization.yaml in {root}")
    apps = [c.name for c in components.values() if c.kind == "app"]
    component = s.string("component")
    if component is None:
        if len(apps) != 1:
            raise s.fail("component", f"is required when there is not exactly one app ({apps})")
        component = apps[0]
    elif component not in apps:
        raise s.fail("component", f"{component!r} is not an app component (apps: {apps})")
    return Environment(
        name=name,
        overlay=overlay,
        branch=s.required("branch"),
        component=component,
        promote_from=s.string("promote-from"),
        argocd_app=s.string("argocd-app"),
        health_url=s.string("health-url"),
        moving_tag=s.string("moving-tag"),
        deployment=s.string("deployment"),
        namespace=s.string("namespace"),
        promotion_only=bool(s.table.get("promotion-only", False)),
        former_images=s.strings("former-images"),
        deploy_commit_pattern=_pattern(s, "deploy-commit-pattern"),
    )


def _pattern(s: _Section, key: str) -> str | None:
    """A regular expression value, refused when Python cannot compile it."""
    value = s.string(key)
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise s.fail(key, f"{value!r} is not a regular expression ({exc})") from None
    return value


def _check_promotions(file: Path, environments: Mapping[str, Environment]) -> None:
    for env in environments.values():
        if env.promote_from is not None and env.promote_from not in environments:
            raise ConfigError(
                f"{file}: tool.dexops.environments.{env.name}.promote-from names "
                f"unknown environment {env.promote_from!r}"
            )
    for env in environments.values():
        chain = [env.name]
        current = env
        while current.promote_from is not None:
            current = environments[current.promote_from]
            if current.name in chain:
                cycle = " -> ".join([*chain[chain.index(current.name) :], current.name])
                raise ConfigError(
                    f"{file}: tool.dexops.environments.*.promote-from has a cycle: {cycle}"
                )
            chain.append(current.name)


def _check_prefixes(file: Path, components: Mapping[str, Component]) -> None:
    prefixes: dict[str, str] = {}
    for comp in components.values():
        if comp.tag_prefix in prefixes:
            raise ConfigError(
                f"{file}: tool.dexops.components.{comp.name}.tag-prefix {comp.tag_prefix!r} "
                f"is already used by {prefixes[comp.tag_prefix]}"
            )
        prefixes[comp.tag_prefix] = comp.name


def task_name(component: str) -> str:
    """The per-component task's name: invoke spells `.` and `_` as `-` (`release.lib-x`)."""
    return component.replace(".", "-").replace("_", "-")


def _check_task_names(file: Path, components: Mapping[str, Component]) -> None:
    seen: dict[str, str] = {}
    for name in components:
        task = task_name(name)
        if task in seen:
            raise ConfigError(
                f"{file}: tool.dexops.components {seen[task]!r} and {name!r} would both be "
                f"the task release.{task}; rename one"
            )
        seen[task] = name


def _indexes(file: Path, tables: Mapping[str, dict[str, Any]]) -> tuple[PackageIndex, ...]:
    """Indexes with roles: explicit `role`, else by order (test first, then production)."""
    parsed = [
        (
            PackageIndex(name, t["upload-url"], t["simple-url"], t.get("token-env")),
            t.get("role"),
        )
        for name, t in tables.items()
    ]
    explicit = [role for _, role in parsed if role is not None]
    for role in INDEX_ROLES:
        if explicit.count(role) > 1:
            raise ConfigError(f"{file}: tool.dexops.indexes: more than one index has role {role!r}")
    unassigned = [index.name for index, role in parsed if role is None]
    free: list[IndexRole] = [role for role in INDEX_ROLES if role not in explicit]
    if len(unassigned) > len(free):
        raise ConfigError(
            f"{file}: tool.dexops.indexes: set role = 'test' or 'production' on "
            f"{', '.join(unassigned)} (one index per role)"
        )
    if len(unassigned) == 1 and len(free) == 2:
        # A single index without a role is where releases go: the production index.
        free = ["production"]
    defaults = dict(zip(unassigned, free, strict=False))
    return tuple(replace(index, role=role or defaults[index.name]) for index, role in parsed)


class _Problems:
    """Collects configuration errors; strict, it raises the first one instead."""

    def __init__(self, file: Path, *, strict: bool) -> None:
        self.file = file
        self.strict = strict
        self.found: list[str] = []

    def add(self, message: str) -> None:
        if self.strict:
            raise ConfigError(message, file=str(self.file))
        self.found.append(message)

    def attempt(self, check: Callable[[], _T]) -> _T | None:
        """Run one check; its ConfigError becomes a problem and the result None."""
        try:
            return check()
        except ConfigError as exc:
            self.add(str(exc))
            return None


def _build(
    data: Mapping[str, Any], root: Path, files: RepoFiles, problems: _Problems
) -> Config | None:
    file = problems.file
    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "dexops" not in tool:
        problems.add(f"{file}: no [tool.dexops] table")
        return None
    table = tool["dexops"]
    shape = [f"{file}: {problem}" for problem in table_problems(table, ROOT, "tool.dexops")]
    for problem in shape:
        problems.add(problem)
    if not isinstance(table, dict):
        return None

    def sound(section: str, name: str) -> bool:
        # An entry whose shape is broken is reported once, not again by the checks that read it.
        where = f"tool.dexops.{section}.{name}"
        return not any(f"{where}." in p or f"{where} " in p for p in shape)

    s = _Section(table, "tool.dexops", file)
    components: dict[str, Component] = {}
    for name, entry in s.subtable("components").items():
        if sound("components", name):
            comp = problems.attempt(functools.partial(_component, root, files, file, name, entry))
            if comp is not None:
                components[name] = comp
    problems.attempt(lambda: _check_prefixes(file, components))
    problems.attempt(lambda: _check_task_names(file, components))
    environments: dict[str, Environment] = {}
    for name, entry in s.subtable("environments").items():
        if sound("environments", name):
            env = problems.attempt(
                functools.partial(
                    _environment, root, files, file, name, entry, components=components
                )
            )
            if env is not None:
                environments[name] = env
    problems.attempt(lambda: _check_promotions(file, environments))
    index_tables = s.subtable("indexes")
    indexes = problems.attempt(lambda: _indexes(file, index_tables)) if index_tables else None
    if table.get("release-branches") == []:
        problems.add(f"{file}: tool.dexops.release-branches must name a branch (or be left out)")
    if problems.found:
        return None
    return Config(
        root=root,
        file=file,
        default_branch=s.string("default-branch", "main") or "main",
        components=components,
        environments=environments,
        indexes=indexes or DEFAULT_INDEXES,
        sign=bool(table.get("sign", False)),
        release_branches=tuple(table.get("release-branches", ())),
    )


def parse_config(data: Mapping[str, Any], *, root: Path, file: Path, files: RepoFiles) -> Config:
    """Validate the parsed pyproject of `root` (its files seen through `files`); the `Config`."""
    config = _build(data, root, files, _Problems(file, strict=True))
    assert config is not None  # noqa: S101 - strict problems raise instead of returning None
    return config


def config_problems(
    data: Mapping[str, Any], *, root: Path, file: Path, files: RepoFiles
) -> list[str]:
    """Every configuration error at once, each a one-line message (empty when it loads)."""
    problems = _Problems(file, strict=False)
    _build(data, root, files, problems)
    return problems.found

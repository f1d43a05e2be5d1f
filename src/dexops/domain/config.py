"""The `[tool.dexops]` configuration model and its validation. Pure: takes parsed TOML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from dexops.errors import ConfigError

ComponentKind = Literal["library", "app"]
IndexRole = Literal["test", "production"]
INDEX_ROLES: tuple[IndexRole, ...] = ("test", "production")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


DEFAULT_RELEASE_TAGS = ("latest", "v{version}")

# The records every command builds at start-up are NamedTuples: a frozen dataclass costs
# ~0.7 ms per class to generate on import, a NamedTuple ~0.1 ms (benchmarks/bench_tasks.py).


class Component(NamedTuple):
    """A releasable part of the monorepo: a library for indexes or an app for images."""

    name: str
    kind: ComponentKind
    path: str
    tag_prefix: str
    watch: tuple[str, ...] = ()
    image: str | None = None
    changelog: str | None = None
    version_file: str | None = None
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


class Environment(NamedTuple):
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

    @property
    def kustomization(self) -> str:
        """Repository-relative path of the overlay's kustomization.yaml."""
        return str(PurePosixPath(self.overlay) / "kustomization.yaml")


class PackageIndex(NamedTuple):
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


class Config(NamedTuple):
    """The whole validated configuration of one target repository."""

    root: Path
    file: Path
    default_branch: str
    components: Mapping[str, Component]
    environments: Mapping[str, Environment] = MappingProxyType({})
    indexes: tuple[PackageIndex, ...] = DEFAULT_INDEXES
    sign: bool = False

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
    """Reads one TOML table, checking keys and types, and remembering where it is."""

    def __init__(self, table: object, where: str, file: Path) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: {where} must be a table")
        self.table: dict[str, Any] = table
        self.where = where
        self.file = file

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.where}.{key} {problem}")

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise ConfigError(
                    f"{self.file}: unknown key {self.where}.{key} "
                    f"(allowed: {', '.join(sorted(allowed))})"
                )

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.table.get(key, default)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value

    def required(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None  # noqa: S101 - required=True never returns None
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, not {value!r}")
        return tuple(value)

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def subtable(self, key: str) -> dict[str, Any]:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value


def _inside(root: Path, relative: str, section: _Section, key: str) -> None:
    """Refuse paths that are absolute or climb out of the repository."""
    if PurePosixPath(relative).is_absolute() or ".." in PurePosixPath(relative).parts:
        raise section.fail(key, f"{relative!r} must be a path inside the repository")
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise section.fail(key, f"{relative!r} leaves the repository")


def _name(section: _Section, kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"{section.file}: {kind} name {name!r} must match {_NAME.pattern}")
    return name


def _component(root: Path, file: Path, name: str, table: object) -> Component:
    where = f"tool.dexops.components.{name}"
    s = _Section(table, where, file)
    s.check_keys(
        {
            "kind", "path", "tag-prefix", "watch", "image", "changelog",
            "version-file", "dockerfile", "build-args", "release-tags", "dist-allow",
        }
    )  # fmt: skip
    kind = s.required("kind")
    if kind not in ("library", "app"):
        raise s.fail("kind", f"must be 'library' or 'app', not {kind!r}")
    path = s.required("path")
    _inside(root, path, s, "path")
    if not (root / path).is_dir():
        raise s.fail("path", f"{path!r} does not exist in {root}")
    watch = s.strings("watch")
    for entry in watch:
        _inside(root, entry, s, "watch")
        if not (root / entry).exists():
            raise s.fail("watch", f"entry {entry!r} does not exist in {root}")
    image = s.string("image")
    if kind == "app" and image is None:
        raise s.fail("image", "is required for an app component")
    changelog = s.string("changelog")
    if changelog is not None:
        _inside(root, changelog, s, "changelog")
    version_file = s.string("version-file")
    if version_file is not None:
        _inside(root, version_file, s, "version-file")
    dockerfile = s.string("dockerfile", "Dockerfile") or "Dockerfile"
    _inside(root, str(PurePosixPath(path) / dockerfile), s, "dockerfile")
    build_args = s.subtable("build-args")
    release_tags = s.strings("release-tags") if "release-tags" in s.table else DEFAULT_RELEASE_TAGS
    for key, value in build_args.items():
        if not isinstance(value, str):
            raise s.fail(f"build-args.{key}", f"must be a string, not {value!r}")
    return Component(
        name=name,
        kind=kind,  # type: ignore[arg-type]  # checked against the Literal just above
        path=path,
        tag_prefix=s.string("tag-prefix", f"{name}-v") or f"{name}-v",
        watch=watch,
        image=image,
        changelog=changelog,
        version_file=version_file,
        dockerfile=dockerfile,
        build_args=tuple(sorted(build_args.items())),
        release_tags=release_tags,
        dist_allow=s.strings("dist-allow"),
    )


def _environment(
    root: Path, file: Path, name: str, table: object, components: Mapping[str, Component]
) -> Environment:
    where = f"tool.dexops.environments.{name}"
    s = _Section(table, where, file)
    s.check_keys(
        {
            "overlay", "branch", "promote-from", "argocd-app", "health-url", "component",
            "moving-tag", "deployment", "namespace",
        }
    )  # fmt: skip
    overlay = s.required("overlay")
    _inside(root, overlay, s, "overlay")
    if not (root / overlay / "kustomization.yaml").is_file():
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
    )


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


def _index_url(s: _Section, key: str) -> str:
    url = s.required(key)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise s.fail(key, f"{url!r} must be an http(s) URL")
    # Credentials come from the environment; a URL is shown in plans and logs.
    if parts.username is not None or parts.password is not None:
        raise s.fail(key, "must not carry credentials; use token-env or TWINE_PASSWORD")
    return url


def _index(file: Path, name: str, table: object) -> tuple[PackageIndex, IndexRole | None]:
    s = _Section(table, f"tool.dexops.indexes.{name}", file)
    s.check_keys({"upload-url", "simple-url", "token-env", "role"})
    token_env = s.string("token-env")
    if token_env is not None and not _ENV_VAR.match(token_env):
        raise s.fail("token-env", f"{token_env!r} is not an environment variable name")
    role = s.string("role")
    if role is not None and role not in INDEX_ROLES:
        raise s.fail("role", f"must be 'test' or 'production', not {role!r}")
    index = PackageIndex(name, _index_url(s, "upload-url"), _index_url(s, "simple-url"), token_env)
    return index, role


def _indexes(file: Path, tables: Mapping[str, object]) -> tuple[PackageIndex, ...]:
    """Indexes with roles: explicit `role`, else by order (test first, then production)."""
    parsed = [_index(file, _name_of_index(file, name), table) for name, table in tables.items()]
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
    return tuple(index._replace(role=role or defaults[index.name]) for index, role in parsed)


def _name_of_index(file: Path, name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"{file}: index name {name!r} must match {_NAME.pattern}")
    return name


def parse_config(data: Mapping[str, Any], *, root: Path, file: Path) -> Config:
    """Validate the parsed pyproject of `root` and build its `Config`."""
    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "dexops" not in tool:
        raise ConfigError(f"{file}: no [tool.dexops] table")
    s = _Section(tool["dexops"], "tool.dexops", file)
    s.check_keys({"default-branch", "components", "environments", "indexes", "sign"})
    components = {
        _name(s, "component", name): _component(root, file, name, table)
        for name, table in s.subtable("components").items()
    }
    if not components:
        raise ConfigError(f"{file}: tool.dexops.components must configure at least one component")
    prefixes: dict[str, str] = {}
    for comp in components.values():
        if comp.tag_prefix in prefixes:
            raise ConfigError(
                f"{file}: tool.dexops.components.{comp.name}.tag-prefix {comp.tag_prefix!r} "
                f"is already used by {prefixes[comp.tag_prefix]}"
            )
        prefixes[comp.tag_prefix] = comp.name
    environments = {
        _name(s, "environment", name): _environment(root, file, name, table, components)
        for name, table in s.subtable("environments").items()
    }
    _check_promotions(file, environments)
    index_tables = s.subtable("indexes")
    indexes = _indexes(file, index_tables) if index_tables else DEFAULT_INDEXES
    return Config(
        root=root,
        file=file,
        default_branch=s.string("default-branch", "main") or "main",
        components=components,
        environments=environments,
        indexes=indexes,
        sign=s.boolean("sign", default=False),
    )

"""Every `[tool.dexops]` key: its type, description and shape rules, read by loader and schema."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

# The kinds of value a key holds. "tables" is a table of named sub-tables, each of `table`.
KeyType = Literal["string", "strings", "boolean", "string-table", "tables"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# No user-info in a URL (credentials come from the environment), checked before the value is
# ever shown; then an http(s) URL with a host.
NO_CREDENTIALS_PATTERN = r"^(?![^/]*//[^/?#]*@)"
URL_PATTERN = r"^https?://[^/?#@:]+(:[0-9]+)?([/?#].*)?$"


@dataclass(frozen=True, slots=True)
class Rule:
    """A pattern a string value must match, and what it means when it does not."""

    pattern: str
    says: str
    # False when a value breaking the rule may hold a secret and must not be shown.
    show_value: bool = True


_INSIDE = (Rule(r"^(?!/)(?!(.*/)?\.\.(/|$)).+$", "must be a path inside the repository"),)
_URL = (
    Rule(
        NO_CREDENTIALS_PATTERN,
        "must not carry credentials; use token-env or TWINE_PASSWORD",
        show_value=False,
    ),
    Rule(URL_PATTERN, "must be an http(s) URL"),
)


@dataclass(frozen=True, slots=True)
class Key:
    """One configuration key and the rules its value follows."""

    name: str
    type: KeyType
    description: str
    required: bool = False
    choices: tuple[str, ...] = ()
    # Checked in order; the first one broken is reported.
    rules: tuple[Rule, ...] = ()
    table: Table | None = None
    # "tables" only: how many named entries there must be at least.
    min_entries: int = 0


@dataclass(frozen=True, slots=True)
class Table:
    """A TOML table: the keys it allows."""

    keys: tuple[Key, ...]
    # (key, value, then-required key): e.g. an app component must name its image.
    required_when: tuple[tuple[str, str, str], ...] = ()

    def allowed(self) -> frozenset[str]:
        """The key names this table allows."""
        return frozenset(k.name for k in self.keys)

    def by_name(self) -> Mapping[str, Key]:
        """The keys by name."""
        return {k.name: k for k in self.keys}


COMPONENT = Table(
    (
        Key(
            "kind",
            "string",
            "library: built and published to package indexes; app: built into an image.",
            required=True,
            choices=("library", "app"),
        ),
        Key(
            "path",
            "string",
            "Directory of the component, holding its pyproject.toml.",
            required=True,
            rules=_INSIDE,
        ),
        Key("tag-prefix", "string", "Prefix of the component's release tags (default: <name>-v)."),
        Key(
            "watch",
            "strings",
            "Paths whose changes count as changes of the component (default: its path).",
            rules=_INSIDE,
        ),
        Key("image", "string", "Image repository an app is pushed to (required for an app)."),
        Key(
            "changelog",
            "string",
            "Changelog file whose Unreleased section becomes the release notes.",
            rules=_INSIDE,
        ),
        Key(
            "version-file",
            "string",
            "A file besides pyproject.toml that holds the version.",
            rules=_INSIDE,
        ),
        Key(
            "version-files",
            "strings",
            'Further files declaring the version (__version__ = "..."), bumped with it.',
            rules=_INSIDE,
        ),
        Key(
            "dockerfile",
            "string",
            "Dockerfile of an app, relative to its path (default: Dockerfile).",
        ),
        Key("build-args", "string-table", "Build arguments passed to the image build."),
        Key(
            "release-tags",
            "strings",
            "Tags an image built on the default branch gets; {version} expands.",
        ),
        Key(
            "dist-allow",
            "strings",
            "Archive paths (globs) a distribution may hold although they look stray.",
        ),
    ),
    required_when=(("kind", "app", "image"),),
)

ENVIRONMENT = Table(
    (
        Key(
            "overlay",
            "string",
            "Kustomize overlay directory deployed to this environment.",
            required=True,
            rules=_INSIDE,
        ),
        Key("branch", "string", "Branch the overlay is read from and committed to.", required=True),
        Key("component", "string", "App deployed here (default: the only app)."),
        Key("promote-from", "string", "Environment whose deployed image is promoted here."),
        Key("argocd-app", "string", "Argo CD application that syncs the overlay."),
        Key("health-url", "string", "URL that answers 200 when the deployment is healthy."),
        Key("moving-tag", "string", "Image tag moved to each image deployed here."),
        Key("deployment", "string", "Kubernetes Deployment checked by kubectl after a deploy."),
        Key("namespace", "string", "Kubernetes namespace of the deployment."),
        Key(
            "promotion-only",
            "boolean",
            "Only promote and rollback change this environment; CD on its branch never does.",
        ),
        Key(
            "former-images",
            "strings",
            "Image names the overlay's images: entry had before a rename; history follows them.",
        ),
        Key(
            "deploy-commit-pattern",
            "string",
            "Regular expression for subjects of deploy commits other tools (bots) make here.",
        ),
    )
)

INDEX = Table(
    (
        Key(
            "upload-url",
            "string",
            "Upload endpoint (legacy upload API).",
            required=True,
            rules=_URL,
        ),
        Key(
            "simple-url",
            "string",
            "Simple API root read to see what is published.",
            required=True,
            rules=_URL,
        ),
        Key(
            "token-env",
            "string",
            "Environment variable holding the upload token.",
            rules=(Rule(ENV_VAR_PATTERN, "is not an environment variable name"),),
        ),
        Key(
            "role",
            "string",
            "test gets every release first; production only stable versions.",
            choices=("test", "production"),
        ),
    )
)

ROOT = Table(
    (
        Key("default-branch", "string", "Branch releases are made from (default: main)."),
        Key(
            "release-branches",
            "strings",
            "Branches (or globs such as release/*) releases are made from (default: the "
            "default branch).",
            rules=(
                Rule(
                    r"^(?![-/])(?!refs/)(?!.*\.\.)(?!.*/$)[^\s~^:\\]+$",
                    "is not a branch name or glob",
                ),
            ),
        ),
        Key("sign", "boolean", "Sign tags and attest images (default: false)."),
        Key(
            "components",
            "tables",
            "Releasable parts of the repository, by name.",
            table=COMPONENT,
            min_entries=1,
        ),
        Key("environments", "tables", "Deployment targets, by name.", table=ENVIRONMENT),
        Key(
            "indexes",
            "tables",
            "Package indexes, by name (default: testpypi and pypi).",
            table=INDEX,
        ),
    )
)


def table_problems(value: object, table: Table, where: str) -> Iterator[str]:
    """Every way `value` breaks the shape `table` declares, as `<where>.<key> <problem>`."""
    if not isinstance(value, dict):
        yield f"{where} must be a table"
        return
    allowed = table.allowed()
    for name in value:
        if name not in allowed:
            yield f"unknown key {where}.{name} (allowed: {', '.join(sorted(allowed))})"
    for key in table.keys:
        if key.name in value:
            yield from _value_problems(value[key.name], key, f"{where}.{key.name}")
        elif key.required:
            yield f"{where}.{key.name} is required"
    for name, equals, needed in table.required_when:
        if value.get(name) == equals and needed not in value:
            yield f"{where}.{needed} is required when {name} = {equals!r}"


def _value_problems(value: object, key: Key, where: str) -> Iterator[str]:
    if key.type == "string":
        if not isinstance(value, str) or not value:
            yield f"{where} must be a non-empty string, not {value!r}"
        else:
            yield from _string_problems(value, key, where)
    elif key.type == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            yield f"{where} must be a list of non-empty strings, not {value!r}"
        else:
            for item in value:
                yield from _string_problems(item, key, f"{where} entry")
    elif key.type == "boolean":
        if not isinstance(value, bool):
            yield f"{where} must be true or false, not {value!r}"
    elif not isinstance(value, dict):
        yield f"{where} must be a table"
    else:
        yield from _subtable_problems(value, key, where)


def _string_problems(value: str, key: Key, where: str) -> Iterator[str]:
    if key.choices and value not in key.choices:
        choices = " or ".join(repr(c) for c in key.choices)
        yield f"{where} must be {choices}, not {value!r}"
    for rule in key.rules:
        if not re.match(rule.pattern, value):
            yield f"{where} {value!r} {rule.says}" if rule.show_value else f"{where} {rule.says}"
            return


def _subtable_problems(value: dict[str, object], key: Key, where: str) -> Iterator[str]:
    if key.type == "string-table":
        for name, item in value.items():
            if not isinstance(item, str):
                yield f"{where}.{name} must be a string, not {item!r}"
        return
    if len(value) < key.min_entries:
        yield f"{where} must configure at least {key.min_entries} entry"
    assert key.table is not None  # noqa: S101 - every "tables" key declares its table
    for name, entry in value.items():
        if not re.match(NAME_PATTERN, name):
            yield f"{where}: name {name!r} must match {NAME_PATTERN}"
        else:
            yield from table_problems(entry, key.table, f"{where}.{name}")

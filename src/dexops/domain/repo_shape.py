"""What a repository looks like to `init`, and the `[tool.dexops]` table that fits it. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

Shape = Literal["single-library", "monorepo", "app-only", "libraries"]

# Environment names in the order changes travel through them; unknown names go last.
_STAGES = ("dev", "development", "test", "qa", "staging", "stage", "preprod", "prod", "production")
_TAG_VERSION = re.compile(r"\d+(\.\d+)*([abc]|rc|\.dev|\.post)?\d*$")


@dataclass(frozen=True, slots=True)
class Package:
    """A pyproject.toml found in the repository."""

    path: str  # its directory, "." for the root
    name: str
    has_changelog: bool = False


@dataclass(frozen=True, slots=True)
class Overlay:
    """A Kustomize overlay: its directory, and what its kustomization and base say."""

    path: str
    images: tuple[str, ...] = ()  # image names (newName, else name) it sets
    namespace: str | None = None
    deployment: str | None = None  # the one Deployment of its resources, if just one
    argocd_app: str | None = None  # an Argo CD Application whose source path is this overlay


@dataclass(frozen=True, slots=True)
class RepoFacts:
    """What `init` read from the repository; everything it infers comes from these."""

    root_package: Package | None
    packages: tuple[Package, ...]  # under packages/ (or another folder of several projects)
    dockerfile: bool  # a Dockerfile at the root
    source_dirs: tuple[str, ...]  # src/<name> folders of the root project
    overlays: tuple[Overlay, ...]
    tags: tuple[str, ...]
    remote_branches: tuple[str, ...]
    default_branch: str
    origin_repository: str | None = None  # owner/name from origin's URL


def shape_of(facts: RepoFacts) -> Shape:
    """Which of the shapes dexops knows this repository has."""
    app = facts.root_package is not None and facts.dockerfile
    if facts.packages:
        return "monorepo" if app else "libraries"
    if app:
        return "app-only"
    return "single-library"


def tag_prefix(name: str, tags: Sequence[str], *, only: bool) -> str:
    """The prefix existing tags use for `name`; a sole component's is `v`, else `<name>-v`."""
    for prefix in (f"{name}-v", f"{name}/v", f"{name}-", f"{name}/", f"{name}_v"):
        if any(_TAG_VERSION.match(t.removeprefix(prefix)) for t in tags if t.startswith(prefix)):
            return prefix
    if only:
        # The one component of a repository owns its plain tags: v1.2.3 by convention.
        return "v"
    return f"{name}-v"


def _stage(name: str) -> tuple[int, str]:
    lowered = name.lower()
    return (_STAGES.index(lowered) if lowered in _STAGES else len(_STAGES), lowered)


def _component_tables(facts: RepoFacts) -> dict[str, dict[str, Any]]:
    components: dict[str, dict[str, Any]] = {}
    shape = shape_of(facts)
    libraries = list(facts.packages)
    if shape == "single-library" and facts.root_package is not None:
        libraries = [facts.root_package]
    only = len(libraries) + (shape in ("monorepo", "app-only")) == 1
    for lib in libraries:
        table: dict[str, Any] = {"kind": "library", "path": lib.path}
        table["tag-prefix"] = tag_prefix(lib.name, facts.tags, only=only)
        if lib.has_changelog:
            table["changelog"] = str(PurePosixPath(lib.path) / "CHANGELOG.md")
        components[lib.name] = table
    if shape in ("monorepo", "app-only") and facts.root_package is not None:
        app = facts.root_package
        table = {"kind": "app", "path": "."}
        if shape == "monorepo":
            # The root holds the other components too: only its own code counts as its change.
            table["watch"] = [*facts.source_dirs, "Dockerfile"]
        table["tag-prefix"] = tag_prefix(app.name, facts.tags, only=only)
        table["image"] = _image(facts, app.name)
        components[app.name] = table
    return components


def _image(facts: RepoFacts, name: str) -> str:
    """The image the overlays deploy, else one on the forge's registry named after the app."""
    named = sorted({image for overlay in facts.overlays for image in overlay.images})
    if len(named) == 1:
        return named[0]
    owner = facts.origin_repository.split("/")[0].lower() if facts.origin_repository else "OWNER"
    return f"ghcr.io/{owner}/{name}"


def _environment_tables(facts: RepoFacts) -> dict[str, dict[str, Any]]:
    environments: dict[str, dict[str, Any]] = {}
    previous: str | None = None
    previous_branch: str | None = None
    for overlay in sorted(facts.overlays, key=lambda o: _stage(PurePosixPath(o.path).name)):
        name = PurePosixPath(overlay.path).name
        # An environment with a branch of its own name deploys from it; else the default branch.
        branch = name if name in facts.remote_branches else facts.default_branch
        table: dict[str, Any] = {"overlay": overlay.path, "branch": branch}
        if previous is not None:
            table["promote-from"] = previous
            if branch == previous_branch:
                # CD on a shared branch would move both; the later one changes by promotion.
                table["promotion-only"] = True
        for key, value in (
            ("argocd-app", overlay.argocd_app),
            ("deployment", overlay.deployment),
            ("namespace", overlay.namespace),
        ):
            if value:
                table[key] = value
        environments[name] = table
        previous, previous_branch = name, branch
    return environments


def dexops_table(facts: RepoFacts) -> dict[str, Any]:
    """The `[tool.dexops]` table for the repository `facts` describe."""
    table: dict[str, Any] = {"default-branch": facts.default_branch}
    table["components"] = _component_tables(facts)
    if facts.root_package is not None and facts.dockerfile:
        environments = _environment_tables(facts)
        if environments:
            table["environments"] = environments
    return table


def template_values(facts: RepoFacts, table: Mapping[str, Any]) -> dict[str, str]:
    """The placeholders init's templates use, for this repository."""
    components: Mapping[str, Mapping[str, Any]] = table["components"]
    libraries = [n for n, c in components.items() if c["kind"] == "library"]
    apps = [n for n, c in components.items() if c["kind"] == "app"]
    environments: Mapping[str, Mapping[str, Any]] = table.get("environments", {})
    branches = sorted({facts.default_branch, *(e["branch"] for e in environments.values())})
    return {
        "default_branch": facts.default_branch,
        "branches": ", ".join(branches),
        "libraries_json": json.dumps(libraries),
        "library_list": ", ".join(json.dumps(n) for n in libraries),
        "package_session": ', "package"' if libraries else "",
        "app": apps[0] if apps else "",
        "cd_branches": ", ".join(sorted({e["branch"] for e in environments.values()})),
    }

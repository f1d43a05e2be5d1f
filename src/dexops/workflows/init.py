"""`init`: read a repository's shape, then write `[tool.dexops]`, tasks.py, nox and workflows.

Every file init writes records a hash of what it wrote; a later run rewrites only files whose
content still has that hash, so an edit by hand is never overwritten.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import tomlkit
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dexops.adapters.git import Git
from dexops.adapters.github import repository_from_url
from dexops.adapters.textfile import read_text
from dexops.domain.repo_shape import (
    Overlay,
    Package,
    RepoFacts,
    Shape,
    dexops_table,
    shape_of,
    template_values,
)
from dexops.errors import ConfigError, DexopsError

Action = Literal["create", "update", "unchanged", "kept"]

_MARK = "dexops init wrote this"
_HASHED = re.compile(rf"^# {_MARK} \(sha256 (?P<hash>[0-9a-f]{{16}})\)")
_TABLE_MARK = re.compile(rf"# {_MARK} table \(sha256 (?P<hash>[0-9a-f]{{16}})\)")
_SKIP_DIRS = {".git", ".venv", "node_modules", ".nox", ".tox", "dist", "build", "__pycache__"}


@dataclass(frozen=True, slots=True)
class FileChange:
    """What init does to one file, and why."""

    path: str
    action: Action
    reason: str
    old: str
    new: str

    def diff(self) -> str:
        """A unified diff of the change (empty when nothing changes)."""
        if self.action in ("unchanged", "kept"):
            return ""
        lines = difflib.unified_diff(
            self.old.splitlines(keepends=True),
            self.new.splitlines(keepends=True),
            f"a/{self.path}",
            f"b/{self.path}",
        )
        return "".join(lines)


@dataclass(frozen=True, slots=True)
class InitPlan:
    """The shape found and the change to each file."""

    shape: Shape
    changes: tuple[FileChange, ...]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _walk(root: Path, pattern: str) -> Iterator[Path]:
    """Files under `root` matching `pattern`, outside build and tool folders."""
    for path in root.rglob(pattern):
        if not _SKIP_DIRS.intersection(path.relative_to(root).parts):
            yield path


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _package(root: Path, directory: Path) -> Package | None:
    project = _toml(directory / "pyproject.toml").get("project", {})
    name = project.get("name") if isinstance(project, dict) else None
    if not isinstance(name, str) or not name:
        return None
    relative = directory.relative_to(root).as_posix() if directory != root else "."
    return Package(relative, name, (directory / "CHANGELOG.md").is_file())


def _yaml_documents(path: Path) -> list[Mapping[str, Any]]:
    try:
        loaded = list(YAML(typ="safe").load_all(path.read_text(encoding="utf-8")))
    except (YAMLError, UnicodeDecodeError):
        return []
    return [doc for doc in loaded if isinstance(doc, Mapping)]


def _deployments(directory: Path, seen: set[Path]) -> set[str]:
    """Names of the Deployments a kustomization directory's resources hold, bases included."""
    if directory in seen or not (directory / "kustomization.yaml").is_file():
        return set()
    seen.add(directory)
    names: set[str] = set()
    for doc in _yaml_documents(directory / "kustomization.yaml"):
        for resource in doc.get("resources") or ():
            target = (directory / str(resource)).resolve()
            if target.is_dir():
                names |= _deployments(target, seen)
            elif target.is_file():
                for item in _yaml_documents(target):
                    metadata = item.get("metadata") or {}
                    if item.get("kind") == "Deployment" and isinstance(metadata, Mapping):
                        names.add(str(metadata.get("name")))
    return names


def _argocd_apps(root: Path) -> dict[str, str]:
    """Overlay path -> name of the Argo CD Application whose source is that path."""
    apps: dict[str, str] = {}
    for path in _walk(root, "*.yaml"):
        if "argoproj.io" not in path.read_text(encoding="utf-8", errors="replace"):
            continue
        for doc in _yaml_documents(path):
            spec, metadata = doc.get("spec") or {}, doc.get("metadata") or {}
            source = spec.get("source") if isinstance(spec, Mapping) else None
            if doc.get("kind") == "Application" and isinstance(source, Mapping):
                apps[str(source.get("path", "")).strip("/")] = str(metadata.get("name"))
    return apps


def _overlay(root: Path, kustomization: Path, apps: Mapping[str, str]) -> Overlay:
    directory = kustomization.parent
    relative = directory.relative_to(root).as_posix()
    images: list[str] = []
    namespace: str | None = None
    for doc in _yaml_documents(kustomization):
        for image in doc.get("images") or ():
            if isinstance(image, Mapping) and (image.get("newName") or image.get("name")):
                images.append(str(image.get("newName") or image.get("name")))
        if isinstance(doc.get("namespace"), str):
            namespace = doc["namespace"]
    deployments = _deployments(directory.resolve(), set())
    deployment = next(iter(deployments)) if len(deployments) == 1 else None
    return Overlay(relative, tuple(images), namespace, deployment, apps.get(relative))


def read_facts(root: Path) -> RepoFacts:
    """Read what init needs from the repository at `root` (files, tags, origin)."""
    if not (root / "pyproject.toml").is_file():
        raise ConfigError(f"{root / 'pyproject.toml'} does not exist; init needs a Python project")
    git = Git(root)
    if not git.ok("rev-parse", "--is-inside-work-tree"):
        raise ConfigError(f"{root} is not a git repository; run git init first")
    root_package = _package(root, root)
    packages = tuple(
        p
        for path in sorted(root.glob("packages/*/pyproject.toml"))
        if (p := _package(root, path.parent)) is not None
    )
    source_dirs = tuple(
        path.parent.relative_to(root).as_posix() for path in sorted(root.glob("src/*/__init__.py"))
    )
    apps = _argocd_apps(root)
    overlays = tuple(
        _overlay(root, path, apps) for path in sorted(_walk(root, "overlays/*/kustomization.yaml"))
    )
    has_origin = git.ok("remote", "get-url", "origin")
    remote_branches: tuple[str, ...] = ()
    default_branch: str | None = None
    origin_repository = None
    if has_origin:
        heads = git.run("ls-remote", "--heads", "--end-of-options", "origin")
        remote_branches = tuple(
            line.split("\t", 1)[1].removeprefix("refs/heads/") for line in heads.splitlines()
        )
        default_branch = git.remote_default_branch("origin")
        origin_repository = repository_from_url(git.remote_url("origin"))
    if default_branch is None:
        done = git.call("symbolic-ref", "--quiet", "--short", "HEAD")
        default_branch = done.stdout.strip() or "main"
    return RepoFacts(
        root_package=root_package,
        packages=packages,
        dockerfile=(root / "Dockerfile").is_file(),
        source_dirs=source_dirs,
        overlays=overlays,
        tags=tuple(git.tags()) if git.ok("rev-parse", "--verify", "--quiet", "HEAD") else (),
        remote_branches=remote_branches,
        default_branch=default_branch,
        origin_repository=origin_repository,
    )


# --- the files ------------------------------------------------------------------------------


def _template(name: str, values: Mapping[str, str]) -> str:
    text = files("dexops").joinpath("templates", f"{name}.tmpl").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if "@@" in text:
        raise DexopsError(f"template {name} has a placeholder init does not fill")  # a bug
    return text


def _stamped(body: str) -> str:
    """`body` under a header line recording its hash."""
    return f"# {_MARK} (sha256 {_digest(body)}); edit it and init leaves it alone\n{body}"


def _owned_change(root: Path, relative: str, body: str) -> FileChange:
    """The change to a file init owns while its recorded hash still matches its content."""
    path = root / relative
    new = _stamped(body)
    if not path.exists():
        return FileChange(relative, "create", "new", "", new)
    old = path.read_text(encoding="utf-8", errors="replace")
    if old == new:
        return FileChange(relative, "unchanged", "as init would write it", old, new)
    first, _, rest = old.partition("\n")
    match = _HASHED.match(first)
    if match is None:
        return FileChange(relative, "kept", "init did not write it", old, old)
    if match.group("hash") != _digest(rest):
        return FileChange(relative, "kept", "edited since init wrote it", old, old)
    return FileChange(relative, "update", "init wrote it and it is unedited", old, new)


def _table_text(table: Mapping[str, Any]) -> str:
    return json.dumps(table, sort_keys=True)


def _pyproject_change(root: Path, table: dict[str, Any]) -> FileChange:
    path = root / "pyproject.toml"
    old = read_text(path)
    current = _toml(path).get("tool", {}).get("dexops")
    if current is not None:
        match = _TABLE_MARK.search(old)
        if match is None or match.group("hash") != _digest(_table_text(current)):
            why = "its [tool.dexops] was " + ("edited" if match else "not written by init")
            return FileChange("pyproject.toml", "kept", why, old, old)
        if current == table:
            return FileChange("pyproject.toml", "unchanged", "as init would write it", old, old)
    if current is None:
        # Appended whole: every byte of the file before it stays as it was.
        addition = tomlkit.document()
        addition.add("tool", {"dexops": _dexops_toml(table)})
        new = old.rstrip("\n") + "\n\n" + tomlkit.dumps(addition)
        return FileChange("pyproject.toml", "create", "[tool.dexops]", old, new)
    doc = tomlkit.parse(old)
    doc["tool"]["dexops"] = _dexops_toml(table)
    return FileChange("pyproject.toml", "update", "[tool.dexops]", old, tomlkit.dumps(doc))


def _dexops_toml(table: Mapping[str, Any]) -> Any:  # noqa: ANN401 - a tomlkit Table
    out = tomlkit.table()
    out.add(tomlkit.comment(f"{_MARK} table (sha256 {_digest(_table_text(table))})"))
    for key, value in table.items():
        if isinstance(value, dict):
            section = tomlkit.table(is_super_table=True)
            for name, entry in value.items():
                section.add(name, tomlkit.item(entry))
            out.add(key, section)
        else:
            out.add(key, value)
    return out


def plan_init(root: Path) -> InitPlan:
    """What init would write in the repository at `root`; reads only."""
    facts = read_facts(root)
    if facts.root_package is None and not facts.packages:
        raise ConfigError(f"{root}: no [project] name in pyproject.toml and no packages/*")
    shape = shape_of(facts)
    table = dexops_table(facts)
    values = template_values(facts, table)
    changes = [_pyproject_change(root, table)]
    wanted = ["tasks.py", "noxfile.py", "workflows/ci.yml", "workflows/release.yml"]
    if "environments" in table:
        wanted.append("workflows/cd.yml")
    for name in wanted:
        relative = f".github/{name}" if name.startswith("workflows/") else name
        changes.append(_owned_change(root, relative, _template(name, values)))
    return InitPlan(shape, tuple(changes))


def apply_init(root: Path, plan: InitPlan) -> None:
    """Write every created or updated file of the plan."""
    for change in plan.changes:
        if change.action in ("create", "update"):
            path = root / change.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(change.new, encoding="utf-8")

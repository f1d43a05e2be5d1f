"""Reading and writing a component's version in its pyproject.toml (tomllib / tomlkit)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

from packaging.version import Version

from dexops.adapters.textfile import read_text
from dexops.domain.config import Component
from dexops.domain.versioning import parse_version
from dexops.errors import ConfigError, VersionError

# A version file names its version as `__version__ = "1.2.3"` (the common hatch/setuptools form).
_VERSION_ASSIGN = re.compile(r"""^(__version__\s*[:=]\s*[^"'\n]*["'])([^"'\n]+)(["'])""", re.M)


def _load(file: Path) -> dict[str, object]:
    text = read_text(file)
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # too deep: one line too
        raise ConfigError(f"{file} is not valid TOML: {exc}") from None


def version_text_from_pyproject(text: str, *, file: str, version_file: str | None) -> str | None:
    """The literal version in a pyproject's text; None when it is dynamic and lives elsewhere."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # too deep: one line too
        raise ConfigError(f"{file} is not valid TOML: {exc}") from None
    project = data.get("project")
    if not isinstance(project, dict):
        raise ConfigError(f"{file} has no [project] table")
    dynamic = project.get("dynamic", [])
    if "version" in dynamic:
        if version_file is None:
            raise ConfigError(
                f"{file} declares dynamic version; set version-file for this component "
                "to the file holding __version__"
            )
        return None
    version = project.get("version")
    if not isinstance(version, str):
        raise ConfigError(f"{file} has no [project] version")
    return version


def version_from_module_text(text: str, *, file: str) -> str:
    """The `__version__` string assigned in a Python file's text."""
    match = _VERSION_ASSIGN.search(text)
    if match is None:
        raise ConfigError(f"{file} has no __version__ = '...' assignment")
    return match.group(2)


class MissingVersionFileError(Exception):
    """A file the component's version is read from is not there (`path`, repository-relative)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def version_literal(
    component: Component, read: Callable[[str], str | None], *, label: Callable[[str], str]
) -> str:
    """The literal version a component's files hold: `[project] version`, else `__version__`.

    The one reading of a component's version, wherever its files come from: `read(path)`
    gives a repository-relative file's text (None when it is absent, which raises
    MissingVersionFileError) and `label(path)` names that file in messages.
    """
    text = read(component.pyproject)
    if text is None:
        raise MissingVersionFileError(component.pyproject)
    literal = version_text_from_pyproject(
        text, file=label(component.pyproject), version_file=component.version_file
    )
    if literal is not None:
        return literal
    assert component.version_file is not None  # noqa: S101 - checked by the reader above
    module = read(component.version_file)
    if module is None:
        raise MissingVersionFileError(component.version_file)
    return version_from_module_text(module, file=label(component.version_file))


def read_version(root: Path, component: Component) -> Version:
    """The component's version as its files on disk say, validated as PEP 440."""
    pyproject = root / component.pyproject

    def read(relative: str) -> str | None:
        path = root / relative
        return read_text(path) if path.is_file() else None

    try:
        text = version_literal(component, read, label=lambda relative: str(root / relative))
    except MissingVersionFileError as missing:
        raise ConfigError(f"{root / missing.path} does not exist") from None
    try:
        return parse_version(text)
    except VersionError as exc:
        raise ConfigError(f"{pyproject}: {exc}") from None


def version_location(root: Path, component: Component) -> Path:
    """The file that holds the component's version literal."""
    pyproject = root / component.pyproject
    data = _load(pyproject)
    project = data.get("project")
    if isinstance(project, dict) and "version" in project.get("dynamic", []):
        if component.version_file is None:
            raise ConfigError(f"{pyproject} declares dynamic version; set version-file")
        return root / component.version_file
    return pyproject


def render_module_version(text: str, new: Version, *, file: str) -> str:
    """A Python file's text with its `__version__` assignment set to `new`."""
    version_from_module_text(text, file=file)  # says so when there is no such assignment
    return _VERSION_ASSIGN.sub(lambda m: f"{m.group(1)}{new}{m.group(3)}", text, 1)


def render_version(root: Path, component: Component, new: Version) -> tuple[Path, str]:
    """The file holding the version and its new text, formatting kept (nothing written)."""
    location = version_location(root, component)
    # Line endings as they are: a CRLF file must stay CRLF.
    with location.open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    if location.name == "pyproject.toml":
        # tomlkit (~6 ms) only for writing a version: reads use tomllib.
        import tomlkit  # noqa: PLC0415

        document = tomlkit.parse(text)
        project = document["project"]
        project["version"] = str(new)
        return location, tomlkit.dumps(document)
    return location, render_module_version(text, new, file=str(location))

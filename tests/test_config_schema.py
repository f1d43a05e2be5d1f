"""The `[tool.dexops]` schema: generated from the key declarations, agreeing with the loader."""

from __future__ import annotations

import functools
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest
from validate_pyproject import api, errors, plugins

from dexops.adapters.repo_files import LocalRepoFiles
from dexops.domain.config import config_problems, parse_config
from dexops.domain.config_schema import SCHEMA_FILE, render_schema
from dexops.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*/pyproject.toml"))

GOOD = """
[tool.dexops]
default-branch = "main"
[tool.dexops.components.lib]
kind = "library"
path = "lib"
[tool.dexops.components.web]
kind = "app"
path = "."
image = "registry.example/web"
build-args = { PYTHON = "3.12" }
[tool.dexops.environments.dev]
overlay = "overlays/dev"
branch = "dev"
[tool.dexops.indexes.corp]
upload-url = "https://corp.example/legacy/"
simple-url = "https://corp.example/simple/"
token-env = "CORP_TOKEN"
"""

# Each bad configuration: (what is wrong, old text, new text), applied to GOOD.
BAD = [
    ("unknown top-level key", 'default-branch = "main"', 'default-branch = "main"\ncolour = 1'),
    ("unknown component key", 'kind = "library"', 'kind = "library"\nimag = "x"'),
    ("unknown environment key", 'branch = "dev"', 'branch = "dev"\nargo-app = "x"'),
    ("unknown index key", 'token-env = "CORP_TOKEN"', 'token = "x"'),
    ("kind not a choice", 'kind = "library"', 'kind = "service"'),
    ("kind missing", 'kind = "library"\n', ""),
    ("path missing", 'path = "lib"\n', ""),
    ("app without image", 'image = "registry.example/web"\n', ""),
    ("overlay missing", 'overlay = "overlays/dev"\n', ""),
    ("branch missing", 'branch = "dev"\n', ""),
    ("empty string", 'branch = "dev"', 'branch = ""'),
    ("number for a string", 'branch = "dev"', "branch = 3"),
    ("string for a list", 'kind = "library"', 'kind = "library"\nwatch = "lib"'),
    ("empty list entry", 'kind = "library"', 'kind = "library"\nwatch = [""]'),
    ("string for a boolean", 'default-branch = "main"', 'default-branch = "main"\nsign = "yes"'),
    ("build-arg not a string", 'PYTHON = "3.12"', "PYTHON = 3.12"),
    ("list for a boolean", 'default-branch = "main"', 'default-branch = "main"\nsign = []'),
    ("absolute path", 'path = "lib"', 'path = "/etc"'),
    ("path climbing out", 'path = "lib"', 'path = "../outside"'),
    ("watch climbing out", 'kind = "library"', 'kind = "library"\nwatch = ["lib/../../x"]'),
    ("overlay climbing out", 'overlay = "overlays/dev"', 'overlay = "../../etc"'),
    ("bad component name", "components.lib]", "components.-lib]"),
    ("bad environment name", "environments.dev]", "environments.'dev env']"),
    ("url not http", "https://corp.example/legacy/", "ftp://corp.example/legacy/"),
    ("url with credentials", "https://corp.example/legacy/", "https://u:pw@corp.example/legacy/"),
    ("url without host", "https://corp.example/simple/", "https:///simple/"),
    ("token-env not a name", 'token-env = "CORP_TOKEN"', 'token-env = "CORP-TOKEN"'),
    ("role not a choice", 'token-env = "CORP_TOKEN"', 'role = "staging"'),
]


def _repo(tmp_path: Path) -> Path:
    for directory in ("lib", "overlays/dev"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "overlays/dev/kustomization.yaml").write_text("resources: []\n")
    return tmp_path


def _pyproject(table: str) -> dict[str, object]:
    return tomllib.loads('[project]\nname = "x"\nversion = "1"\n' + table)


@functools.cache
def _validator() -> api.Validator:
    # Compiling the schemas costs ~0.5 s: once for the module.
    return api.Validator()


def _schema_rejects(data: dict[str, object]) -> bool:
    try:
        _validator()(data)
    except errors.ValidationError:
        return True
    return False


def test_the_shipped_schema_is_the_generated_one() -> None:
    shipped = files("dexops").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    assert shipped == render_schema(), (
        f"regenerate: uv run python -m dexops.domain.config_schema > src/dexops/{SCHEMA_FILE}"
    )


def test_validate_pyproject_finds_the_plugin() -> None:
    assert "dexops" in {p.tool for p in plugins.list_from_entry_points()}


@pytest.mark.parametrize("pyproject", [*EXAMPLES, ROOT / "pyproject.toml"], ids=str)
def test_every_example_validates(pyproject: Path) -> None:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    _validator()(data)
    parse_config(
        data, root=pyproject.parent, file=pyproject, files=LocalRepoFiles(pyproject.parent)
    )


def test_the_good_configuration_passes_both(tmp_path: Path) -> None:
    data = _pyproject(GOOD)
    assert not _schema_rejects(data)
    root = _repo(tmp_path)
    parse_config(data, root=root, file=tmp_path / "pyproject.toml", files=LocalRepoFiles(root))


@pytest.mark.parametrize(("why", "old", "new"), BAD, ids=[b[0] for b in BAD])
def test_schema_and_loader_reject_the_same_bad_input(
    tmp_path: Path, why: str, old: str, new: str
) -> None:
    assert old in GOOD, why
    data = _pyproject(GOOD.replace(old, new, 1))
    assert _schema_rejects(data), f"schema accepts: {why}"
    root = _repo(tmp_path)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, root=root, file=tmp_path / "pyproject.toml", files=LocalRepoFiles(root))
    assert "pw" not in str(caught.value)


def test_config_problems_reports_every_error_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace('kind = "library"', 'kind = "service"')
        .replace('branch = "dev"', "branch = 3")
        .replace('path = "."', 'path = "missing"')
        .replace('default-branch = "main"', 'default-branch = "main"\ncolour = 1')
    )
    root = _repo(tmp_path)
    files = LocalRepoFiles(root)
    problems = config_problems(_pyproject(text), root=root, file=tmp_path / "x.toml", files=files)
    assert len(problems) == 4, problems
    for fragment in ("'service'", "branch must be", "'missing' does not exist", "colour"):
        assert any(fragment in p for p in problems), (fragment, problems)


def test_config_problems_is_empty_for_a_good_configuration(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    files = LocalRepoFiles(root)
    assert config_problems(_pyproject(GOOD), root=root, file=tmp_path / "x", files=files) == []

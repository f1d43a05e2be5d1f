"""`package.validate`: real builds of the example library with build, uv and twine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Cli, require_tool
from tests.gitrepo import GitRepo, install_this_checkout
from tests.snapshot import RepoSnapshot

pytestmark = pytest.mark.integration

LIB = "packages/dataenginex"

# The exact archives of the example library: the package, its metadata, its docs.
EXPECTED_WHEEL = [
    "dataenginex-0.4.10.dist-info/METADATA",
    "dataenginex-0.4.10.dist-info/RECORD",
    "dataenginex-0.4.10.dist-info/WHEEL",
    "dataenginex/__init__.py",
]
EXPECTED_SDIST = [
    "dataenginex-0.4.10/.gitignore",  # the repository's, shipped by hatchling on purpose
    "dataenginex-0.4.10/CHANGELOG.md",
    "dataenginex-0.4.10/PKG-INFO",
    "dataenginex-0.4.10/README.md",
    "dataenginex-0.4.10/pyproject.toml",
    "dataenginex-0.4.10/src/dataenginex/__init__.py",
]


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("git", "apt-get install git")
    require_tool("uv", "pip install uv")


def _validate(cli: Cli, repo: GitRepo, *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    result = cli("package.validate", *argv, "--json", cwd=repo.path)
    return result.code, json.loads(result.out), result.err


def test_the_example_library_builds_exactly_its_files(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    snapshot = RepoSnapshot.take(dex_repo)
    out = tmp_path / "dist"
    code, reports, err = _validate(cli, dex_repo, "dataenginex", "--out", str(out))
    assert code == 0, err
    (report,) = reports
    assert report["ok"] is True
    assert report["problems"] == []
    dists = {d["kind"]: d for d in report["dists"]}
    assert dists["wheel"]["filename"] == "dataenginex-0.4.10-py3-none-any.whl"
    assert dists["wheel"]["members"] == EXPECTED_WHEEL
    assert dists["sdist"]["filename"] == "dataenginex-0.4.10.tar.gz"
    assert dists["sdist"]["members"] == EXPECTED_SDIST
    for dist in dists.values():
        assert dist["checks"] == {"filename": [], "metadata": [], "files": [], "twine": []}
    assert sorted(p.name for p in (out / "dataenginex").iterdir()) == [
        "dataenginex-0.4.10-py3-none-any.whl",
        "dataenginex-0.4.10.tar.gz",
    ]
    # The build ran in a staged copy: the working tree did not gain a build/ or dist/.
    snapshot.assert_same(dex_repo)


def test_the_table_names_files_sizes_and_checks(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("package.validate", "all", cwd=dex_repo.path)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "dataenginex 0.4.10 (dataenginex)"
    assert lines[1].split() == [
        "file", "kind", "size", "members", "sha256", "filename", "metadata", "files", "twine",
    ]  # fmt: skip
    wheel = lines[3].split()
    assert wheel[:2] == ["dataenginex-0.4.10-py3-none-any.whl", "wheel"]
    assert wheel[-4:] == ["ok", "ok", "ok", "ok"]


def test_stray_tests_fail_unless_the_component_allows_them(dex_repo: GitRepo, cli: Cli) -> None:
    pyproject = dex_repo.path / LIB / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'include = ["src/dataenginex",', 'include = ["src/dataenginex", "tests",'
        ),
        encoding="utf-8",
    )
    dex_repo.commit("build: ship the tests in the sdist")
    code, reports, err = _validate(cli, dex_repo, "dataenginex")
    assert code == 1
    assert err == (
        "error: package validation failed: dataenginex: dataenginex-0.4.10.tar.gz: "
        "sdist holds stray files: tests/test_core.py\n"
    )
    assert reports[0]["ok"] is False

    root = dex_repo.path / "pyproject.toml"
    root.write_text(
        root.read_text(encoding="utf-8").replace(
            'changelog = "packages/dataenginex/CHANGELOG.md"',
            'changelog = "packages/dataenginex/CHANGELOG.md"\ndist-allow = ["tests/**"]',
        ),
        encoding="utf-8",
    )
    dex_repo.commit("build: the sdist ships its tests on purpose")
    code, reports, err = _validate(cli, dex_repo, "dataenginex")
    assert code == 0, err


def test_twine_check_strict_failures_are_reported(dex_repo: GitRepo, cli: Cli) -> None:
    pyproject = dex_repo.path / LIB / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('readme = "README.md"\n', ""),
        encoding="utf-8",
    )
    code, reports, err = _validate(cli, dex_repo, "dataenginex")
    assert code == 1
    assert err == (
        "error: package validation failed: dataenginex: dataenginex-0.4.10-py3-none-any.whl: "
        "`long_description_content_type` missing. defaulting to `text/x-rst`. (+3 more)\n"
    )
    twine = {d["kind"]: d["checks"]["twine"] for d in reports[0]["dists"]}
    assert "`long_description` missing." in twine["wheel"]


def test_a_wheel_without_code_fails(dex_repo: GitRepo, cli: Cli) -> None:
    pyproject = dex_repo.path / LIB / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'packages = ["src/dataenginex"]', 'packages = ["src/nosuchpackage"]'
        ),
        encoding="utf-8",
    )
    code, _, err = _validate(cli, dex_repo, "dataenginex")
    assert code == 1
    assert err == (
        "error: package validation failed: dataenginex: dataenginex-0.4.10-py3-none-any.whl: "
        "wheel installs no Python module or package\n"
    )


def test_a_broken_build_is_one_line(dex_repo: GitRepo, cli: Cli) -> None:
    pyproject = dex_repo.path / LIB / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'requires-python = ">=3.11"', 'requires-python = "three point eleven"'
        ),
        encoding="utf-8",
    )
    result = cli("package.validate", "dataenginex", cwd=dex_repo.path)
    assert result.code == 1
    assert result.err.startswith("error: build of dataenginex failed: ")
    assert result.err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("careerdex",), "error: careerdex is an app component, not a library\n"),
        (("nosuch",), "error: unknown component 'nosuch' (configured: careerdex, dataenginex)\n"),
    ],
)
def test_only_library_components_are_validated(
    dex_repo: GitRepo, cli: Cli, argv: tuple[str, ...], message: str
) -> None:
    result = cli("package.validate", *argv, cwd=dex_repo.path)
    assert result.code == 1
    assert result.err == message


def test_validate_into_the_same_folder_twice_replaces_the_files(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    assert _validate(cli, dex_repo, "dataenginex", "--out", str(out))[0] == 0
    (out / "dataenginex" / "notes.txt").write_text("mine", encoding="utf-8")
    refused = cli("package.validate", "dataenginex", "--out", str(out), cwd=dex_repo.path)
    assert refused.code == 1
    assert refused.err == f"error: {out / 'dataenginex'} holds other files (notes.txt)\n"
    (out / "dataenginex" / "notes.txt").unlink()
    assert _validate(cli, dex_repo, "dataenginex", "--out", str(out))[0] == 0
    assert len(list((out / "dataenginex").iterdir())) == 2


def test_the_example_nox_package_session_validates_through_dexops(dex_repo: GitRepo) -> None:
    """`nox -s package` in the example syncs its locked dev group (this checkout) and validates."""
    install_this_checkout(dex_repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOX") and k != "VIRTUAL_ENV"}
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--non-interactive", "-s", "package"],
        cwd=dex_repo.path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dataenginex-0.4.10-py3-none-any.whl" in done.stdout
    assert sorted(p.name for p in (dex_repo.path / "dist" / "dataenginex").iterdir()) == [
        "dataenginex-0.4.10-py3-none-any.whl",
        "dataenginex-0.4.10.tar.gz",
    ]


def test_help_names_component_or_all(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("--help", "package.validate", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "COMPONENT|all" in result.out
    docs = (Path(__file__).parents[2] / "docs" / "publishing.md").read_text(encoding="utf-8")
    assert "`package.validate COMPONENT\\|all`" in docs


def test_all_chooses_every_library(dex_repo: GitRepo) -> None:
    from dexops.workflows.package import chosen_libraries
    from dexops.workflows.workspace import Workspace

    assert [c.name for c in chosen_libraries(Workspace.open(str(dex_repo.path)), "all")] == [
        "dataenginex"
    ]

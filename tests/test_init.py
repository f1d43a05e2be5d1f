"""`init`: each repository shape, the example monorepo given back, re-runs, edited files kept."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from dexops.workflows.workspace import load_config
from tests.conftest import Cli
from tests.fixtures_pypi import PypiServers
from tests.gitrepo import GitRepo, example_repo, init_repo
from tests.snapshot import RepoSnapshot

GENERATED = (
    "tasks.py",
    "noxfile.py",
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
)
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-{env}
resources:
  - ../../base
images:
  - name: shop
    newName: registry.example/acme/shop
    newTag: sha-0a1b2c3d
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
"""
APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop-{env}
spec:
  source:
    path: deploy/overlays/{env}
"""


def _strip_dexops(repo: GitRepo) -> None:
    """The example without dexops' files: no [tool.dexops], tasks.py, noxfile.py, workflows."""
    pyproject = repo.path / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text[: text.index("# --- dexops")])
    for name in ("tasks.py", "noxfile.py"):
        (repo.path / name).unlink()
    shutil.rmtree(repo.path / ".github")


def _plan(cli: Cli, repo: GitRepo) -> dict[str, object]:
    result = cli("pipeline.plan", "--json", cwd=repo.path)
    assert result.code == 0, result.err
    plan: dict[str, object] = json.loads(result.out)
    del plan["digest"]  # covers the configuration file's bytes, which init writes anew
    return plan


def _pyproject(name: str) -> str:
    return f'[project]\nname = "{name}"\nversion = "1.0.0"\n'


def _commit_all(repo: GitRepo) -> None:
    repo.git("add", "-A")
    repo.git("commit", "--quiet", "-m", "initial")
    repo.push("HEAD:main")


def test_init_gives_back_the_example_pipeline(
    dex_repo: GitRepo, cli: Cli, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan asks the package indexes what they lack: local pypiservers answer. Which
    # indexes an adopter uses is theirs to say; they add them after init as before.
    pypi_servers.configure(dex_repo.path, monkeypatch)
    dex_repo.commit("ci: the local package indexes")
    before = load_config(dex_repo.path)
    plan_before = _plan(cli, dex_repo)
    _strip_dexops(dex_repo)
    result = cli("init", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "monorepo" in result.out
    pypi_servers.configure(dex_repo.path, monkeypatch)
    after = load_config(dex_repo.path)
    assert after.default_branch == before.default_branch
    assert after.components == before.components
    # Argo CD application names and the moving tag are nowhere in the repository to read.
    assert after.environments == {
        name: replace(env, argocd_app=None, moving_tag=None)
        for name, env in before.environments.items()
    }
    assert _plan(cli, dex_repo) == plan_before
    doctor = cli("doctor", cwd=dex_repo.path)
    assert doctor.code == 0, doctor.out + doctor.err
    for name in (*GENERATED, ".github/workflows/cd.yml"):
        assert (dex_repo.path / name).is_file(), name


def test_a_second_run_changes_nothing(dex_repo: GitRepo, cli: Cli) -> None:
    _strip_dexops(dex_repo)
    assert cli("init", cwd=dex_repo.path).code == 0
    before = RepoSnapshot.take(dex_repo)
    again = cli("init", cwd=dex_repo.path)
    assert again.code == 0
    assert again.out.count("is up to date") == 6, again.out
    before.assert_same(dex_repo)


def test_an_edited_file_is_never_overwritten(dex_repo: GitRepo, cli: Cli) -> None:
    _strip_dexops(dex_repo)
    assert cli("init", cwd=dex_repo.path).code == 0
    tasks = dex_repo.path / "tasks.py"
    edited = tasks.read_text() + "# my own task\n"
    tasks.write_text(edited)
    pyproject = dex_repo.path / "pyproject.toml"
    table_edited = pyproject.read_text().replace('namespace = "dex-prod"', 'namespace = "prod"')
    pyproject.write_text(table_edited)
    result = cli("init", cwd=dex_repo.path)
    assert result.code == 0
    assert "init: leaving tasks.py alone: edited since init wrote it" in result.err
    assert "init: leaving pyproject.toml alone: its [tool.dexops] was edited" in result.err
    assert tasks.read_text() == edited
    assert pyproject.read_text() == table_edited


def test_files_init_did_not_write_are_kept(dex_repo: GitRepo, cli: Cli) -> None:
    before = RepoSnapshot.take(dex_repo)
    result = cli("init", cwd=dex_repo.path)
    assert result.code == 0
    assert "leaving pyproject.toml alone: its [tool.dexops] was not written by init" in result.err
    assert "leaving tasks.py alone: init did not write it" in result.err
    assert "leaving .github/workflows/cd.yml alone: init did not write it" in result.err
    before.assert_same(dex_repo)


def test_dry_run_shows_the_diff_and_writes_nothing(dex_repo: GitRepo, cli: Cli) -> None:
    _strip_dexops(dex_repo)
    before = RepoSnapshot.take(dex_repo)
    result = cli("init", "--dry-run", cwd=dex_repo.path)
    assert result.code == 0
    assert "+[tool.dexops.components.dataenginex]" in result.out
    assert "--- a/pyproject.toml" in result.out
    assert "would create tasks.py" in result.out
    before.assert_same(dex_repo)


def test_a_single_library_with_v_tags(
    tmp_path: Path, cli: Cli, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = init_repo(tmp_path / "lib", tmp_path / "lib.git")
    repo.write("pyproject.toml", _pyproject("tinylib"))
    repo.write("src/tinylib/__init__.py", "")
    repo.write("CHANGELOG.md", "# Changelog\n")
    _commit_all(repo)
    repo.git("tag", "v0.9.0")
    result = cli("init", cwd=repo.path)
    assert result.code == 0, result.err
    assert "single-library" in result.out
    config = load_config(repo.path)
    lib = config.component("tinylib")
    assert (lib.kind, lib.path, lib.tag_prefix, lib.changelog) == (
        "library",
        ".",
        "v",
        "CHANGELOG.md",
    )
    assert not (repo.path / ".github/workflows/cd.yml").exists()
    pypi_servers.configure(repo.path, monkeypatch)
    assert _plan(cli, repo)["releases"]


def test_an_app_only_repository_with_argocd_applications(tmp_path: Path, cli: Cli) -> None:
    repo = init_repo(tmp_path / "shop", tmp_path / "shop.git")
    repo.write("pyproject.toml", _pyproject("shop"))
    repo.write("src/shop/__init__.py", "")
    repo.write("Dockerfile", "FROM python:3.12-slim\n")
    repo.write("deploy/base/kustomization.yaml", "resources:\n  - deployment.yaml\n")
    repo.write("deploy/base/deployment.yaml", DEPLOYMENT)
    for env in ("prod", "dev"):
        repo.write(f"deploy/overlays/{env}/kustomization.yaml", KUSTOMIZATION.format(env=env))
        repo.write(f"deploy/argocd/{env}.yaml", APPLICATION.format(env=env))
    _commit_all(repo)
    repo.push("HEAD:dev")
    result = cli("init", cwd=repo.path)
    assert result.code == 0, result.err
    assert "app-only" in result.out
    config = load_config(repo.path)
    app = config.component("shop")
    assert (app.kind, app.image, app.watch) == ("app", "registry.example/acme/shop", ())
    dev, prod = config.environment("dev"), config.environment("prod")
    assert (dev.branch, dev.promote_from, dev.argocd_app, dev.namespace, dev.deployment) == (
        "dev",
        None,
        "shop-dev",
        "shop-dev",
        "shop",
    )
    assert (prod.branch, prod.promote_from) == ("main", "dev")
    assert (repo.path / ".github/workflows/cd.yml").is_file()
    assert _plan(cli, repo)["environments"]


def test_libraries_without_an_app(tmp_path: Path, cli: Cli) -> None:
    repo = init_repo(tmp_path / "libs", tmp_path / "libs.git")
    repo.write("pyproject.toml", '[tool.uv.workspace]\nmembers = ["packages/*"]\n')
    for name in ("alpha", "beta"):
        repo.write(f"packages/{name}/pyproject.toml", _pyproject(name))
    _commit_all(repo)
    repo.git("tag", "alpha/v1.0.0")
    result = cli("init", cwd=repo.path)
    assert result.code == 0, result.err
    config = load_config(repo.path)
    assert {c.name: c.tag_prefix for c in config.components.values()} == {
        "alpha": "alpha/v",
        "beta": "beta-v",
    }
    assert '"alpha", "beta"' in (repo.path / "noxfile.py").read_text()


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("nothing", "pyproject.toml does not exist"),
        ("no-name", "no [project] name"),
        ("not-toml", "is not valid TOML"),
    ],
)
def test_bad_repositories_are_one_line_errors(
    tmp_path: Path, cli: Cli, setup: str, fragment: str
) -> None:
    repo = init_repo(tmp_path / "r", tmp_path / "r.git")
    if setup == "no-name":
        repo.write("pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    elif setup == "not-toml":
        repo.write("pyproject.toml", "[project\n")
    result = cli("init", cwd=repo.path)
    assert result.code == 1
    assert result.err.startswith("error: ")
    assert fragment in result.err
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err


def test_init_gives_back_the_single_library_pipeline(
    tmp_path: Path, cli: Cli, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = example_repo(tmp_path, "single-library")
    pypi_servers.configure(repo.path, monkeypatch)
    repo.commit("ci: the local package indexes")
    before = load_config(repo.path)
    plan_before = _plan(cli, repo)
    _strip_dexops(repo)
    result = cli("init", cwd=repo.path)
    assert result.code == 0, result.err
    pypi_servers.configure(repo.path, monkeypatch)
    after = load_config(repo.path)
    assert after.default_branch == before.default_branch
    assert after.environments == before.environments == {}
    (component,) = after.components.values()
    expected = before.components["slugkit"]
    assert (component.name, component.kind, component.path, component.tag_prefix) == (
        expected.name,
        expected.kind,
        expected.path,
        expected.tag_prefix,
    )
    assert _plan(cli, repo) == plan_before
    doctor = cli("doctor", cwd=repo.path)
    assert doctor.code == 0, doctor.out + doctor.err

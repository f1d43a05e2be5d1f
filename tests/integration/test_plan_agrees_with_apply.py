"""`pipeline.plan` decides what the apply tasks then do, in every repository state.

For each state of the monorepo (its library released or not, tagged on origin or not, on
which of the two local pypiservers) the plan is made, then every apply task the workflows
run is run for real, as the plan's matrices would start it: `release.<component>` against
the bare origin, `publish.dataenginex --tag T` against both indexes, `image.tags` and
`deploy.update --push`. What each one did (tags on origin, files gained per index, overlays
changed) must be exactly what the plan said. Integration: each state builds the library
two or three times and the six take minutes on this machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.conftest import Cli
from tests.fixtures_pypi import PypiServers
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.integration

LIBRARY = "dataenginex"
OVERLAYS = {
    env: f"infra/argocd/overlays/{env}/kustomization.yaml" for env in ("dev", "stage", "prod")
}


@pytest.fixture
def repo(dex_repo: GitRepo, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """The monorepo on main, pointed at the two local indexes, pushed."""
    pypi_servers.configure(dex_repo.path, monkeypatch)
    dex_repo.commit("ci: the local package indexes")
    dex_repo.push("main")
    monkeypatch.setattr("dexops.adapters.package_index.READ_BACKOFF", 0.01)
    return dex_repo


def _ok(cli: Cli, repo: GitRepo, *argv: str) -> str:
    result = cli(*argv, cwd=repo.path)
    assert result.code == 0, f"{argv}: {result.err}"
    return result.out


def _released_and_published(cli: Cli, repo: GitRepo) -> None:
    """Every component released at HEAD and the library on both indexes."""
    _ok(cli, repo, "release.all")
    _ok(cli, repo, f"publish.{LIBRARY}")


def _commit(repo: GitRepo, path: str, text: str, message: str) -> None:
    repo.write(path, text)
    repo.commit(message)
    repo.push("main")


def _bump(part: str) -> Callable[[Cli, GitRepo, PypiServers], None]:
    def arrange(cli: Cli, repo: GitRepo, servers: PypiServers) -> None:
        _released_and_published(cli, repo)
        _ok(cli, repo, "version.bump", LIBRARY, "--part", part)
        if repo.git("status", "--porcelain"):
            repo.commit(f"chore: {LIBRARY} {part} bump")
        repo.push("main")

    return arrange


def _no_change(cli: Cli, repo: GitRepo, servers: PypiServers) -> None:
    _released_and_published(cli, repo)
    _commit(repo, "src/careerdex/extra.py", "X = 1\n", "feat: the app only")


def _tag_on_origin_only(cli: Cli, repo: GitRepo, servers: PypiServers) -> None:
    _ok(cli, repo, "release.all")


def _test_index_only(cli: Cli, repo: GitRepo, servers: PypiServers) -> None:
    _released_and_published(cli, repo)
    for path in list(servers.production.packages.iterdir()):
        path.unlink()  # PyPI refused the upload after TestPyPI took it: half-finished


def _published_everywhere(cli: Cli, repo: GitRepo, servers: PypiServers) -> None:
    _released_and_published(cli, repo)


STATES: dict[str, Callable[[Cli, GitRepo, PypiServers], None]] = {
    "no-change": _no_change,
    "version-bumped": _bump("patch"),
    "pre-release": _bump("pre"),
    "tag-on-origin-not-published": _tag_on_origin_only,
    "published-to-the-test-index-only": _test_index_only,
    "published-everywhere": _published_everywhere,
}
# What the plan says in each state: (release actions, the indexes it publishes the library to).
EXPECTED: dict[str, tuple[dict[str, str], set[str]]] = {
    "no-change": ({"dataenginex": "unchanged", "careerdex": "unchanged"}, set()),
    "version-bumped": (
        {"dataenginex": "release", "careerdex": "unchanged"},
        {"test", "production"},
    ),
    "pre-release": ({"dataenginex": "release", "careerdex": "unchanged"}, {"test"}),
    "tag-on-origin-not-published": (
        {"dataenginex": "released", "careerdex": "released"},
        {"test", "production"},
    ),
    "published-to-the-test-index-only": (
        {"dataenginex": "released", "careerdex": "released"},
        {"production"},
    ),
    "published-everywhere": ({"dataenginex": "released", "careerdex": "released"}, set()),
}


def _origin_tags(repo: GitRepo) -> dict[str, str]:
    out = repo.origin_git("for-each-ref", "--format=%(refname:strip=2) %(*objectname)", "refs/tags")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def _index_files(servers: PypiServers) -> dict[str, set[str]]:
    return {
        "test": set(servers.test.files()),
        "production": set(servers.production.files()),
    }


def _overlay_tags(repo: GitRepo) -> dict[str, str]:
    tags = {}
    for env, path in OVERLAYS.items():
        branch = "dev" if env == "dev" else "main"
        text = repo.origin_git("show", f"{branch}:{path}")
        tags[env] = text.split("newTag: ", 1)[1].split()[0]
    return tags


@pytest.mark.parametrize("state", list(STATES))
def test_the_plan_is_what_the_apply_tasks_do(
    state: str, repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    STATES[state](cli, repo, pypi_servers)
    plan: dict[str, Any] = json.loads(_ok(cli, repo, "pipeline.plan", "--json"))
    releases = {r["component"]: r for r in plan["releases"]}
    (publish,) = plan["publishes"]
    expected_releases, expected_indexes = EXPECTED[state]
    planned_indexes = {
        role for role, key in (("test", "test_index"), ("production", "production_index"))
        if publish[key]
    }  # fmt: skip
    # The state is the one named (the plan's decisions, checked once by hand) ...
    assert {c: r["action"] for c, r in releases.items()} == expected_releases
    assert planned_indexes == expected_indexes
    assert publish["action"] == ("publish" if expected_indexes else "skip")
    matrices = plan["matrices"]
    assert {row["component"] for row in matrices["release"]["include"]} == {
        c for c, r in releases.items() if r["action"] == "release"
    }

    # ... and each apply task does exactly that. release.all decides the same per component:
    # a tag to make ("release"), one at HEAD already ("released"), or nothing ("unchanged").
    dry = json.loads(_ok(cli, repo, "release.all", "--dry-run", "--json"))
    decided = {
        r["component"]: "released" if r["tag_exists_on_origin"] else "release"
        for r in dry["releases"]
    }
    decided |= {line.split(":", 1)[0]: "unchanged" for line in dry["skipped"]}
    assert decided == {c: r["action"] for c, r in releases.items()}
    # The release job's matrix, run for real: exactly the planned tags appear, at HEAD.
    head, before = repo.head(), _origin_tags(repo)
    for row in matrices["release"]["include"]:
        _ok(cli, repo, f"release.{row['component']}")
    after = _origin_tags(repo)
    created = {tag: commit for tag, commit in after.items() if tag not in before}
    planned = {r["tag"]: head for r in releases.values() if r["action"] == "release"}
    assert created == planned
    assert all(after[tag] == before[tag] for tag in before)

    # publish.dataenginex --tag T (the build job's command, uploading itself): the files
    # reach exactly the indexes the plan's test-index and production-index matrices list.
    files = _index_files(pypi_servers)
    out = json.loads(_ok(cli, repo, f"publish.{LIBRARY}", "--tag", publish["tag"], "--json"))
    gained = {role for role, names in _index_files(pypi_servers).items() if names - files[role]}
    assert gained == planned_indexes, out
    uploading = {t["role"] for t in out["indexes"] if t["action"] == "upload"}
    assert uploading == planned_indexes, out
    for role, key in (("test", "test-index"), ("production", "production-index")):
        listed = [row["tag"] for row in matrices[key]["include"]]
        assert listed == ([publish["tag"]] if role in planned_indexes else [])

    # The image and CD: image.tags gives the plan's tags; deploy.update changes exactly the
    # environments the plan updates (stage on main; prod is promotion-only, dev another branch).
    (image,) = plan["images"]
    tags = json.loads(
        _ok(
            cli, repo, "image.tags", "--component", image["component"], "--branch", "main", "--json"
        )
    )
    assert tags["tags"] == image["tags"]
    overlays = _overlay_tags(repo)
    _ok(cli, repo, "deploy.update", "--branch", "main", "--image-tag", image["tags"][0], "--push")
    now = _overlay_tags(repo)
    changed = {env for env in now if now[env] != overlays[env]}
    envs = {e["environment"]: e for e in plan["environments"]}
    assert changed == {env for env, e in envs.items() if e["action"] == "update"}
    assert changed == {"stage"}
    assert all(now[env] == envs[env]["new_tag"] for env in changed)

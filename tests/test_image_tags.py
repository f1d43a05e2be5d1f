from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dexops.domain.image_tags import (
    TagRules,
    image_tags,
    moving_tags_by_branch,
    oci_labels,
    sha_tag,
    source_url,
)
from dexops.domain.imageref import ImageRefError, validate_tag
from dexops.errors import ConfigError
from tests.conftest import Cli
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

COMMIT = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
RULES = TagRules(default_branch="main", moving_tags={"dev": ("dev",)})


def test_tags_on_the_default_branch() -> None:
    tags = image_tags(commit=COMMIT, branch="main", version="0.3.5", rules=RULES)
    assert tags == ("sha-0a1b2c3d", "latest", "v0.3.5")


def test_tags_on_an_environment_branch() -> None:
    assert image_tags(commit=COMMIT, branch="dev", version="0.3.5", rules=RULES) == (
        "sha-0a1b2c3d",
        "dev",
    )


@pytest.mark.parametrize("branch", ["feature/login", None])
def test_tags_on_a_feature_branch_or_pull_request(branch: str | None) -> None:
    assert image_tags(commit=COMMIT, branch=branch, version="0.3.5", rules=RULES) == (
        "sha-0a1b2c3d",
    )


def test_rules_are_configurable() -> None:
    rules = TagRules(
        default_branch="trunk",
        release_tags=("stable", "{version}", "v{version}"),
        moving_tags={"trunk": ("edge", "stable")},
    )
    tags = image_tags(commit=COMMIT, branch="trunk", version="1.0.0+build.7", rules=rules)
    # '+' is not allowed in tags; duplicates collapse in order.
    assert tags == ("sha-0a1b2c3d", "stable", "1.0.0-build.7", "v1.0.0-build.7", "edge")
    assert image_tags(commit=COMMIT, branch="main", version="1.0", rules=rules) == ("sha-0a1b2c3d",)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (TagRules("main", release_tags=("sha-deadbeef",)), "reserved"),
        (TagRules("main", release_tags=("sha-{version}",)), "exactly 8"),
        (TagRules("main", release_tags=("v{major}",)), "placeholder"),
        (TagRules("main", release_tags=("-x",)), "invalid"),
        (TagRules("main", moving_tags={"main": ("a b",)}), "moving tag"),
    ],
)
def test_bad_rules_are_config_errors(rules: TagRules, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        image_tags(commit=COMMIT, branch="main", version="1.0", rules=rules)


def test_sha_tag_needs_a_full_commit() -> None:
    assert sha_tag("f" * 64) == "sha-ffffffff"
    for bad in ("0a1b2c3d", "Z" * 40, "-" + "a" * 39):
        with pytest.raises(ImageRefError):
            sha_tag(bad)


@given(st.from_regex(r"[0-9a-f]{40}", fullmatch=True), st.sampled_from(["main", "dev", "x"]))
def test_every_tag_is_valid_and_the_sha_tag_is_first(commit: str, branch: str) -> None:
    tags = image_tags(commit=commit, branch=branch, version="2.0.0rc1", rules=RULES)
    assert tags[0] == f"sha-{commit[:8]}"
    assert all(validate_tag(t) == t for t in tags)
    assert len(set(tags)) == len(tags)


def test_moving_tags_by_branch_groups_environments() -> None:
    assert moving_tags_by_branch(
        [("dev", "dev"), ("main", None), ("dev", "dev"), ("qa", "qa")]
    ) == {
        "dev": ("dev",),
        "qa": ("qa",),
    }


def test_labels() -> None:
    labels = oci_labels(
        commit=COMMIT,
        source="https://github.com/o/r",
        version="0.3.5",
        created="2025-01-01T00:00:00Z",
        title="careerdex",
    )
    assert labels == {
        "org.opencontainers.image.created": "2025-01-01T00:00:00Z",
        "org.opencontainers.image.revision": COMMIT,
        "org.opencontainers.image.source": "https://github.com/o/r",
        "org.opencontainers.image.title": "careerdex",
        "org.opencontainers.image.version": "0.3.5",
    }


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:TheDataEngineX/DEX.git", "https://github.com/TheDataEngineX/DEX"),
        ("https://x-access-token:secret@github.com/o/r.git", "https://github.com/o/r"),
        ("ssh://git@gitlab.example.com:2222/g/r.git", "https://gitlab.example.com/g/r"),
        ("/tmp/origin.git", None),
        ("file:///tmp/origin.git", None),
    ],
)
def test_source_url(remote: str, url: str | None) -> None:
    assert source_url(remote) == url


# --- the task, on the example monorepo ----------------------------------------------------


def _tags(cli: Cli, repo: GitRepo, *argv: str) -> dict[str, Any]:
    result = cli("image.tags", "--json", *argv, cwd=repo.path)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def test_task_on_main_dev_and_a_feature_branch(dex_repo: GitRepo, cli: Cli) -> None:
    head = dex_repo.head()
    main = _tags(cli, dex_repo)
    assert main["tags"] == [f"sha-{head[:8]}", "latest", "v0.3.5"]
    assert main["refs"] == [f"ghcr.io/thedataenginex/dex:{t}" for t in main["tags"]]
    labels = main["labels"]
    assert isinstance(labels, dict)
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.version"] == "0.3.5"
    assert labels["org.opencontainers.image.title"] == "careerdex"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert "org.opencontainers.image.source" not in labels  # origin is a local path

    dex_repo.git("checkout", "--quiet", "dev")
    assert _tags(cli, dex_repo)["tags"] == [f"sha-{head[:8]}", "dev"]
    dex_repo.git("checkout", "--quiet", "-b", "feature/x")
    assert _tags(cli, dex_repo)["tags"] == [f"sha-{head[:8]}"]
    assert _tags(cli, dex_repo, "--branch", "main")["tags"] == [
        f"sha-{head[:8]}",
        "latest",
        "v0.3.5",
    ]


def test_task_registry_override(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEXOPS_REGISTRY", "127.0.0.1:5000")
    assert _tags(cli, dex_repo)["image"] == "127.0.0.1:5000/thedataenginex/dex"
    assert _tags(cli, dex_repo, "--registry", "localhost:6000")["image"] == (
        "localhost:6000/thedataenginex/dex"
    )


def test_task_uses_the_pushed_head_under_actions_not_the_merge_commit(
    dex_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pr_head = "1234abcd" + "0" * 32
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": pr_head}, "base": {}}}))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "TheDataEngineX/DEX")
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    data = _tags(cli, dex_repo)
    # A pull request build gets only its immutable tag, named for the PR's head commit.
    assert data["tags"] == ["sha-1234abcd"]
    source = data["labels"]["org.opencontainers.image.source"]
    assert source == "https://github.com/TheDataEngineX/DEX"
    assert "sha-tag=sha-1234abcd" in output.read_text()

    event.write_text(json.dumps({"after": dex_repo.head(), "before": "0" * 40}))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_REF_TYPE", "branch")
    monkeypatch.setenv("GITHUB_REF_NAME", "dev")
    assert _tags(cli, dex_repo)["tags"] == [f"sha-{dex_repo.head()[:8]}", "dev"]


@pytest.mark.parametrize(
    "argv",
    [
        ("image.tags", "--branch", "-x"),
        ("image.tags", "--branch", "a..b"),
        ("image.tags", "--component", "dataenginex"),
        ("image.tags", "--component", "nosuch"),
        ("image.tags", "--registry", "bad host"),
    ],
)
def test_task_bad_input_is_one_line(dex_repo: GitRepo, cli: Cli, argv: tuple[str, ...]) -> None:
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli(*argv, cwd=dex_repo.path)
    assert result.code == 1
    assert result.err.startswith("error: ")
    assert result.err.count("\n") == 1
    snapshot.assert_same(dex_repo)


def test_release_tags_config_key(dex_repo: GitRepo, cli: Cli) -> None:
    pyproject = dex_repo.path / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text.replace(
            'image = "ghcr.io/thedataenginex/dex"',
            'image = "ghcr.io/thedataenginex/dex"\nrelease-tags = ["stable"]',
        )
    )
    assert _tags(cli, dex_repo)["tags"] == [f"sha-{dex_repo.head()[:8]}", "stable"]
    pyproject.write_text(
        text.replace(
            'image = "ghcr.io/thedataenginex/dex"',
            'image = "ghcr.io/thedataenginex/dex:v1"',
        )
    )
    result = cli("image.tags", cwd=dex_repo.path)
    assert result.code == 1
    assert "must not carry a tag" in result.err

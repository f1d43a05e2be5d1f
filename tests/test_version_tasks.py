from __future__ import annotations

import json

from tests.conftest import Cli
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot


def test_show_lists_every_component(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("version.show", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    rows = {row["component"]: row for row in json.loads(result.out)}
    assert rows["dataenginex"]["version"] == "0.4.10"
    assert rows["careerdex"]["version"] == "0.3.5"
    assert rows["dataenginex"]["latest_tag"] is None


def test_show_counts_commits_since_the_latest_pep440_tag(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("tag", "dataenginex-v0.4.10")
    dex_repo.git("tag", "dataenginex-v0.4.10rc1")
    dex_repo.write("packages/dataenginex/src/dataenginex/extra.py", "X = 1\n")
    dex_repo.commit("feat: extra")
    dex_repo.write("src/careerdex/other.py", "Y = 1\n")
    dex_repo.commit("feat: app only")
    rows = {
        r["component"]: r for r in json.loads(cli("version.show", "--json", cwd=dex_repo.path).out)
    }
    assert rows["dataenginex"]["latest_tag"] == "dataenginex-v0.4.10"
    assert rows["dataenginex"]["commits_since_tag"] == 1
    assert rows["dataenginex"]["tag_at_head"] is False


def test_bump_commits_only_the_version_and_its_lock_entry(dex_repo: GitRepo, cli: Cli) -> None:
    before = dex_repo.head()
    lock_before = (dex_repo.path / "uv.lock").read_text()
    result = cli("version.bump", "dataenginex", "--part", "minor", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "0.4.10 -> 0.5.0" in result.out
    assert dex_repo.git("rev-parse", "HEAD~1") == before
    assert dex_repo.git("show", "--name-only", "--format=%s", "HEAD").splitlines() == [
        "chore: bump dataenginex to 0.5.0",
        "",
        "packages/dataenginex/pyproject.toml",
        "uv.lock",  # the workspace member's entry, so `uv lock --check` still passes
    ]
    lock_after = (dex_repo.path / "uv.lock").read_text()
    changed = [
        (a, b)
        for a, b in zip(lock_before.splitlines(), lock_after.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [('version = "0.4.10"', 'version = "0.5.0"')]
    text = (dex_repo.path / "packages/dataenginex/pyproject.toml").read_text()
    assert 'version = "0.5.0"' in text
    assert 'requires-python = ">=3.11"' in text  # the rest of the file is untouched


def test_changed_sees_the_bump(dex_repo: GitRepo, cli: Cli) -> None:
    cli("version.bump", "careerdex", "--to", "0.4.0", cwd=dex_repo.path)
    result = cli("version.changed", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert json.loads(result.out)["changed"] == ["careerdex"]


def test_dry_run_and_bad_bumps_change_nothing(dex_repo: GitRepo, cli: Cli) -> None:
    snapshot = RepoSnapshot.take(dex_repo)
    assert (
        cli("version.bump", "dataenginex", "--part", "patch", "--dry-run", cwd=dex_repo.path).code
        == 0
    )
    for argv in (
        ("version.bump", "nosuch", "--part", "patch"),
        ("version.bump", "dataenginex", "--to", "0.4.9"),
        ("version.bump", "dataenginex", "--to", "not-a-version"),
        ("version.bump", "dataenginex", "--part", "sideways"),
    ):
        result = cli(*argv, cwd=dex_repo.path)
        assert result.code == 1
        assert result.err.count("\n") == 1
        assert result.err.startswith("error: ")
        assert "Traceback" not in result.err
    snapshot.assert_same(dex_repo)

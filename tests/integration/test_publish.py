"""`publish.<component>` against two real pypiserver indexes and a real git repository."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from tests.conftest import Cli, require_tool
from tests.fixtures_pypi import TEST_TOKEN_ENV, PypiServers
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

pytestmark = pytest.mark.integration

LIB = "packages/dataenginex"
SDIST = "dataenginex-{v}.tar.gz"
WHEEL = "dataenginex-{v}-py3-none-any.whl"


def _files(version: str) -> set[str]:
    return {SDIST.format(v=version), WHEEL.format(v=version)}


@pytest.fixture
def repo(dex_repo: GitRepo, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """The example monorepo configured for the two local indexes, credentials in the env."""
    require_tool("git", "apt-get install git")
    require_tool("uv", "pip install uv")
    pypi_servers.configure(dex_repo.path, monkeypatch)
    dex_repo.commit("ci: publish to the local indexes")
    # Retries stay bounded and real; only the pauses between them are shortened.
    monkeypatch.setattr("dexops.adapters.package_index.READ_BACKOFF", 0.01)
    return dex_repo


def _release(repo: GitRepo, version: str, *, change: str | None = None) -> str:
    """Commit a version (and optionally a code change) of the library and tag it."""
    path = repo.path / LIB / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    current = text.split('version = "', 1)[1].split('"', 1)[0]
    path.write_text(text.replace(f'version = "{current}"', f'version = "{version}"', 1))
    if change is not None:
        repo.write(f"{LIB}/src/dataenginex/extra.py", change)
    repo.commit(f"chore: bump dataenginex to {version}")
    tag = f"dataenginex-v{version}"
    repo.git("tag", "-a", "-m", tag, tag)
    return tag


def _one_error_line(err: str) -> str:
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def _no_secrets(servers: PypiServers, *texts: str) -> None:
    for text in texts:
        # `::add-mask::` lines are how the runner learns what to hide; nothing else may show.
        shown = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
        assert servers.test.password not in shown
        assert servers.production.password not in shown


def test_stable_release_reaches_both_indexes_and_a_rerun_skips(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    repo.git("tag", "-a", "-m", "first", "dataenginex-v0.4.10")
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 0, result.err
    assert set(pypi_servers.test.files()) == _files("0.4.10")
    assert set(pypi_servers.production.files()) == _files("0.4.10")
    assert "localtest (test): uploaded dataenginex-0.4.10.tar.gz" in result.out
    assert "localprod (production): uploaded dataenginex-0.4.10-py3-none-any.whl" in result.out
    _no_secrets(pypi_servers, result.out, result.err)
    before = (pypi_servers.test.files(), pypi_servers.production.files())

    again = cli("publish.dataenginex", "--json", cwd=repo.path)
    assert again.code == 0, again.err
    plan = json.loads(again.out)
    assert plan["decision"] == "publish"
    assert plan["tag"] == "dataenginex-v0.4.10"
    assert plan["previous_tag"] is None
    assert [(i["name"], i["action"]) for i in plan["indexes"]] == [
        ("localtest", "skip"),
        ("localprod", "skip"),
    ]
    assert {f["status"] for i in plan["indexes"] for f in i["files"]} == {"present"}
    assert (pypi_servers.test.files(), pypi_servers.production.files()) == before


def test_prerelease_stops_after_the_test_index(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    _release(repo, "0.5.0rc1")
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 0, result.err
    assert set(pypi_servers.test.files()) == _files("0.5.0rc1")
    assert pypi_servers.production.files() == {}
    assert (
        "localprod (production): not published: 0.5.0rc1 is a pre-release; "
        "localprod takes stable versions only" in result.out
    )


def test_release_without_changes_under_the_component_is_skipped(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    repo.git("tag", "-a", "-m", "first", "dataenginex-v0.4.10")
    repo.write("src/careerdex/other.py", "Y = 1\n")
    repo.commit("feat: app only")
    repo.git("tag", "-a", "-m", "stray", "dataenginex-v0.4.11")
    result = cli("publish.dataenginex", "--tag", "dataenginex-v0.4.11", cwd=repo.path)
    assert result.code == 0, result.err
    assert (
        "skip: nothing under packages/dataenginex changed since dataenginex-v0.4.10" in result.out
    )
    assert pypi_servers.test.files() == {}
    assert pypi_servers.production.files() == {}


def test_previous_release_is_found_in_pep440_order_among_ancestors(repo: GitRepo, cli: Cli) -> None:
    repo.git("tag", "-a", "-m", "old", "dataenginex-v0.4.10")
    _release(repo, "0.4.11rc1", change="A = 1\n")
    _release(repo, "0.4.11", change="A = 2\n")
    # A higher version tagged on a side branch is not an ancestor: it does not count.
    repo.git("checkout", "--quiet", "-b", "side", "HEAD~2")
    repo.write(f"{LIB}/src/dataenginex/side.py", "S = 1\n")
    repo.commit("feat: side")
    repo.git("tag", "-a", "-m", "side", "dataenginex-v0.9.0")
    repo.git("checkout", "--quiet", "main")
    result = cli("publish.dataenginex", "--dry-run", "--json", cwd=repo.path)
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["previous_tag"] == "dataenginex-v0.4.11rc1"
    assert plan["changed"] == [
        "packages/dataenginex/pyproject.toml",
        "packages/dataenginex/src/dataenginex/extra.py",
    ]


def test_dry_run_shows_each_index_and_uploads_nothing(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    _release(repo, "0.4.11", change="X = 1\n")
    snapshot = RepoSnapshot.take(repo)
    result = cli("publish.dataenginex", "--dry-run", cwd=repo.path)
    assert result.code == 0, result.err
    for index in ("localtest (test)", "localprod (production)"):
        for name in sorted(_files("0.4.11")):
            assert f"[dry-run] would upload {name} to {index}" in result.out
    assert pypi_servers.test.files() == {}
    assert pypi_servers.production.files() == {}
    snapshot.assert_same(repo)


def test_rebuilt_version_with_other_bytes_is_refused(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers, tmp_path: Path
) -> None:
    tag = _release(repo, "0.4.11", change="X = 1\n")
    assert cli("publish.dataenginex", cwd=repo.path).code == 0
    before = (pypi_servers.test.files(), pypi_servers.production.files())
    # The same version, rebuilt from other sources: the tag is moved to a new commit and
    # records the new build's sha256, as `release` does. (Without a record, other bytes on
    # the index are a version published before adoption: see the test below.)
    repo.write(f"{LIB}/src/dataenginex/extra.py", "X = 2\n")
    commit = repo.commit("fix: other bytes, same version")
    from dexops.adapters.sbom import with_digests
    from dexops.workflows.package import package_component
    from dexops.workflows.workspace import Workspace

    ws = Workspace.open(str(repo.path))
    component = ws.config.component("dataenginex")
    built = package_component(ws, component, tmp_path / "rebuilt", commit=commit)
    message = with_digests(f"{tag}\n", {f.filename: f.sha256 for f in built.files})
    repo.git("tag", "-f", "-a", "-m", message, tag)
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 1
    line = _one_error_line(result.err)
    assert "localtest already has dataenginex-0.4.11" in line
    assert "never replaced" in line
    assert (pypi_servers.test.files(), pypi_servers.production.files()) == before


def test_partial_upload_is_completed(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers, tmp_path: Path
) -> None:
    _release(repo, "0.4.11", change="X = 1\n")
    out = tmp_path / "handoff"
    built = cli("publish.dataenginex", "--build-only", "--out", str(out), cwd=repo.path)
    assert built.code == 0, built.err
    wheel = out / "localtest" / WHEEL.format(v="0.4.11")
    # An earlier run died after the wheel reached the test index.
    from dexops.adapters.package_index import Credentials, IndexClient
    from dexops.domain.config import PackageIndex

    index = PackageIndex("localtest", pypi_servers.test.url, pypi_servers.test.simple_url)
    creds = Credentials("__token__", pypi_servers.test.password, "test")
    IndexClient(index, credentials=creds).upload([wheel])
    assert set(pypi_servers.test.files()) == {wheel.name}
    wheel_bytes = pypi_servers.test.files()[wheel.name]

    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 0, result.err
    assert f"localtest (test): skip {wheel.name}: already there, same sha256" in result.out
    assert "localtest (test): uploaded dataenginex-0.4.11.tar.gz" in result.out
    assert set(pypi_servers.test.files()) == _files("0.4.11")
    assert set(pypi_servers.production.files()) == _files("0.4.11")
    assert pypi_servers.test.files()[wheel.name] == wheel_bytes


def _under_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Run as a GitHub Actions job would; returns its $GITHUB_OUTPUT and step summary files."""
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return outputs, summary


def test_build_only_hands_the_missing_files_to_ci(
    repo: GitRepo,
    cli: Cli,
    pypi_servers: PypiServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _release(repo, "0.4.11", change="X = 1\n")
    outputs, summary = _under_actions(tmp_path, monkeypatch)
    out = tmp_path / "handoff"
    result = cli("publish.dataenginex", "--build-only", "--out", str(out), "--json", cwd=repo.path)
    assert result.code == 0, result.err
    plan = json.loads(result.out[result.out.index("{") :])  # after the ::add-mask:: lines
    assert plan["build_only"] is True
    assert pypi_servers.test.files() == {}
    assert pypi_servers.production.files() == {}
    assert {p.name for p in (out / "localtest").iterdir()} == _files("0.4.11")
    assert {p.name for p in (out / "localprod").iterdir()} == _files("0.4.11")
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    assert written["decision"] == "publish"
    assert written["version"] == "0.4.11"
    assert written["stable"] == "true"
    assert written["test-upload"] == "true"
    assert written["test-dist-dir"] == str(out / "localtest")
    assert written["production-dist-dir"] == str(out / "localprod")
    assert json.loads(written["plan"])["tag"] == "dataenginex-v0.4.11"
    assert "### Publish dataenginex 0.4.11" in summary.read_text()
    _no_secrets(pypi_servers, result.out, outputs.read_text(), summary.read_text())


def test_wrong_production_password_is_one_line_and_says_what_is_left(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    _release(repo, "0.4.11", change="X = 1\n")
    monkeypatch.setenv("TWINE_PASSWORD", "not-the-right-password")
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 1
    line = _one_error_line(result.err)
    assert "upload of dataenginex-0.4.11" in line
    assert "to localprod failed" in line
    assert "localtest already has the files; re-run to complete" in line
    assert "not-the-right-password" not in result.out + result.err
    assert pypi_servers.production.files() == {}
    # The right password: the re-run completes and skips what the test index has.
    monkeypatch.setenv("TWINE_PASSWORD", pypi_servers.production.password)
    again = cli("publish.dataenginex", cwd=repo.path)
    assert again.code == 0, again.err
    assert set(pypi_servers.production.files()) == _files("0.4.11")


def test_wrong_token_for_a_private_index_fails_before_any_upload(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    _release(repo, "0.4.11", change="X = 1\n")
    monkeypatch.setenv(TEST_TOKEN_ENV, "wrong-test-token-value")
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 1
    line = _one_error_line(result.err)
    assert "localtest" in line
    assert "rejected the credentials (HTTP 403)" in line
    assert "wrong-test-token-value" not in result.out + result.err
    assert pypi_servers.test.files() == {}
    assert pypi_servers.production.files() == {}


def test_index_down_is_retried_then_one_line_and_a_rerun_converges(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    _release(repo, "0.4.11", change="X = 1\n")
    pypi_servers.production.stop()
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 1
    line = _one_error_line(result.err)
    assert "localprod" in line
    assert "unreachable after 5 attempts: connection refused" in line
    # Every index is read before any upload: the test index was left alone too.
    assert pypi_servers.test.files() == {}
    pypi_servers.production.start()
    again = cli("publish.dataenginex", cwd=repo.path)
    assert again.code == 0, again.err
    assert set(pypi_servers.production.files()) == _files("0.4.11")


def test_index_answering_500_is_retried_a_bounded_number_of_times(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/simple/dataenginex/").respond_with_data("down", status=500)
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            pypi_servers.production.simple_url, httpserver.url_for("/simple/")
        ),
        encoding="utf-8",
    )
    repo.commit("ci: a production index that fails")
    _release(repo, "0.4.11", change="X = 1\n")
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 1
    line = _one_error_line(result.err)
    assert "answered HTTP 500 after 5 attempts" in line
    assert len(httpserver.log) == 5
    assert pypi_servers.test.files() == {}


def test_tag_and_pyproject_versions_must_agree(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    repo.git("tag", "-a", "-m", "wrong", "dataenginex-v0.5.0")
    snapshot = RepoSnapshot.take(repo)
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 1
    assert _one_error_line(result.err) == (
        "error: tag dataenginex-v0.5.0 is version 0.5.0 but "
        "packages/dataenginex/pyproject.toml at that tag says 0.4.10\n"
    )
    snapshot.assert_same(repo)
    assert pypi_servers.test.files() == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("publish.dataenginex", "--tag", "careerdex-v0.3.5"),
            "error: tag 'careerdex-v0.3.5' belongs to careerdex, not dataenginex\n",
        ),
        (
            ("publish.dataenginex", "--tag", "dataenginex-v7.7.7"),
            "error: tag 'dataenginex-v7.7.7' does not exist in",
        ),
        (
            ("publish.dataenginex", "--tag", "nonsense"),
            "error: tag 'nonsense' is not a dataenginex tag",
        ),
        (("publish.careerdex",), "error: No idea what 'publish.careerdex' is!"),
        (("publish.nosuch",), "error: No idea what 'publish.nosuch' is!"),
    ],
)
def test_bad_tags_and_components_are_refused(
    repo: GitRepo,
    cli: Cli,
    pypi_servers: PypiServers,
    argv: tuple[str, ...],
    message: str,
) -> None:
    repo.git("tag", "-a", "-m", "app", "careerdex-v0.3.5")
    snapshot = RepoSnapshot.take(repo)
    result = cli(*argv, cwd=repo.path)
    assert result.code != 0
    assert _one_error_line(result.err).startswith(message)
    snapshot.assert_same(repo)
    assert pypi_servers.test.files() == {}


def test_no_tag_at_head_is_nothing_to_publish(repo: GitRepo, cli: Cli) -> None:
    result = cli("publish.dataenginex", "--json", cwd=repo.path)
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["decision"] == "skip"
    assert plan["reason"] == "HEAD has no dataenginex-v<version> tag; nothing to publish"


def test_a_new_user_bumps_releases_and_publishes(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    """The README's flow in a copy of the example monorepo, against both local indexes."""
    repo.push("main")
    for argv in (
        ("version.bump", "dataenginex", "--part", "patch"),
        ("release.dataenginex",),
        ("publish.dataenginex",),
    ):
        result = cli(*argv, cwd=repo.path)
        assert result.code == 0, (argv, result.err)
    assert "refs/tags/dataenginex-v0.4.11" in repo.remote_refs()
    assert set(pypi_servers.test.files()) == _files("0.4.11")
    assert set(pypi_servers.production.files()) == _files("0.4.11")


def test_a_version_published_before_adoption_is_left_as_it_is(
    repo: GitRepo, cli: Cli, pypi_servers: PypiServers
) -> None:
    tag = _release(repo, "0.4.11", change="X = 1\n")
    # Another tool published 0.4.11 before dexops: other bytes, and the tag records none.
    for server in (pypi_servers.test, pypi_servers.production):
        for name in _files("0.4.11"):
            (server.packages / name).write_bytes(b"built by another tool\n")
    before = (pypi_servers.test.files(), pypi_servers.production.files())
    result = cli("publish.dataenginex", "--json", cwd=repo.path)
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["tag"] == tag
    assert plan["reason"] == (
        "first release of this component; localtest, localprod: published before adoption; "
        "not re-uploaded"
    )
    assert {i["name"]: i["action"] for i in plan["indexes"]} == {
        "localtest": "skip",
        "localprod": "skip",
    }
    assert (pypi_servers.test.files(), pypi_servers.production.files()) == before


def test_a_tag_whose_project_had_another_name_is_not_built(repo: GitRepo, cli: Cli) -> None:
    path = repo.path / LIB / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('name = "dataenginex"', 'name = "dex-core"', 1))
    tag = _release(repo, "0.4.11", change="X = 1\n")
    path.write_text(path.read_text(encoding="utf-8").replace('"dex-core"', '"dataenginex"', 1))
    repo.commit("chore: the project's name is dataenginex again")
    result = cli("publish.dataenginex", "--tag", tag, "--dry-run", cwd=repo.path)
    assert result.code == 1
    line = _one_error_line(result.err)
    assert "names the project 'dex-core', not 'dataenginex'" in line


def test_each_upload_shows_while_it_runs_in_one_group_per_index(
    repo: GitRepo,
    cli: Cli,
    pypi_servers: PypiServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dexops.adapters.tool import run_tool
    from dexops.domain.distributions import size_text

    _release(repo, "0.4.11", change="X = 1\n")
    _under_actions(tmp_path, monkeypatch)
    shown: list[str] = []  # stdout as printed, read off each time twine starts
    at_twine: list[str] = []  # the last line shown when each twine run began

    def watched(argv: list[str], **kwargs: Any) -> Any:
        shown.append(cli.capsys.readouterr().out)
        at_twine.append("".join(shown).splitlines()[-1])
        return run_tool(argv, **kwargs)

    monkeypatch.setattr("dexops.adapters.package_index.run_tool", watched)
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 0, result.err

    lines = [
        line
        for line in ("".join(shown) + result.out).splitlines()
        if not line.startswith("::add-mask::")
    ]
    sizes = {name: size_text(len(data)) for name, data in pypi_servers.test.files().items()}
    first = r"upload 1/2 to localtest: (\S+) \(.+\) …$"
    order = [m[1] for line in lines if (m := re.match(first, line))]
    assert len(order) == 1, lines
    files = [*order, *(sorted(set(sizes) - set(order)))]
    expected = []
    starts = []
    for index in ("localtest", "localprod"):
        expected.append(f"::group::publish dataenginex: upload to {index}")
        for position, name in enumerate(files, 1):
            start = f"upload {position}/2 to {index}: {name} ({sizes[name]}) …"
            starts.append(start)
            expected.append(start)
            expected.append(f"upload {position}/2 to {index}: {name} ({sizes[name]}) done in")
        expected.append("::endgroup::")
    progress = [line for line in lines if line.startswith(("::group::", "::endgroup::", "upload "))]
    assert [
        line[: line.index(" done in") + len(" done in")] if " done in" in line else line
        for line in progress
    ] == expected
    # Each file's line was on the terminal before its upload began, not printed at the end.
    assert at_twine == starts
    assert lines.index("::endgroup::") < lines.index("localtest (test): uploaded " + files[0])
    _no_secrets(pypi_servers, result.out, result.err, *shown)

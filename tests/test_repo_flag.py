"""Per-component tasks come from the repository a task's `--repo` names, however it is spelled."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.collection import Collection
from invoke.exceptions import ParseError

from dexops.errors import ExitCode
from dexops.tasks import release, tasks_for, version
from dexops.tasks.command_line import given_repos
from tests.gitrepo import GitRepo, example_repo

# Every spelling invoke's parser takes for a flag that needs a value, `P` the value.
SPELLINGS = [("--repo", "P"), ("--repo=P",), ("-r", "P"), ("-rP",), ("-r=P",)]


def _given(*argv: str, bundled: bool = True) -> set[str | None]:
    ns = Collection()
    ns.add_collection(version.collection())
    ns.add_collection(release.named_collection(["lib"]))
    return given_repos(argv, ns, bundled=bundled, read_from={"release"})


@pytest.mark.parametrize("bundled", [True, False], ids=["dexops", "invoke"])
@pytest.mark.parametrize("spelling", SPELLINGS, ids=" ".join)
def test_each_spelling_of_the_flag_names_the_repository(
    spelling: tuple[str, ...], *, bundled: bool
) -> None:
    assert _given("release.lib", *spelling, bundled=bundled) == {"P"}
    assert _given("release.lib", "--dry-run", *spelling, "--json", bundled=bundled) == {"P"}


def test_the_repository_is_the_one_invoke_gives_the_task() -> None:
    # A run of short flags ends in -r: `-nr P` is `-n -r P`.
    assert _given("release.lib", "-nr", "P") == {"P"}
    # Another task's -r, and what follows `--`, are not the per-component task's.
    assert _given("version.show", "-r", "P", "release.lib") == {None}
    assert _given("release.lib", "--", "-r", "P") == {None}
    assert _given("release.lib", "-r", "P", "release.all", "-r", "Q") == {"P", "Q"}
    # `invoke -r P` is invoke's own search root for a tasks.py; `dexops` has no such flag,
    # and its own parse says so.
    assert _given("-r", "P", "release.lib", bundled=False) == {None}
    assert _given("-r", "P", "release.lib") == set()
    # A tasks.py's own task may have a -r of its own: only invoke knows its flags.
    assert _given("own-task", "-r", "P", "release.lib", "-r", "Q") == set()


def test_a_flag_without_its_value_is_invoke_s_parse_error() -> None:
    with pytest.raises(ParseError, match="needed value"):
        _given("release.lib", "-r")


def test_each_repository_named_gives_its_components(
    dex_repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = example_repo(tmp_path / "other")
    pyproject = other.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8")
        + '\n[tool.dexops.components.extra]\nkind = "library"\n'
        'path = "packages/dataenginex"\ntag-prefix = "extra-v"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = ["release.dataenginex", f"-r{dex_repo.path}", "release.extra", "-r", str(other.path)]
    names = set(tasks_for(argv).task_names)
    assert {"release.dataenginex", "release.extra"} <= names
    assert "release.extra" not in tasks_for(argv[:2]).task_names


def test_completion_offers_the_components_of_the_repository_named(
    dex_repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = ["--complete", "--", "dexops", "release.all", f"-r{dex_repo.path}", "release."]
    assert "release.dataenginex" in tasks_for(line).task_names
    # A line that does not parse yet completes with the working directory's tasks.
    half = ["--complete", "--", "dexops", "release.all", "-r"]
    assert "release.all" in tasks_for(half).task_names
    assert "release.dataenginex" not in tasks_for(half).task_names


def _dexops() -> str:
    script = shutil.which("dexops", path=str(Path(sys.executable).parent))
    assert script is not None, "the dexops console script is installed beside python"
    return script


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("spelling", ["-r {}", "-r{}", "-r={}", "--repo {}", "--repo={}"])
def test_the_console_script_runs_a_component_task_of_another_repository(
    dex_repo: GitRepo, tmp_path: Path, spelling: str
) -> None:
    flag = spelling.format(dex_repo.path).split(" ")
    done = _run(_dexops(), "release.dataenginex", *flag, "--dry-run", cwd=tmp_path)
    assert done.returncode == ExitCode.OK, done.stderr
    assert "release dataenginex" in done.stdout
    assert "dataenginex-v" in done.stdout


def test_the_invoke_binary_tells_its_search_root_from_the_task_s_repo(
    dex_repo: GitRepo, tmp_path: Path
) -> None:
    # The first -r finds the repository's tasks.py, the second is the task's --repo.
    repo = str(dex_repo.path)
    done = _run(
        sys.executable, "-m", "invoke", "-r", repo, "release.dataenginex", "-r", repo,
        "--dry-run", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    assert "dataenginex-v" in done.stdout


# A repository that cannot be read keeps the task as typed: running it says what is wrong
# with the repository, not that no such task exists (`--list` still works anywhere).
@pytest.mark.parametrize(
    ("flag", "code", "says"),
    [
        (
            ("-r",),
            ExitCode.USAGE,
            "error: Flag <Argument: repo (r)> needed value and was not given one!",
        ),
        (
            ("-r", "/nonexistent/dexops-repo"),
            ExitCode.FAILURE,
            "error: repository '/nonexistent/dexops-repo' is not a directory",
        ),
        (("-r", "."), ExitCode.FAILURE, "error: {tmp}/pyproject.toml does not exist"),
    ],
    ids=["no-value", "no-directory", "not-a-repository"],
)
def test_a_bad_repository_flag_is_one_error_line(
    tmp_path: Path, flag: tuple[str, ...], code: ExitCode, says: str
) -> None:
    done = _run(_dexops(), "release.dataenginex", *flag, cwd=tmp_path)
    assert done.returncode == code
    assert done.stdout == ""
    assert done.stderr.splitlines() == [says.format(tmp=tmp_path.resolve())]
    assert "Traceback" not in done.stderr

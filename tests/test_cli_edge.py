"""Usage mistakes are one `error:` line through `invoke` itself, not only through `dexops`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.gitrepo import GitRepo


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (("rollback", "--env", "dev", "--steps", "abc"), "'abc'"),
        (("history", "--env", "dev", "--limit", "x"), "'x'"),
        (("argocd.wait", "--env", "dev", "--timeout", "soon"), "'soon'"),
        (("release.nosuch",), "release.nosuch"),
        (("version.bump",), "component"),
        (("version.show", "--bogus"), "--bogus"),
    ],
)
def test_invoke_binary_reports_usage_errors_in_one_line(
    dex_repo: GitRepo, argv: tuple[str, ...], names: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *argv],
        cwd=dex_repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == ExitCode.USAGE
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert names in lines[0]


def _tasks(argv: list[str] | None) -> set[str]:
    from dexops.tasks import tasks_for

    return set(tasks_for(argv).task_names)


def test_a_command_line_builds_just_the_tasks_it_names(
    dex_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexops.tasks import named_sources

    monkeypatch.chdir(dex_repo.path)
    every = _tasks(None)
    tops = {name.split(".")[0] for name in every}
    assert tops == named_sources(sorted(tops)), "every top-level name has its module"
    for top in sorted(tops):
        narrowed = _tasks([top])
        assert narrowed < every
        assert {n for n in every if n.split(".")[0] == top} <= narrowed
    assert _tasks(["release.dataenginex", "--dry-run"]) >= {"release.all", "release.dataenginex"}
    assert "version.show" not in _tasks(["release.dataenginex", "--dry-run"])


@pytest.mark.parametrize(
    "argv",
    [[], ["--list"], ["-l"], ["versoin.show"], ["--complete", "--", "dexops", "status", ""]],
    ids=["nothing", "list", "l", "typo", "completion"],
)
def test_a_command_line_naming_no_task_gets_every_task(
    dex_repo: GitRepo, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.chdir(dex_repo.path)
    assert _tasks(argv) == _tasks(None)


def test_an_unknown_task_beside_a_known_one_is_still_one_error_line(
    dex_repo: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexops.__main__ import program

    monkeypatch.chdir(dex_repo.path)
    argv = ["version.show", "stauts"]
    with pytest.raises(SystemExit) as exited:
        program(argv).run(["dexops", *argv])
    assert exited.value.code == ExitCode.USAGE
    assert capsys.readouterr().err.splitlines() == ["error: No idea what 'stauts' is!"]


def test_a_reader_that_leaves_early_gets_no_traceback(dex_repo: GitRepo) -> None:
    # `dexops --list | head -1`: the pipe closes while dexops still writes.
    script = (
        "import sys; sys.stdout.reconfigure(write_through=True); "
        "from dexops.__main__ import main; main()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, "--list"],
        cwd=dex_repo.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.read(1)
        proc.stdout.close()
        errors = proc.stderr.read().decode()
        assert proc.wait() in (0, 1)
    assert "Traceback" not in errors
    assert "BrokenPipeError" not in errors


def test_a_mistyped_task_name_gets_did_you_mean(dex_repo: GitRepo, cli: Cli) -> None:
    for typed, meant in (("promot", "promote"), ("hold.relase", "hold.release")):
        result = cli(typed, cwd=dex_repo.path)
        assert result.code == ExitCode.USAGE
        assert result.err == f"error: No idea what '{typed}' is! did you mean {meant}?\n"
    far = cli("zzzz", cwd=dex_repo.path)
    assert far.err == "error: No idea what 'zzzz' is!\n"


DOCS = Path(__file__).resolve().parent.parent / "docs"


def _documented_component_tasks() -> dict[str, list[str]]:
    """docs/cli.md's "Component tasks" table: each component's tasks, spelled as documented."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    section = text.split("\n## Component tasks\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (`.+`) \|$", section, flags=re.MULTILINE)
    return {name: re.findall(r"`([^`]+)`", tasks) for name, tasks in rows}


@pytest.mark.parametrize("program", ["dexops", "invoke"])
def test_the_documented_spelling_of_a_component_s_task_runs_as_typed(
    dex_repo: GitRepo, cli: Cli, program: str
) -> None:
    documented = _documented_component_tasks()
    assert "dataenginex" in documented, "the example's own library is in the table"
    assert any(re.search(r"[._A-Z]", name) for name in documented), "and a name to respell"
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8")
        + "".join(
            f'\n[tool.dexops.components."{name}"]\nkind = "library"\n'
            f'path = "packages/dataenginex"\ntag-prefix = "{name}-v"\n'
            for name in documented
            if name != "dataenginex"
        ),
        encoding="utf-8",
    )
    dex_repo.commit("build: components with dots, underscores and capitals")
    dex_repo.push("main")
    listing = cli("--list", cwd=dex_repo.path)
    listed = set(re.findall(r"^  (\S+)", listing.out, flags=re.MULTILINE))
    per_component = {t for t in listed if t.startswith(("release.", "publish."))}
    expected = {task for tasks in documented.values() for task in tasks}
    assert per_component - {"release.all", "release.careerdex"} == expected
    for name, tasks in documented.items():
        for task in tasks:
            # `python -m invoke` is what `uv run invoke` runs: it loads the example's tasks.py.
            proc = subprocess.run(
                [sys.executable, "-m", program, task, "--dry-run"],
                cwd=dex_repo.path,
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == ExitCode.OK, (task, proc.stderr)
            assert f"{name}-v" in proc.stdout, (task, proc.stdout)
            if task != task.lower():
                other_case = cli(task.lower(), "--dry-run", cwd=dex_repo.path)
                assert other_case.code == ExitCode.USAGE
                assert f"did you mean {task}" in other_case.err, other_case.err


def test_per_component_tasks_come_from_the_repo_the_command_line_names(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    # The program is given the command line; sys.argv (pytest's own here) is not it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("release.dataenginex", "publish.dataenginex"):
        shown = cli(name, "--repo", str(dex_repo.path), "--help", cwd=elsewhere)
        assert shown.code == 0, (name, shown.err)
        assert shown.out.startswith(f"Usage: dexops [--core-opts] {name} "), name
    dry = cli("release.dataenginex", f"--repo={dex_repo.path}", "--dry-run", cwd=elsewhere)
    assert dry.code == 0, dry.err
    assert "dataenginex" in dry.out


def test_only_the_entry_points_read_sys_argv() -> None:
    src = Path(__file__).resolve().parents[1] / "src" / "dexops"
    modules = sorted(src.rglob("*.py"))
    assert len(modules) > 50
    # `dexops` reads it in __main__; a tasks.py (templates/) gives it to namespace().
    readers = [p.relative_to(src) for p in modules if "sys.argv" in p.read_text(encoding="utf-8")]
    assert [str(p) for p in readers] == ["__main__.py"]

"""The demo belongs to a dexops checkout: its tasks.py offers it, adopters do not see it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.program import Program

from dexops.errors import ExitCode
from dexops.tasks import namespace

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DEXOPS_"))}
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_only_a_checkout_namespace_has_the_demo() -> None:
    assert "demo" not in namespace().task_names
    assert "demo" not in namespace(["demo"]).task_names
    assert "demo" in namespace(demo=True).task_names


def test_an_adopter_lists_no_demo_and_the_checkout_does(tmp_path: Path) -> None:
    adopter = tmp_path / "dex-monorepo"
    shutil.copytree(
        ROOT / "examples" / "dex-monorepo", adopter, ignore=shutil.ignore_patterns(".venv")
    )
    listed = _run("dexops", "--list", cwd=adopter)
    assert listed.returncode == 0, listed.stderr
    assert "promote" in listed.stdout
    assert "demo" not in listed.stdout
    asked = _run("dexops", "demo", cwd=adopter)
    assert asked.returncode == ExitCode.USAGE
    assert asked.stderr.startswith("error: ")
    assert asked.stderr.count("\n") == 1
    own = _run("invoke", "--list", cwd=ROOT)
    assert own.returncode == 0, own.stderr
    assert "  demo " in own.stdout


def test_without_examples_the_demo_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dexops.demo.pipeline

    monkeypatch.setattr(dexops.demo.pipeline, "EXAMPLE", tmp_path / "missing")
    workdir = tmp_path / "work"
    workdir.mkdir()
    program = Program(namespace=namespace(["demo"], demo=True), name="invoke")
    with pytest.raises(SystemExit) as exited:
        program.run(["invoke", "demo", "--workdir", str(workdir)], exit=True)
    assert exited.value.code == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert err.startswith("error: the example monorepo is not at ")
    assert err.count("\n") == 1
    assert list(workdir.iterdir()) == []  # no sandbox, no index started

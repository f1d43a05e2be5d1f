"""Under GitHub Actions an error about a file is annotated on it; long tool output is grouped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dexops.adapters.container_engine import stream
from tests.conftest import Cli
from tests.gitrepo import GitRepo


@pytest.fixture
def actions(monkeypatch: pytest.MonkeyPatch, dex_repo: GitRepo) -> Path:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(dex_repo.path))
    return dex_repo.path


def test_a_configuration_error_is_annotated_on_its_file(
    actions: Path, dex_repo: GitRepo, cli: Cli
) -> None:
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('kind = "library"', 'kind = "libary"'))
    result = cli("version.show", cwd=dex_repo.path)
    assert result.code != 0
    (annotation,) = [line for line in result.out.splitlines() if line.startswith("::error")]
    assert annotation.startswith("::error file=pyproject.toml::"), annotation
    assert result.err.startswith("error: ")


def test_a_toml_syntax_error_carries_its_line(actions: Path, dex_repo: GitRepo, cli: Cli) -> None:
    pyproject = dex_repo.path / "pyproject.toml"
    lines = pyproject.read_text().splitlines()
    lines.insert(2, "this is = = not toml")
    pyproject.write_text("\n".join(lines) + "\n")
    result = cli("version.show", cwd=dex_repo.path)
    assert result.code != 0
    assert "::error file=pyproject.toml,line=3::" in result.out, result.out


def test_annotation_properties_are_escaped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dexops import github_actions

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    github_actions.error_annotation("bad", file="a,b:c.yaml", line=7)
    assert capsys.readouterr().out == "::error file=a%2Cb%3Ac.yaml,line=7::bad\n"


def test_a_tools_streamed_output_sits_in_one_group(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    ran = stream([sys.executable, "-c", "print('step 1'); print('step 2')"])
    assert ran.code == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("::group::")
    assert err[1:3] == ["step 1", "step 2"]
    assert err[-1] == "::endgroup::"


def test_outside_actions_there_is_no_group(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    stream([sys.executable, "-c", "print('plain')"])
    assert capsys.readouterr().err == "plain\n"

"""Untrusted text on a terminal stays text: no rich markup, control characters shown escaped."""

from __future__ import annotations

import io
import sys

import pytest

from dexops import console
from dexops.console import printable
from tests.conftest import Cli
from tests.gitrepo import GitRepo


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b[Hcleared", "\\x1b[2J\\x1b[Hcleared"),
        ("ok\rFORGED", "ok\\rFORGED"),
        ("bell\x07", "bell\\x07"),
        ("back\x08space", "back\\x08space"),
        ("\x9b31m csi", "\\x9b31m csi"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("[bold red]not markup[/]", "[bold red]not markup[/]"),
    ],
)
def test_control_characters_are_shown_escaped(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_a_terminal_table_prints_markup_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(out, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys, "stdout", out)
    console.table(["subject"], [["[bold]fix[/bold] \x1b]0;owned\x07"]], title="[red]t[/red]")
    text = out.getvalue()
    assert "[bold]fix[/bold]" in text
    assert "[red]t[/red]" in text
    assert "\x1b]0;owned" not in text
    assert "\\x1b]0;owned\\x07" in text


def test_a_commit_subject_with_escapes_is_shown_escaped_by_history(
    dex_repo: GitRepo, cli: Cli
) -> None:
    overlay = "infra/argocd/overlays/dev/kustomization.yaml"
    dex_repo.git("checkout", "--quiet", "dev")
    path = dex_repo.path / overlay
    path.write_text(path.read_text().replace("sha-0a1b2c3d", "sha-1234abcd"))
    dex_repo.commit("deploy: \x1b[31mred\x1b[0m \x1b]0;title\x07", overlay)
    dex_repo.git("push", "--quiet", "origin", "dev")
    result = cli("history", "--env", "dev", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out
    assert "\\x1b[31mred" in result.out


def test_an_error_line_escapes_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    from dexops.tasks._edge import fail

    fail("tag \x1b[2Kv1 refused")
    assert capsys.readouterr().err == "error: tag \\x1b[2Kv1 refused\n"

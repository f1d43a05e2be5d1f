"""Files dexops edits: never outside the repository, line endings and final newline kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from dexops.adapters.textfile import inside, read_text, write_inside
from dexops.errors import ConfigError
from tests.conftest import Cli
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

LIB_PYPROJECT = "packages/dataenginex/pyproject.toml"
OVERLAY = "infra/argocd/overlays/dev/kustomization.yaml"


def _link_outside(repo: GitRepo, relative: str, outside: Path) -> bytes:
    """Move `relative` out of the repository and commit a symlink to it in its place."""
    path = repo.path / relative
    data = path.read_bytes()
    outside.write_bytes(data)
    path.unlink()
    path.symlink_to(outside)
    repo.git("add", "--", relative)
    repo.commit(f"test: {relative} is a symlink out of the repository")
    return data


def test_inside_refuses_a_path_that_resolves_out(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    assert inside(root, root / "file") == (root / "file").resolve()
    with pytest.raises(ConfigError, match="leads outside the repository"):
        inside(root, root / "link" / "file")
    with pytest.raises(ConfigError, match="leads outside the repository"):
        write_inside(root, root / ".." / "escaped", "x")
    assert not (tmp_path / "escaped").exists()


def test_a_symlink_loop_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConfigError):
        inside(tmp_path, tmp_path / "a")


@pytest.mark.parametrize(
    ("relative", "argv"),
    [
        (LIB_PYPROJECT, ("version.bump", "dataenginex", "--part", "patch")),
        (LIB_PYPROJECT, ("version.bump", "dataenginex", "--part", "patch", "--dry-run")),
        (OVERLAY, ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd")),
    ],
)
def test_a_committed_symlink_out_of_the_repository_is_refused(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, relative: str, argv: tuple[str, ...]
) -> None:
    outside = tmp_path / "outside-target"
    before = _link_outside(dex_repo, relative, outside)
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli(*argv, cwd=dex_repo.path)
    assert result.code != 0
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("error: "), result.err
    assert "leads outside the repository" in result.err
    assert outside.read_bytes() == before
    snapshot.assert_same(dex_repo)


def test_a_crlf_pyproject_stays_crlf_after_a_bump(dex_repo: GitRepo, cli: Cli) -> None:
    path = dex_repo.path / LIB_PYPROJECT
    crlf = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    path.write_bytes(crlf)
    dex_repo.commit("test: CRLF pyproject")
    result = cli("version.bump", "dataenginex", "--part", "patch", cwd=dex_repo.path)
    assert result.code == 0, result.err
    after = path.read_bytes()
    assert after != crlf
    assert after.count(b"\r\n") == crlf.count(b"\r\n")
    assert b"\n" not in after.replace(b"\r\n", b"")


def test_a_file_without_a_final_newline_keeps_none(dex_repo: GitRepo, cli: Cli) -> None:
    path = dex_repo.path / LIB_PYPROJECT
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    dex_repo.commit("test: no final newline")
    result = cli("version.bump", "dataenginex", "--part", "patch", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert not path.read_bytes().endswith(b"\n")


def test_read_text_keeps_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a\r\nb\rc\n")
    assert read_text(path) == "a\r\nb\rc\n"


def test_an_os_error_at_the_edge_is_one_line_naming_the_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from invoke.exceptions import Exit

    from dexops.tasks._edge import guarded

    def body() -> None:
        Path("/nonexistent-dexops-dir/plan.json").write_text("{}", encoding="utf-8")

    with pytest.raises(Exit) as caught:
        guarded(body)()
    assert caught.value.code == 1
    assert capsys.readouterr().err == (
        "error: /nonexistent-dexops-dir/plan.json: No such file or directory\n"
    )


def test_a_deeply_nested_input_no_site_names_is_still_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from invoke.exceptions import Exit

    from dexops.tasks._edge import guarded

    def body() -> None:
        json.loads("[" * 100_000 + "]" * 100_000)

    with pytest.raises(Exit):
        guarded(body)()
    assert capsys.readouterr().err == (
        "error: an input is nested too deeply to read; nothing was changed\n"
    )


@pytest.mark.parametrize("where", ["/nonexistent-dexops-dir/summary", "/tmp", "/dev/full"])
def test_a_step_summary_that_cannot_be_written_is_one_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from dexops import github_actions
    from dexops.errors import DexopsError

    monkeypatch.setenv("GITHUB_STEP_SUMMARY", where)
    with pytest.raises(DexopsError, match=rf"cannot write \$GITHUB_STEP_SUMMARY \({where}\)"):
        github_actions.add_summary("# report\n")

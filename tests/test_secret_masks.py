"""Masking that cannot be stepped around: lines of a secret, escaped forms, URL credentials."""

from __future__ import annotations

import json
import shlex

import pytest

from dexops import console, github_actions, secrets
from dexops.secrets import mask

KEY_FILE = '{\n  "type": "service_account",\n  "private_key": "-----BEGIN KEY-----MIIEvQIB"\n}\n'
QUOTED = "pa'ss\\wo\"rd-Recognisable"


@pytest.fixture(autouse=True)
def _no_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_extra", set())
    for name in secrets.SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_a_multi_line_secret_is_masked_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", KEY_FILE)
    # A log that splits the key file still shows none of its lines.
    text = mask('error: "private_key": "-----BEGIN KEY-----MIIEvQIB" was refused')
    assert "MIIEvQIB" not in text
    assert "service_account" not in mask('"type": "service_account",')
    assert mask(KEY_FILE) == secrets.MASK


def test_a_multi_line_secret_is_registered_with_the_runner_line_by_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("REGISTRY_PASSWORD", KEY_FILE)
    github_actions.add_masks()
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("::add-mask::") for line in lines), lines
    masked = {line.removeprefix("::add-mask::") for line in lines}
    assert '"private_key": "-----BEGIN KEY-----MIIEvQIB"' in masked
    assert '"type": "service_account",' in masked


@pytest.mark.parametrize(
    "render",
    [
        pytest.param(lambda s: shlex.join(["login", "--password", s]), id="shell-quoted"),
        pytest.param(lambda s: shlex.join(["login", f"--password={s}"]), id="shell-quoted-part"),
        pytest.param(lambda s: json.dumps({"password": s}), id="json"),
        pytest.param(lambda s: f"refused {s!r}", id="repr"),
        pytest.param(lambda s: s, id="plain"),
    ],
)
def test_a_secret_is_masked_in_every_escaped_form(render: object) -> None:
    secrets.register(QUOTED)
    shown = mask(render(QUOTED))  # type: ignore[operator]
    assert "Recognisable" not in shown, shown


def test_a_dry_run_command_shows_no_quoted_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", QUOTED)
    console.would(f"run {shlex.join(['buildah', 'login', '--password', QUOTED, 'ghcr.io'])}")
    assert "Recognisable" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:pw-123@ghe.example/api", "https://***@ghe.example/api"),
        ("http://ghp_tok123@ghe.example/x", "http://***@ghe.example/x"),
        ("see HTTPS://a:b@h.example", "see HTTPS://***@h.example"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("ssh://git:hunter22@github.com/o/r", "ssh://git:***@github.com/o/r"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("mail me at a@b.example", "mail me at a@b.example"),
    ],
)
def test_credentials_in_any_url_are_redacted(text: str, shown: str) -> None:
    assert mask(text) == shown


def test_an_error_line_redacts_url_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    from dexops.tasks._edge import fail

    fail("cannot reach https://robot:pw-Recognisable@ghe.example/api/v3")
    assert "Recognisable" not in capsys.readouterr().err


def test_a_long_table_reads_the_secrets_once_and_masks_every_cell(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A history of 10,000 revisions is a table of 90,000 cells: reading the environment for
    # each cell cost more than the git log it shows.
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_tablesecret123")
    reads: list[list[str]] = []
    known = secrets.known_secrets

    def counted() -> list[str]:
        reads.append(known())
        return reads[-1]

    monkeypatch.setattr(secrets, "known_secrets", counted)
    rows = [[f"sha-{n:08x}", "ghp_tablesecret123", "https://u:pw@host/x"] for n in range(500)]
    console.table(["tag", "token", "url"], rows, title="ghp_tablesecret123")
    out = capsys.readouterr().out
    assert len(reads) == 1
    assert "ghp_tablesecret123" not in out
    assert "pw@" not in out
    assert out.count("***") == 1 + 2 * 500
    assert out.splitlines()[:2] == ["***", "tag           token  url"]

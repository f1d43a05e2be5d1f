"""One flag scheme over every task: a short flag means one thing; numbers are numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
NUMBERS = {"steps", "limit", "timeout", "interval", "healthy_polls", "scan_timeout"}


def test_every_task_follows_the_documented_scheme(
    dex_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexops.tasks import namespace

    monkeypatch.chdir(dex_repo.path)
    documented = {
        short: long.replace("-", "_")
        for long, short in re.findall(
            r"^\| `--([a-z-]+)[^`]*` \| `-(\w)` \|", DOC.read_text(), re.M
        )
    }
    assert documented == {
        "e": "env",
        "n": "dry_run",
        "j": "json",
        "y": "yes",
        "r": "repo",
        "t": "timeout",
    }
    SHORT = {long: short for short, long in documented.items()}  # noqa: N806
    ns = namespace(None)
    seen = set()
    for name in ns.task_names:
        for arg in ns[name].get_arguments():
            shorts = [n for n in arg.names if len(n) == 1]
            key = arg.attr_name or arg.name
            if key in documented.values():
                assert shorts == [SHORT[key]], (name, arg.names)
                seen.add(key)
            else:
                assert shorts == [], (name, arg.names)
            if key in NUMBERS:
                assert arg.kind in (int, float), (name, key, arg.kind)
    assert seen == set(documented.values())

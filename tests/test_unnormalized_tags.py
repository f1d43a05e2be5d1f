"""Tags that are PEP 440 but not normalized (`v1.0RC1`, `v01.0`) block no task."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.gitrepo import GitRepo

UNTIDY = ("0.4.10RC1", "01.0", "0.4.10-1", "1.0.post01", "1.0-dev1", "v0.4.10")


@pytest.mark.parametrize(
    "argv",
    [
        ("version.show",),
        ("version.changed",),
        ("release.dataenginex", "--dry-run"),
        ("release.all", "--dry-run"),
        ("image.tags",),
        ("metrics", "--json"),
        ("status",),
    ],
)
def test_pushed_unnormalized_tags_keep_every_task_working(
    dex_repo: GitRepo, cli: Cli, argv: tuple[str, ...]
) -> None:
    for version in UNTIDY:
        dex_repo.git("tag", "-a", "-m", "someone's tag", f"dataenginex-v{version}")
        dex_repo.git("tag", "-a", "-m", "someone's tag", f"careerdex-v{version}")
    dex_repo.git("push", "--quiet", "origin", "--tags")
    result = cli(*argv, cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert "Traceback" not in result.out + result.err

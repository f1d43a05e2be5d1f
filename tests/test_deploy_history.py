from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dexops.adapters.git import Git
from dexops.adapters.gitstream import ObjectBatch, stream
from dexops.domain import holds
from dexops.domain.deploy_history import (
    build_history,
    classify,
    deployments,
    iter_log,
    log_arguments,
    parse_log,
    rollback_candidates,
)
from dexops.errors import GitError
from tests.gitrepo import init_repo

OVERLAY = "overlays/prod/kustomization.yaml"
IMAGE = "ghcr.io/acme/app"


def overlay(tag: str, digest: str | None = None) -> str:
    pin = f"    digest: {digest}\n" if digest else ""
    return (
        "kind: Kustomization  # prod\n"
        "images:\n"
        "  - name: acme/app\n"
        f"    newName: {IMAGE}\n"
        f"    newTag: {tag}\n" + pin + "replicas:\n  - name: app\n    count: 3\n"
    )


def message(subject: str, *trailers: holds.Trailers) -> str:
    return holds.commit_message(subject, "", list(trailers))


_STREAM = (
    "\x1eaaaa\x1f2024-01-02T03:04:05+00:00\x1fAda\x1ffix: rollback prod to v1\x1f"
    "Dexops-Action: rollback\x1dDexops-Hold: true\x1d\x1f\n\n"
    ":100644 000000 1111111111111111111111111111111111111111 "
    "0000000000000000000000000000000000000000 D\toverlays/prod/kustomization.yaml\n"
    "\x1ebbbb\x1f2024-01-01T00:00:00+00:00\x1fBo\x1fmanual\x1f\x1f\n\n"
    ":000000 100644 0000000000000000000000000000000000000000 "
    "2222222222222222222222222222222222222222 A\toverlays/prod/kustomization.yaml\n"
)


def history_of(path: Path, git: Git) -> list:  # type: ignore[type-arg]
    records = parse_log(git.run(*log_arguments("HEAD", OVERLAY)))
    blobs = git.read_objects([r.blob for r in records if r.blob])
    return build_history(records, blobs, IMAGE, OVERLAY)


def test_history_from_one_log_and_one_batch(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "w", tmp_path / "o.git")
    steps = [
        ("sha-00000001", "feat: add the prod overlay", None),
        ("sha-00000002", "chore: update prod image to sha-00000002 [skip ci]", None),
        (
            "sha-00000003",
            message(
                "chore: promote sha-00000003 to prod",
                holds.Trailers("promote", "prod", "sha-00000003", "sha-00000002"),
            ),
            None,
        ),
        (
            "sha-00000002",
            message(
                "fix: rollback prod to sha-00000002",
                holds.Trailers("rollback", "prod", "sha-00000002", "sha-00000003", hold=True),
            ),
            None,
        ),
        ("sha-00000002", "chore: scale prod", "replicas"),
        ("sha-00000004", "manual: pin by hand", "sha256:" + "a" * 64),
    ]
    for tag, subject, extra in steps:
        text = overlay(tag, extra if extra and extra.startswith("sha256") else None)
        if extra == "replicas":
            text = text.replace("count: 3", "count: 4")
        repo.write(OVERLAY, text)
        repo.write("unrelated.txt", subject)
        repo.commit(subject)
    repo.commit("docs: unrelated change")

    revisions = history_of(repo.path, Git(repo.path))
    assert [(r.kind, r.tag, r.changed) for r in revisions] == [
        ("manual", "sha-00000004", True),
        ("manual", "sha-00000002", False),
        ("rollback", "sha-00000002", True),
        ("promote", "sha-00000003", True),
        ("deploy", "sha-00000002", True),
        ("manual", "sha-00000001", True),
    ]
    assert revisions[0].digest == "sha256:" + "a" * 64
    assert revisions[2].previous_tag == "sha-00000003"
    assert revisions[2].author == "Dex Tester"
    assert revisions[2].date[:4].isdigit()
    assert len(deployments(revisions)) == 5
    # sha-00000003 was rolled back; sha-00000004 is current.
    assert [r.tag for r in rollback_candidates(revisions, "sha-00000004")] == [
        "sha-00000002",
        "sha-00000001",
    ]


def test_parse_log_reads_trailers_and_deleted_files() -> None:
    stream = _STREAM
    first, second = parse_log(stream)
    assert first.blob is None
    assert first.trailers == {"Dexops-Action": ["rollback"], "Dexops-Hold": ["true"]}
    assert second.blob == "2" * 40
    assert second.trailers == {}
    history = build_history([first, second], {"2" * 40: overlay("v1").encode()}, IMAGE, "x")
    assert [(r.tag, r.changed, r.error) for r in history] == [
        (None, True, "overlay file absent"),
        ("v1", True, None),
    ]


def test_classify_prefers_trailers_then_reference_subjects() -> None:
    assert classify("anything", {"Dexops-Action": ["promote"]}) == "promote"
    assert classify("chore: update dev image to sha-1 [skip ci]", {}) == "deploy"
    assert classify("chore: update stage/prod image to sha-1", {}) == "deploy"
    assert classify("Merge pull request #7 from acme/promote-prod-sha-1", {}) == "promote"
    assert classify("fix: rollback prod to sha-1", {}) == "rollback"
    assert classify("fix: typo", {"Dexops-Action": ["bogus"]}) == "manual"


def test_current_holds_take_the_newest_decision_per_environment() -> None:
    def rec(commit: str, env: str, *, held: bool) -> holds.HoldRecord:
        return holds.HoldRecord(commit, "", env, held, None, None, None)

    newest_first = [
        rec("3", "prod", held=False),
        rec("2", "stage", held=True),
        rec("1", "prod", held=True),
    ]
    assert list(holds.current_holds(newest_first)) == ["stage"]
    trailers = holds.parse_trailer_items(
        ["Dexops-Action: rollback", "Dexops-Environment: prod", "Dexops-Hold: true"]
    )
    (record,) = holds.hold_records("c", "d", trailers)
    assert (record.environment, record.held, record.action) == ("prod", True, "rollback")


@given(st.lists(st.integers(min_value=0, max_value=len(_STREAM)), max_size=8))
def test_a_log_read_in_pieces_parses_as_the_whole(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(_STREAM)]
    pieces = [_STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert list(iter_log(pieces)) == parse_log(_STREAM)


def test_a_streamed_log_and_a_fed_batch_read_what_the_plain_commands_read(
    tmp_path: Path,
) -> None:
    repo = init_repo(tmp_path / "w", tmp_path / "o.git")
    for n in range(3):
        repo.write(OVERLAY, overlay(f"sha-0000000{n}"))
        repo.commit(f"chore: update prod image to sha-0000000{n}")
    git = Git(repo.path)
    args = log_arguments("HEAD", OVERLAY)
    with ObjectBatch(git) as batch:
        records = list(iter_log(stream(git, *args)))
        for record in [*records, *records]:  # asked twice, read once
            if record.blob:
                batch.request(record.blob)
        batch.request("0" * 40)  # absent: left out
        blobs = batch.contents()
    assert records == parse_log(git.run(*args))
    assert blobs == git.read_objects([r.blob for r in records if r.blob])
    assert len(blobs) == 3


def test_a_failed_stream_says_why_in_one_line(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "w", tmp_path / "o.git")
    repo.commit("empty")
    with pytest.raises(GitError, match=r"git log failed: fatal: .*nope"):
        list(stream(Git(repo.path), "log", "nope"))


def test_a_stream_left_early_leaves_no_git_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    repo = init_repo(tmp_path / "w", tmp_path / "o.git")
    repo.write("big.txt", "x\n" * 200_000)
    repo.commit("a commit whose patch is far more than one read")
    started: list[subprocess.Popen[bytes]] = []

    real = subprocess.Popen

    def recorded(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = real(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr("dexops.adapters.gitstream.subprocess.Popen", recorded)
    pieces = stream(Git(repo.path), "log", "-p")
    next(pieces)
    (proc,) = started
    assert proc.poll() is None  # git is still writing
    pieces.close()
    assert proc.returncode is not None  # killed and reaped

"""Holds and history read from the overlay's own commits, in full and shallow clones alike."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from dexops.domain import holds
from dexops.errors import DexopsError, ExitCode
from dexops.workflows.environments import read_states
from dexops.workflows.workspace import Workspace
from tests.conftest import Cli
from tests.gitrepo import GitRepo

OVERLAY = "infra/argocd/overlays/dev/kustomization.yaml"


def set_tag(repo: GitRepo, tag: str, subject: str, *trailers: holds.Trailers) -> str:
    """Commit the dev overlay holding `tag` (on the checked-out branch)."""
    text = (repo.path / OVERLAY).read_text(encoding="utf-8")
    current = text.split("newTag: ", 1)[1].split()[0]
    repo.write(OVERLAY, text.replace(f"newTag: {current}", f"newTag: {tag}"))
    return repo.commit(holds.commit_message(subject, "", list(trailers)), OVERLAY)


def noise(repo: GitRepo, count: int, name: str = "src/careerdex/noise.txt") -> None:
    """Commits that leave every overlay alone."""
    for i in range(count):
        repo.write(name, f"{i}\n")
        repo.commit(f"feat: unrelated change {i}", name)


def rollback_hold(repo: GitRepo, tag: str, previous: str) -> str:
    """A dexops rollback of dev to `tag` that puts dev on hold."""
    trailer = holds.Trailers("rollback", "dev", tag, previous, hold=True)
    return set_tag(repo, tag, f"fix: rollback dev to {tag}", trailer)


def release(repo: GitRepo, tag: str) -> str:
    """A dexops hold release: an empty commit with the hold trailer."""
    trailer = holds.Trailers("hold-release", "dev", image_tag=tag, hold=False)
    message = holds.commit_message("chore: release rollback hold on dev", "", [trailer])
    repo.git("commit", "--quiet", "--allow-empty", "-m", message)
    return repo.head()


def oracle_hold(repo: GitRepo, branch: str) -> str | None:
    """git's own answer: the newest commit of the whole branch deciding dev's hold."""
    out = repo.git(
        "log",
        "--format=%H %(trailers:key=Dexops-Hold,valueonly,separator=)",
        "-E",
        "--grep=^Dexops-Hold: (true|false)$",
        f"origin/{branch}",
    )
    for line in out.splitlines():
        commit, _, value = line.partition(" ")
        return commit if value.strip() == "true" else None
    return None


def status_row(cli: Cli, cwd: Path, env: str = "dev") -> dict[str, object]:
    result = cli("status", "--json", cwd=cwd)
    assert result.code == 0, result.err
    row: dict[str, object] = next(r for r in json.loads(result.out) if r["environment"] == env)
    return row


def test_a_hold_behind_many_commits_is_seen_and_its_empty_release_too(
    dex_repo: GitRepo, cli: Cli
) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    set_tag(dex_repo, "sha-00000001", "chore: update dev image to sha-00000001")
    set_tag(dex_repo, "sha-00000002", "chore: update dev image to sha-00000002")
    held = rollback_hold(dex_repo, "sha-00000001", "sha-00000002")
    noise(dex_repo, 40)
    dex_repo.push("dev")
    assert oracle_hold(dex_repo, "dev") == held
    assert status_row(cli, dex_repo.path)["hold"] == f"held by {held[:8]}"
    release(dex_repo, "sha-00000001")
    noise(dex_repo, 3)
    dex_repo.push("dev")
    assert oracle_hold(dex_repo, "dev") is None
    assert status_row(cli, dex_repo.path)["hold"] is None
    # A new hold after the release counts again.
    again = rollback_hold(dex_repo, "sha-00000002", "sha-00000001")
    dex_repo.push("dev")
    assert oracle_hold(dex_repo, "dev") == again
    assert status_row(cli, dex_repo.path)["hold"] == f"held by {again[:8]}"


def shallow_clone(repo: GitRepo, path: Path, branch: str) -> GitRepo:
    """`actions/checkout`'s default: one commit of one branch."""
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            branch,
            f"file://{repo.origin}",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    clone = GitRepo(path, repo.origin)
    assert clone.git("rev-parse", "--is-shallow-repository") == "true"
    return clone


def held_dev(dex_repo: GitRepo) -> str:
    dex_repo.git("checkout", "--quiet", "dev")
    set_tag(dex_repo, "sha-00000001", "chore: update dev image to sha-00000001")
    set_tag(dex_repo, "sha-00000002", "chore: update dev image to sha-00000002")
    held = rollback_hold(dex_repo, "sha-00000001", "sha-00000002")
    noise(dex_repo, 5)
    dex_repo.push("dev")
    return held


def test_a_shallow_clone_never_hides_a_hold_from_deploy_update(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    held_dev(dex_repo)
    clone = shallow_clone(dex_repo, tmp_path / "ci", "dev")
    before = dex_repo.remote_refs()
    result = cli(
        "deploy.update", "--branch", "dev", "--image-tag", "sha-00000003", "--push", cwd=clone.path
    )
    assert result.code == ExitCode.ON_HOLD, result.err
    assert "dev is on hold since rollback" in result.err
    assert dex_repo.remote_refs() == before


def test_the_plan_in_a_shallow_clone_sees_a_hold_behind_its_depth(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan learns that the clone is shallow from the rev-parse that reads HEAD; a wrong
    # answer there would leave the hold behind the cut unread, and the plan would update dev.
    held_dev(dex_repo)
    clone = shallow_clone(dex_repo, tmp_path / "ci", "dev")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    result = cli("pipeline.plan", "--json", cwd=clone.path)
    assert result.code == 0, result.err
    dev = next(e for e in json.loads(result.out)["environments"] if e["environment"] == "dev")
    assert dev["action"] == "held"
    lines = trace.read_text(encoding="utf-8").splitlines()
    commands = [line.split("built-in: ", 1)[1] for line in lines if "built-in: git " in line]
    deepened = next(i for i, c in enumerate(commands) if "--unshallow" in c)
    assert "--is-shallow-repository 'HEAD^{commit}'" in commands[0]
    # Until the history is completed, nothing asks again (afterwards it is asked anew).
    assert "git rev-parse --is-shallow-repository" not in commands[:deepened]


def test_history_in_a_shallow_clone_is_the_whole_history(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    held_dev(dex_repo)
    clone = shallow_clone(dex_repo, tmp_path / "ci", "dev")
    result = cli("history", "--env", "dev", "--json", cwd=clone.path)
    assert result.code == 0, result.err
    tags = [row["tag"] for row in json.loads(result.out)]
    expected = dex_repo.git("log", "--format=%H", "origin/dev", "--", OVERLAY).splitlines()
    assert tags == ["sha-00000001", "sha-00000002", "sha-00000001", "sha-0a1b2c3d"]
    assert len(expected) == 4
    assert clone.git("rev-parse", "--is-shallow-repository") == "false"


def test_a_shallow_clone_that_cannot_deepen_refuses_in_one_line(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    held_dev(dex_repo)
    # origin itself is a mirror cut short: a deepening fetch succeeds and brings nothing.
    mirror = tmp_path / "mirror.git"
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--bare",
            "--depth",
            "1",
            "--no-single-branch",
            f"file://{dex_repo.origin}",
            str(mirror),
        ],
        check=True,
        capture_output=True,
    )
    clone = GitRepo(tmp_path / "ci", mirror)
    subprocess.run(
        [
            "git",
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--no-single-branch",
            "--branch",
            "dev",
            f"file://{mirror}",
            str(clone.path),
        ],
        check=True,
        capture_output=True,
    )
    before = clone.remote_refs()
    for task in (
        ["status"],
        ["history", "--env", "dev"],
        ["metrics"],
        ["rollback", "--env", "dev"],
        ["deploy.update", "--branch", "dev", "--image-tag", "sha-00000003", "--push"],
    ):
        result = cli(*task, cwd=clone.path)
        assert result.code != 0, task
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, result.err
        assert lines[0].startswith("error: this is a shallow clone"), result.err
        assert "fetch-depth: 0" in lines[0], result.err
    assert clone.remote_refs() == before
    assert clone.git("rev-parse", "--is-shallow-repository") == "true"


OLD_IMAGE = "ghcr.io/thedataenginex/dex"
NEW_IMAGE = "ghcr.io/dataenginex-org/dex"


def configure(repo: GitRepo, *lines: str, image: str | None = None) -> None:
    """Add keys to the dev environment (and rename the component's image) in the checkout."""
    path = repo.path / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        'namespace = "dex-dev"\n',
        'namespace = "dex-dev"\n' + "".join(f"{line}\n" for line in lines),
    )
    if image:
        text = text.replace(f'image = "{OLD_IMAGE}"', f'image = "{image}"')
    path.write_text(text, encoding="utf-8")


def rename(repo: GitRepo, new: str) -> str:
    """The organisation rename: `newName` changes, the tag stays."""
    repo.write(OVERLAY, (repo.path / OVERLAY).read_text(encoding="utf-8").replace(OLD_IMAGE, new))
    return repo.commit("chore: the organisation is now dataenginex-org", OVERLAY)


def introduced(repo: GitRepo, tag: str) -> str:
    """git's answer: the oldest commit that added `newTag: <tag>` to the overlay."""
    out = repo.git(
        "log", "--reverse", "--format=%H", "-S", f"newTag: {tag}", "origin/dev", "--", OVERLAY
    )
    return out.splitlines()[0]


def renamed_history(dex_repo: GitRepo, *, extra_entry: bool) -> str:
    dex_repo.git("checkout", "--quiet", "dev")
    if extra_entry:
        text = (dex_repo.path / OVERLAY).read_text(encoding="utf-8")
        dex_repo.write(OVERLAY, text + "  - name: busybox\n    newTag: '1.36'\n")
        dex_repo.commit("feat: a sidecar image", OVERLAY)
    set_tag(dex_repo, "sha-00000001", "chore: update dev image to sha-00000001")
    set_tag(dex_repo, "sha-00000002", "feat: hand-edited overlay")
    renamed = rename(dex_repo, NEW_IMAGE)
    set_tag(dex_repo, "sha-00000003", "chore: update dev image to sha-00000003")
    dex_repo.push("dev")
    return renamed


def test_history_follows_the_only_image_entry_through_a_rename(dex_repo: GitRepo, cli: Cli) -> None:
    renamed = renamed_history(dex_repo, extra_entry=False)
    configure(dex_repo, image=NEW_IMAGE)
    result = cli("history", "--env", "dev", "--json", cwd=dex_repo.path)
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    tags = ["sha-00000003", "sha-00000002", "sha-00000002", "sha-00000001", "sha-0a1b2c3d"]
    assert [r["tag"] for r in rows] == tags
    assert rows[1]["commit"] == renamed
    assert rows[1]["renamed_from"] == OLD_IMAGE
    assert rows[1]["image"] == NEW_IMAGE
    # Each tag is dated by the commit that introduced it, as git's pickaxe finds it.
    for row in rows[2:4] + rows[:1]:
        assert row["commit"] == introduced(dex_repo, row["tag"])
    table = cli("history", "--env", "dev", cwd=dex_repo.path)
    assert f"renamed from {OLD_IMAGE}" in table.out


def test_history_follows_configured_former_names(dex_repo: GitRepo, cli: Cli) -> None:
    renamed_history(dex_repo, extra_entry=True)
    configure(dex_repo, image=NEW_IMAGE)
    lost = json.loads(cli("history", "--env", "dev", "--json", cwd=dex_repo.path).out)
    # Two entries and neither has the new name: before the rename, history cannot tell.
    assert "sha-00000001" not in [r["tag"] for r in lost]
    configure(dex_repo, f'former-images = ["{OLD_IMAGE}"]')
    rows = json.loads(cli("history", "--env", "dev", "--json", cwd=dex_repo.path).out)
    assert [r["tag"] for r in rows if not r["renamed_from"]] == [
        "sha-00000003",
        "sha-00000002",
        "sha-00000001",
        "sha-0a1b2c3d",
    ]
    assert rows[2]["commit"] == introduced(dex_repo, "sha-00000002")


def test_a_bad_deploy_commit_pattern_is_one_line(dex_repo: GitRepo, cli: Cli) -> None:
    configure(dex_repo, 'deploy-commit-pattern = "(unclosed"')
    result = cli("history", "--env", "dev", cwd=dex_repo.path)
    assert result.code != 0
    assert result.err.startswith("error: ")
    assert "deploy-commit-pattern" in result.err
    assert len(result.err.strip().splitlines()) == 1


def bot_deploys(dex_repo: GitRepo) -> list[str]:
    dex_repo.git("checkout", "--quiet", "dev")
    made = []
    for n in (4, 5):
        text = (dex_repo.path / OVERLAY).read_text(encoding="utf-8")
        current = text.split("newTag: ", 1)[1].split()[0]
        dex_repo.write(OVERLAY, text.replace(current, f"sha-0000000{n}"))
        dex_repo.git("add", OVERLAY)
        dex_repo.git(
            "-c",
            "user.name=renovate[bot]",
            "commit",
            "--quiet",
            "-m",
            f"Update dex image to sha-0000000{n}",
        )
        made.append(dex_repo.head())
    dex_repo.push("dev")
    return made


def test_bot_deploy_commits_count_once_configured(dex_repo: GitRepo, cli: Cli) -> None:
    made = bot_deploys(dex_repo)
    plain = json.loads(cli("metrics", "--env", "dev", "--json", cwd=dex_repo.path).out)
    dev = plain["environments"][0]
    assert dev["deployments"] == 0
    reasons = dev["unattributed_overlay_commits"]
    unmarked = next(why for why in reasons if "deploy-commit-pattern" in why)
    assert reasons[unmarked] == 2
    assert reasons["the overlay's first version"] == 1
    warned = cli("metrics", "--env", "dev", cwd=dex_repo.path)
    assert "3 overlay commit(s)" in warned.err
    configure(dex_repo, 'deploy-commit-pattern = "^Update dex image to "')
    counted = json.loads(cli("metrics", "--env", "dev", "--json", cwd=dex_repo.path).out)
    assert counted["environments"][0]["deployments"] == 2
    left = counted["environments"][0]["unattributed_overlay_commits"]
    assert left == {"the overlay's first version": 1}
    history = json.loads(cli("history", "--env", "dev", "--json", cwd=dex_repo.path).out)
    assert [(r["commit"], r["kind"]) for r in history[:2]] == [
        (made[1], "deploy"),
        (made[0], "deploy"),
    ]
    assert status_row(cli, dex_repo.path)["kind"] == "deploy"
    assert status_row(cli, dex_repo.path)["commit"] == made[1]


def test_metrics_window_is_dates_and_an_empty_one_says_when_the_last_was(
    dex_repo: GitRepo, cli: Cli
) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    text = (dex_repo.path / OVERLAY).read_text(encoding="utf-8")
    dex_repo.write(OVERLAY, text.replace("sha-0a1b2c3d", "sha-00000001"))
    dex_repo.git("add", OVERLAY)
    old = "2020-03-04T05:06:07+00:00"
    trailer = holds.Trailers("deploy", "dev", "sha-00000001", "sha-0a1b2c3d")
    subprocess.run(
        ["git", "commit", "--quiet", "-m", holds.commit_message("chore: deploy", "", [trailer])],
        cwd=dex_repo.path,
        check=True,
        env={**__import__("os").environ, "GIT_COMMITTER_DATE": old, "GIT_AUTHOR_DATE": old},
    )
    dex_repo.push("dev")
    report = json.loads(cli("metrics", "--env", "dev", "--json", cwd=dex_repo.path).out)
    start, end = report["window"]["start"], report["window"]["end"]
    assert len(start) == len(end) == 10
    assert start[4] == "-"
    assert report["environments"][0]["deployments"] == 0
    assert report["environments"][0]["last_deployment"] == "2020-03-04"
    shown = cli("metrics", "--env", "dev", cwd=dex_repo.path)
    assert f"Deployments {start} to {end}" in shown.out
    assert "the last one was on 2020-03-04 (--since 2020-03-04" in shown.err
    wide = json.loads(
        cli("metrics", "--env", "dev", "--since", "2020-03-04", "--json", cwd=dex_repo.path).out
    )
    assert wide["environments"][0]["deployments"] == 1


def test_the_hold_scan_stops_at_the_newest_dexops_deploy(dex_repo: GitRepo, cli: Cli) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    rollback_hold(dex_repo, "sha-00000001", "sha-0a1b2c3d")
    # A deploy dexops made (it makes none while dev is held): nothing older can hold dev,
    # so the walk ends here however long the overlay's history behind it is.
    trailer = holds.Trailers("deploy", "dev", "sha-00000002", "sha-00000001")
    set_tag(dex_repo, "sha-00000002", "chore: update dev image to sha-00000002", trailer)
    noise(dex_repo, 3)
    dex_repo.push("dev")
    assert status_row(cli, dex_repo.path)["hold"] is None
    again = rollback_hold(dex_repo, "sha-00000001", "sha-00000002")
    dex_repo.push("dev")
    assert status_row(cli, dex_repo.path)["hold"] == f"held by {again[:8]}"


def hold_scan_logs(trace: Path, branch: str = "dev") -> list[list[str]]:
    """The hold scan's `git log` commands on `branch` in a GIT_TRACE file (history's: --raw)."""
    logs = []
    for line in trace.read_text(encoding="utf-8").splitlines():
        _, found, command = line.partition("trace: built-in: git log ")
        args = shlex.split(command)
        if found and "--raw" not in args and f"refs/remotes/origin/{branch}" in args:
            logs.append(args)
    return logs


def commits_asked(logs: list[list[str]]) -> int:
    """How many commits the hold scan's logs let git print at most, all pages together."""
    pages = [int(a.split("=", 1)[1]) for log in logs for a in log if a.startswith("--max-count=")]
    assert len(pages) == len(logs), f"a hold scan without a bound: {logs}"
    return sum(pages)


def traced_hold(cli: Cli, repo: GitRepo, trace: Path) -> tuple[object, list[list[str]]]:
    """dev's hold as `status` reports it, and the hold scan's git commands on dev."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_TRACE", str(trace))
        hold = status_row(cli, repo.path)["hold"]
    return hold, hold_scan_logs(trace)


def overlay_revisions(repo: GitRepo) -> int:
    return int(repo.git("rev-list", "--count", "origin/dev", "--", OVERLAY))


def test_the_hold_scan_reads_one_page_of_overlay_commits_however_long_the_branch(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    trailer = holds.Trailers("deploy", "dev", "sha-00000002", "sha-00000001")
    set_tag(dex_repo, "sha-00000002", "chore: update dev image to sha-00000002", trailer)
    noise(dex_repo, 20)
    dex_repo.push("dev")
    hold, short = traced_hold(cli, dex_repo, tmp_path / "short.trace")
    assert hold is None
    noise(dex_repo, 60)
    dex_repo.push("dev")
    hold, long = traced_hold(cli, dex_repo, tmp_path / "long.trace")
    assert hold is None
    # One log of the overlay's own commits, asking for one small page: 60 more commits on
    # the branch change neither the commands nor how much of the history they may read.
    assert len(short) == len(long) == 1
    assert long[0][-2:] == ["--", OVERLAY]
    assert commits_asked(short) == commits_asked(long) <= 8


def test_the_hold_scan_reads_in_proportion_to_the_overlay_revisions(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    # Hand edits only: no dexops deploy settles the scan, so it reads the overlay's whole
    # history, and no more of it than twice its length (pages that double).
    dex_repo.git("checkout", "--quiet", "dev")
    for n in range(40):
        set_tag(dex_repo, f"sha-{n:08x}", f"feat: hand-edited overlay {n}")
        noise(dex_repo, 2, name=f"src/careerdex/noise-{n % 3}.txt")
    dex_repo.push("dev")
    revisions = overlay_revisions(dex_repo)
    hold, logs = traced_hold(cli, dex_repo, tmp_path / "hand.trace")
    assert hold is None
    assert all(log[-2:] == ["--", OVERLAY] for log in logs)
    assert revisions <= commits_asked(logs) <= 2 * revisions + 8
    assert len(logs) <= revisions.bit_length()


def test_hold_trailers_off_the_overlay_are_judged_as_the_overlay_scan_finds_them(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path
) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    held = rollback_hold(dex_repo, "sha-00000001", "sha-00000002")
    noise(dex_repo, 30)
    dex_repo.push("dev")
    hold, logs = traced_hold(cli, dex_repo, tmp_path / "held.trace")
    assert hold == f"held by {held[:8]}"
    # The hold-release is an empty commit behind many others: found, after the hold only.
    release(dex_repo, "sha-00000001")
    noise(dex_repo, 30)
    dex_repo.push("dev")
    hold, logs = traced_hold(cli, dex_repo, tmp_path / "released.trace")
    assert hold is None
    after_hold = [log for log in logs if f"^{held}" in log]
    assert len(after_hold) == 1
    assert commits_asked(logs) <= 16
    # A hold trailer on a commit that leaves the overlay alone, after a dexops deploy, sets
    # no hold: only a rollback holds, and a rollback edits its overlay (docs/gitops.md).
    trailer = holds.Trailers("deploy", "dev", "sha-00000003", "sha-00000001")
    set_tag(dex_repo, "sha-00000003", "chore: update dev image to sha-00000003", trailer)
    stray = holds.Trailers("rollback", "dev", "sha-00000001", "sha-00000003", hold=True)
    message = holds.commit_message("chore: a hand-written hold", "", [stray])
    dex_repo.git("commit", "--quiet", "--allow-empty", "-m", message)
    dex_repo.push("dev")
    hold, _ = traced_hold(cli, dex_repo, tmp_path / "stray.trace")
    assert hold is None


def test_status_reads_no_commit_behind_the_overlay_revisions_it_needs(
    dex_repo: GitRepo, cli: Cli
) -> None:
    # An overlay that changes rarely: git finds N overlay commits only by walking the branch
    # back to the Nth, so asking for more than the answer needs walks all of it. The commit
    # here behind the two revisions status needs loses its tree: any walk reaching it fails.
    dex_repo.git("checkout", "--quiet", "dev")
    noise(dex_repo, 1, name="src/careerdex/unreadable.txt")
    behind = dex_repo.git("rev-parse", "HEAD^{tree}").strip()
    noise(dex_repo, 2)
    set_tag(dex_repo, "sha-00000001", "feat: hand-edited overlay")
    noise(dex_repo, 2)
    trailer = holds.Trailers("deploy", "dev", "sha-00000002", "sha-00000001")
    deployed = set_tag(dex_repo, "sha-00000002", "chore: update dev image", trailer)
    noise(dex_repo, 2)
    dex_repo.push("dev")
    (dex_repo.path / ".git" / "objects" / behind[:2] / behind[2:]).unlink()
    walked = subprocess.run(
        ["git", "log", "--format=%H", "origin/dev", "--", OVERLAY],
        cwd=dex_repo.path, capture_output=True, check=False,
    )  # fmt: skip
    assert walked.returncode != 0  # the whole overlay history cannot be read any more
    row = status_row(cli, dex_repo.path)
    assert (row["tag"], row["commit"], row["hold"]) == ("sha-00000002", deployed, None)
    # pipeline.plan's hold scan of dev stops at the same place.
    planned = cli("pipeline.plan", "--json", cwd=dex_repo.path)
    assert planned.code == 0, planned.err
    dev = next(e for e in json.loads(planned.out)["environments"] if e["environment"] == "dev")
    assert (dev["current_tag"], dev["action"]) == ("sha-00000002", "update")


def test_status_reads_every_overlay_with_one_git_process(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dev on its own branch, stage and prod both on main: three overlays at two tips.
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    result = cli("status", "--json", cwd=dex_repo.path)
    monkeypatch.delenv("GIT_TRACE")
    assert result.code == 0, result.err
    lines = trace.read_text(encoding="utf-8").splitlines()
    commands = [line.split("built-in: ", 1)[1] for line in lines if "built-in: git " in line]
    # Each tip is resolved and its overlays read in the same process: no rev-parse per branch.
    assert not [c for c in commands if c.startswith("git rev-parse") and "refs/remotes" in c]
    first_log = next(i for i, c in enumerate(commands) if c.startswith("git log"))
    assert [c for c in commands[:first_log] if "cat-file" in c] == ["git cat-file --batch"]
    for row in json.loads(result.out):
        branch = str(row["branch"])
        overlay = f"infra/argocd/overlays/{row['environment']}/kustomization.yaml"
        text = dex_repo.git("show", f"origin/{branch}:{overlay}")
        assert f"newTag: {row['tag']}" in text


def test_an_overlay_missing_at_the_tip_or_a_branch_never_fetched_is_one_error(
    dex_repo: GitRepo, cli: Cli
) -> None:
    dex_repo.git("checkout", "--quiet", "dev")
    dex_repo.git("rm", "--quiet", OVERLAY)
    dex_repo.commit("chore: dev has no overlay")
    dex_repo.push("dev")
    dex_repo.git("checkout", "--quiet", "main")  # the checked-out tree still has it
    result = cli("status", cwd=dex_repo.path)
    assert result.code != 0
    assert result.err == f"error: {OVERLAY} does not exist on origin/dev\n"
    # read_states alone, with the branch's remote-tracking ref gone (no fetch before it).
    dex_repo.git("update-ref", "-d", "refs/remotes/origin/dev")
    ws = Workspace.open(str(dex_repo.path))
    with pytest.raises(DexopsError, match=r"^origin has no branch 'dev' \(environment dev\)$"):
        read_states(ws, [ws.config.environment("dev"), ws.config.environment("stage")])


def test_deploy_update_reads_the_overlay_at_the_tip_once(
    dex_repo: GitRepo, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The overlay read with the branch's tip is the one the update edits: staging it on that
    # very commit asks no git again.
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    result = cli(
        "deploy.update",
        "--branch",
        "dev",
        "--image-tag",
        "sha-00000003",
        "--push",
        cwd=dex_repo.path,
    )
    monkeypatch.delenv("GIT_TRACE")
    assert result.code == 0, result.err
    lines = trace.read_text(encoding="utf-8").splitlines()
    commands = [line.split("built-in: ", 1)[1] for line in lines if "built-in: git " in line]
    assert [c for c in commands if "cat-file" in c] == ["git cat-file --batch"]
    assert "newTag: sha-00000003" in dex_repo.git("show", f"origin/dev:{OVERLAY}")

"""The example's workflows rehearsed end to end against real git, pypiservers, registry, buildah.

Each scenario pushes to the sandbox's origin, rehearses the workflows GitHub would start, and
asserts the end state: tags on origin, files on each index with their sha256, overlays per
branch, registry digests and labels, job outputs and summaries.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import require_tool
from tests.fixtures_github import GitHubFake
from tests.fixtures_pypi import PypiServers
from tests.fixtures_registry import LocalRegistry
from tests.integration.rehearsal_sandbox import (
    PYPI_UPLOAD,
    Sandbox,
    ci_completed,
    make_sandbox,
)
from tests.rehearsal import payloads
from tests.rehearsal.fixtures import Rehearsal
from tests.rehearsal.model import IndexTarget, RunResult

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(
    tmp_path: Path,
    rehearsal: Rehearsal,
    *,
    pypi_servers: PypiServers,
    local_registry: LocalRegistry,
    buildah_storage: Path,
    github_fake: GitHubFake,
    monkeypatch: pytest.MonkeyPatch,
) -> Sandbox:
    for tool in ("git", "uv", "buildah", "skopeo", "kubectl"):
        require_tool(tool, "apt-get install buildah skopeo kubernetes-client")
    return make_sandbox(
        tmp_path,
        rehearsal,
        indexes=pypi_servers,
        registry=local_registry,
        github=github_fake,
        monkeypatch=monkeypatch,
    )


def _bump(sandbox: Sandbox, version: str) -> str:
    """A version bump of dataenginex on main, pushed; returns the commit."""
    path = "packages/dataenginex/pyproject.toml"
    text = (sandbox.repo.path / path).read_text(encoding="utf-8")
    text = re.sub(r'(?m)^version = "[^"]+"', f'version = "{version}"', text, count=1)
    sandbox.sync("main")
    sandbox.repo.write(path, text)
    # uv.lock records the workspace member's version: the steps run --locked.
    subprocess.run(["uv", "lock", "--quiet"], cwd=sandbox.repo.path, check=True, timeout=300)
    commit = sandbox.repo.commit(f"chore: dataenginex {version}")
    sandbox.repo.push("main")
    return commit


def release_and_publish(
    sandbox: Sandbox,
    name: str | Path = "pypi-publish.yml",
    *,
    push: dict[str, Any] | None = None,
) -> tuple[RunResult, RunResult]:
    """release.yml for a push of main (a re-run: the same push), then pypi-publish.yml after it."""
    event = push or payloads.push(sandbox.repo.origin, "refs/heads/main")
    release = sandbox.run("release.yml", "push", event)
    release.assert_success()
    publish = sandbox.run(name, "workflow_run", payloads.workflow_run(release))
    return release, publish


def assert_published(sandbox: Sandbox, publish: RunResult, tag: str, *, production: bool) -> None:
    """The tag's files on the test index (and production when stable), with the tag's sha256."""
    from dexops.workflows.supply_chain import recorded_digests
    from dexops.workflows.workspace import Workspace

    publish.assert_success()
    assert publish.job("plan").outputs["has-publishes"] == "true", publish.report()
    assert publish.job("build").result == "success"
    sandbox.repo.git("fetch", "--quiet", "--tags", "origin")
    recorded = recorded_digests(Workspace.open(str(sandbox.repo.path)), tag)
    assert recorded, f"{tag} records no digests"
    files = sandbox.index_files()
    assert files["localtest"] == {**files["localtest"], **recorded}
    version = tag.removeprefix("dataenginex-v")
    if production:
        assert {n: d for n, d in files["localprod"].items() if f"-{version}" in n} == recorded
    else:
        assert not [n for n in files["localprod"] if f"-{version}" in n]


def test_push_to_main_with_a_bump_releases_publishes_and_updates_stage_only(
    sandbox: Sandbox,
) -> None:
    bumped = _bump(sandbox, "0.4.11")
    pushed = payloads.push(sandbox.repo.origin, "refs/heads/main")
    release, publish = release_and_publish(sandbox, push=pushed)
    # release: one tag per component whose version has none; both at the pushed commit.
    assert release.job("plan").outputs["has-releases"] == "true"
    tags = sandbox.origin_tags()
    assert tags["dataenginex-v0.4.11"] == bumped
    assert tags["careerdex-v0.3.5"] == bumped
    assert "dataenginex-v0.4.11" in sandbox.github.releases
    assert "dexops pipeline plan" in release.job("plan").only.summary
    # publish: the test index, then the production index (a stable version), same bytes.
    assert_published(sandbox, publish, "dataenginex-v0.4.11", production=True)
    assert publish.job("testpypi").result == "success"
    assert publish.job("pypi").result == "success"
    assert publish.job("notify").result == "success"

    # CD after CI on main: stage runs the commit's sha tag; prod (promotion-only) is untouched.
    prod_before = sandbox.overlay_tag("prod", "main")
    cd = sandbox.run("cd.yml", "workflow_run", ci_completed("main", bumped))
    cd.assert_success()
    sha_tag = f"sha-{bumped[:8]}"
    assert cd.job("image").outputs["image-tag"] == sha_tag
    assert sandbox.overlay_tag("stage", "main") == sha_tag
    assert sandbox.overlay_tag("prod", "main") == prod_before
    digest, labels = sandbox.image_labels(sha_tag)
    assert labels["org.opencontainers.image.revision"] == bumped
    assert sandbox.image_labels("latest")[0] == digest

    # Re-running every workflow after success converges: nothing new anywhere.
    files, tags = sandbox.index_files(), sandbox.origin_tags()
    main_tip = sandbox.origin_sha("main")
    again_release, again_publish = release_and_publish(sandbox, push=pushed)
    assert again_release.job("plan").outputs["has-releases"] == "false"  # tags at HEAD
    assert again_release.job("release").result == "skipped"
    again_publish.assert_success()
    assert again_publish.job("plan").outputs["has-publishes"] == "false"
    assert again_publish.job("build").result == "skipped"
    again_cd = sandbox.run("cd.yml", "workflow_run", ci_completed("main", bumped))
    again_cd.assert_success()
    assert (sandbox.index_files(), sandbox.origin_tags()) == (files, tags)
    assert sandbox.origin_sha("main") == main_tip  # stage already ran the tag: no commit


def test_a_half_finished_publish_is_completed_by_a_re_run(sandbox: Sandbox) -> None:
    _bump(sandbox, "0.4.11")
    # PyPI refuses the upload (a broken trusted publisher): TestPyPI has the files, PyPI not.
    services = sandbox.rehearsal.services
    good = services.indexes[PYPI_UPLOAD]
    services.indexes[PYPI_UPLOAD] = IndexTarget(good.url, good.username, "not-the-password")
    release, failed = release_and_publish(sandbox)
    assert failed.job("testpypi").result == "success"
    assert failed.job("pypi").result == "failure"
    assert not sandbox.indexes.production.files()
    services.indexes[PYPI_UPLOAD] = good
    # The re-run: TestPyPI has every file, so only PyPI still needs them, and gets them.
    again = sandbox.run("pypi-publish.yml", "workflow_run", payloads.workflow_run(release))
    assert again.job("plan").outputs["has-test-index"] == "false"
    assert again.job("plan").outputs["has-production-index"] == "true"
    assert again.job("testpypi").result == "skipped"
    assert_published(sandbox, again, "dataenginex-v0.4.11", production=True)


def test_a_pre_release_goes_to_the_test_index_only(sandbox: Sandbox) -> None:
    _bump(sandbox, "0.5.0rc1")
    _, publish = release_and_publish(sandbox)
    assert_published(sandbox, publish, "dataenginex-v0.5.0rc1", production=False)
    assert publish.job("plan").outputs["has-production-index"] == "false"
    assert publish.job("pypi").result == "skipped"
    assert sandbox.github.releases["dataenginex-v0.5.0rc1"]["prerelease"] is True


def test_a_wrong_output_name_makes_the_publish_rehearsal_fail(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The mutation proof: the output name pipeline.plan used to write, read by the workflow."""
    mutated = tmp_path / "pypi-publish.yml"
    text = sandbox.workflow("pypi-publish.yml").read_text(encoding="utf-8")
    mutated.write_text(
        text.replace("outputs.has-publishes", "outputs.has-publishs"), encoding="utf-8"
    )
    _bump(sandbox, "0.4.11")
    _, publish = release_and_publish(sandbox, name=mutated)
    with pytest.raises(AssertionError):
        assert_published(sandbox, publish, "dataenginex-v0.4.11", production=True)
    assert publish.job("build").result == "skipped"


def _dev_push(sandbox: Sandbox) -> tuple[str, RunResult]:
    dev = sandbox.commit_and_push(
        "dev", "src/careerdex/banner.py", 'BANNER = "dev build"\n', "feat: a dev banner"
    )
    ci = sandbox.run("ci.yml", "push", payloads.push(sandbox.repo.origin, "refs/heads/dev"))
    ci.assert_success()
    return dev, ci


def test_push_to_dev_runs_ci_then_cd_with_the_dev_commit(sandbox: Sandbox) -> None:
    main_tip = sandbox.origin_sha("main")
    dev, ci = _dev_push(sandbox)
    assert ci.job("integration-test").result == "skipped"
    cd = sandbox.run("cd.yml", "workflow_run", payloads.workflow_run(ci))
    cd.assert_success()
    sha_tag = f"sha-{dev[:8]}"
    assert cd.job("image").outputs["image-tag"] == sha_tag
    # The dev overlay carries the dev commit's tag; the image has the dev commit's label.
    assert sandbox.overlay_tag("dev", "dev") == sha_tag
    digest, labels = sandbox.image_labels(sha_tag)
    assert labels["org.opencontainers.image.revision"] == dev
    assert sandbox.image_labels("dev")[0] == digest  # the environment's moving tag
    assert sandbox.origin_sha("main") == main_tip
    assert cd.job("argocd-dev").result == "skipped"  # no ARGOCD_SERVER variable


def test_a_wrong_event_field_makes_the_cd_rehearsal_fail(sandbox: Sandbox, tmp_path: Path) -> None:
    """The mutation proof: cd.yml checking out `after` (absent in workflow_run) builds main."""
    mutated = tmp_path / "cd.yml"
    text = sandbox.workflow("cd.yml").read_text(encoding="utf-8")
    mutated.write_text(
        text.replace(
            "ref: ${{ github.event.workflow_run.head_sha }}", "ref: ${{ github.event.after }}"
        ),
        encoding="utf-8",
    )
    dev, ci = _dev_push(sandbox)
    cd = sandbox.run(mutated, "workflow_run", payloads.workflow_run(ci))
    with pytest.raises(AssertionError):
        cd.assert_success()
    assert "workflow_run.head_sha" in cd.job("image").only.step("tags").log
    assert sandbox.overlay_tag("dev", "dev") != f"sha-{dev[:8]}"


def test_pull_requests_run_ci_and_the_full_test_label_adds_the_integration_job(
    sandbox: Sandbox,
) -> None:
    sandbox.repo.git("checkout", "--quiet", "-b", "feature/x", "main")
    sandbox.commit_and_push("feature/x", "src/careerdex/extra.py", "X = 1\n", "feat: x")
    opened = payloads.pull_request(sandbox.repo.origin, number=7, head="feature/x", base="main")
    ci = sandbox.run("ci.yml", "pull_request", opened)
    ci.assert_success()
    assert ci.results == {"lint-and-test": "success", "integration-test": "skipped"}
    labeled = payloads.pull_request(
        sandbox.repo.origin,
        number=7,
        head="feature/x",
        base="main",
        action="labeled",
        labels=("full-test",),
    )
    full = sandbox.run("ci.yml", "pull_request", labeled)
    full.assert_success()
    assert full.results == {"lint-and-test": "skipped", "integration-test": "success"}
    # A pull request never deploys: CD's workflow_run filter does not take its CI run.
    cd = sandbox.run("cd.yml", "workflow_run", payloads.workflow_run(ci))
    assert not cd.triggered
    assert not cd.jobs


def _dispatch(sandbox: Sandbox, name: str, **inputs: Any) -> RunResult:
    return sandbox.run(name, "workflow_dispatch", payloads.dispatch("refs/heads/main", **inputs))


def test_promotion_to_prod_through_its_dispatch_workflow(
    sandbox: Sandbox,
) -> None:
    first = sandbox.repo.head()
    sandbox.run("cd.yml", "workflow_run", ci_completed("main", first)).assert_success()
    promoted = _dispatch(sandbox, "promote.yml", **{"to-env": "prod"})
    promoted.assert_success()
    assert promoted.job("promote").only.environment == "prod"
    assert sandbox.overlay_tag("prod", "main") == f"sha-{first[:8]}"
    # A second image reaches stage by CD and prod by promotion only.
    second = sandbox.commit_and_push("main", "src/careerdex/banner.py", 'BANNER = "2"\n', "feat: 2")
    sandbox.run("cd.yml", "workflow_run", ci_completed("main", second)).assert_success()
    assert sandbox.overlay_tag("prod", "main") == f"sha-{first[:8]}"  # CD leaves prod alone
    _dispatch(sandbox, "promote.yml", **{"to-env": "prod"}).assert_success()
    assert sandbox.overlay_tag("prod", "main") == f"sha-{second[:8]}"


def test_rollback_of_prod_through_its_dispatch_workflow_returns_the_promoted_tag(
    sandbox: Sandbox,
) -> None:
    first = sandbox.repo.head()
    sandbox.run("cd.yml", "workflow_run", ci_completed("main", first)).assert_success()
    _dispatch(sandbox, "promote.yml", **{"to-env": "prod"}).assert_success()
    second = sandbox.commit_and_push("main", "src/careerdex/banner.py", 'BANNER = "2"\n', "feat: 2")
    sandbox.run("cd.yml", "workflow_run", ci_completed("main", second)).assert_success()
    _dispatch(sandbox, "promote.yml", **{"to-env": "prod"}).assert_success()
    assert sandbox.overlay_tag("prod", "main") == f"sha-{second[:8]}"
    stage = sandbox.overlay_tag("stage", "main")

    rolled = _dispatch(sandbox, "rollback.yml", env="prod")
    rolled.assert_success()
    run = rolled.job("rollback").only
    assert run.environment == "prod"
    assert run.concurrency == "deploy-main"
    # prod runs the image it ran before the last promotion, and is held there.
    assert sandbox.overlay_tag("prod", "main") == f"sha-{first[:8]}"
    assert sandbox.overlay_tag("stage", "main") == stage
    tip = sandbox.origin_sha("main")
    assert run.step("previous").outputs == {"outcome": "pushed", "commit": tip}
    assert run.step("further").outcome == "skipped"
    message = sandbox.repo.origin_git("log", "-1", "--format=%B", "main")
    assert message.startswith(f"fix: rollback prod to sha-{first[:8]}")
    for trailer in (
        "Dexops-Action: rollback",
        "Dexops-Environment: prod",
        f"Dexops-Image-Tag: sha-{first[:8]}",
        f"Dexops-Previous-Tag: sha-{second[:8]}",
        "Dexops-Hold: true",
    ):
        assert trailer in message.splitlines(), message
    assert "prod is on hold" in run.step("previous").log

    # A re-run of the dispatch (a retried job: the same inputs) changes nothing: it never
    # rolls back a second time, to the seed image the registry does not even have.
    again = _dispatch(sandbox, "rollback.yml", env="prod")
    again.assert_success()
    step = again.job("rollback").step("previous")
    assert step.outputs == {"outcome": "unchanged"}
    assert f"prod is already rolled back to sha-{first[:8]}" in step.log
    assert sandbox.origin_sha("main") == tip
    assert sandbox.overlay_tag("prod", "main") == f"sha-{first[:8]}"

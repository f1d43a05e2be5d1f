"""Library releases record their built files: digests in the tag, SBOM and SHA256SUMS assets."""

from __future__ import annotations

import json

import pytest

from dexops.adapters.github import uploads_root
from dexops.adapters.sbom import parse_digests, sha256sums
from dexops.errors import ForgeError
from tests.conftest import Cli
from tests.fixtures_github import FAKE_TOKEN, GitHubFake
from tests.gitrepo import GitRepo
from tests.snapshot import RepoSnapshot

TAG = "dataenginex-v0.4.10"
RELEASES = "/repos/thedataenginex/dex/releases"
SBOM = "dataenginex-0.4.10.cdx.json"
FILES = ["dataenginex-0.4.10-py3-none-any.whl", "dataenginex-0.4.10.tar.gz"]


def _one_error(err: str) -> None:
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("api", "uploads"),
    [
        ("https://api.github.com", "https://uploads.github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/uploads"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_the_uploads_host_comes_from_the_api_root(api: str, uploads: str) -> None:
    assert uploads_root(api) == uploads


def test_an_asset_that_exists_is_reported_not_an_error(github_fake: GitHubFake) -> None:
    client = github_fake.client()
    github_fake.add_release(TAG)
    release = client.release_for_tag(TAG)
    assert release is not None
    assert release.assets == ()
    assert client.upload_release_asset(release, "SHA256SUMS", b"abc  x\n", "text/plain") is True
    assert client.upload_release_asset(release, "SHA256SUMS", b"other\n", "text/plain") is False
    assert github_fake.asset_data[(TAG, "SHA256SUMS")] == b"abc  x\n"
    again = client.release_for_tag(TAG)
    assert again is not None
    assert again.assets == ("SHA256SUMS",)
    upload = github_fake.requests[1]
    assert upload.query == {"name": "SHA256SUMS"}
    assert upload.headers["content-type"] == "text/plain"
    github_fake.fail(422, method="POST", json_body={"message": "Validation Failed"})
    with pytest.raises(ForgeError, match=r"refused the asset SBOM of dataenginex-v0\.4\.10: 422"):
        client.upload_release_asset(release, "SBOM", b"{}", "application/json")


def test_library_release_attaches_an_sbom_and_sums_matching_the_tag(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert f"attached {SBOM}, SHA256SUMS" in result.out
    digests = parse_digests(dex_repo.git("cat-file", "tag", TAG))
    assert digests is not None
    assert sorted(digests) == FILES
    sums = github_fake.asset_data[(TAG, "SHA256SUMS")].decode()
    assert sums == sha256sums(digests)
    assert sums.splitlines()[0] == f"{digests[FILES[0]]}  {FILES[0]}"  # `sha256sum -c` form
    upload = next(r for r in github_fake.requests if r.query.get("name") == SBOM)
    assert upload.headers["content-type"] == "application/vnd.cyclonedx+json"
    assert FAKE_TOKEN in upload.headers["authorization"]  # sent to the API root's host only
    sbom = json.loads(github_fake.asset_data[(TAG, SBOM)])
    assert sbom["bomFormat"] == "CycloneDX"
    root = sbom["metadata"]["component"]
    assert (root["name"], root["version"], root["type"]) == ("dataenginex", "0.4.10", "library")


def test_attaching_fails_half_way_and_a_rerun_rebuilds_the_same_bytes(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    github_fake.fail(403, method="POST", path="/assets$", json_body={"message": "Forbidden"})
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 1
    _one_error(result.err)
    assert f"the GitHub release {TAG} exists, but attaching {SBOM} failed" in result.err
    assert "re-run to retry" in result.err
    assert "refs/tags/dataenginex-v0.4.10" in dex_repo.remote_refs()
    assert github_fake.releases[TAG]["assets"] == []

    # The tag is on origin: the re-run builds again, checks the bytes against the tag's
    # record (SOURCE_DATE_EPOCH is the commit's time: the same bytes), and attaches both.
    snapshot = RepoSnapshot.take(dex_repo)
    again = cli("release.dataenginex", cwd=dex_repo.path)
    assert again.code == 0, again.err
    assert f"attached {SBOM}, SHA256SUMS" in again.out
    snapshot.assert_same(dex_repo)
    recorded = parse_digests(dex_repo.git("cat-file", "tag", TAG))
    assert recorded is not None
    assert github_fake.asset_data[(TAG, "SHA256SUMS")].decode() == sha256sums(recorded)

    # Everything is attached: a third run neither builds nor uploads.
    posts = github_fake.calls("POST")
    third = cli("release.dataenginex", cwd=dex_repo.path)
    assert third.code == 0, third.err
    assert github_fake.calls("POST") == posts


def test_a_rebuild_that_differs_from_the_tag_is_not_attached(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    message = f"dataenginex 0.4.10\n\n--- dexops sha256 ---\n{'0' * 64}  {FILES[1]}\n"
    message += "--- end dexops sha256 ---\n"
    dex_repo.git("tag", "--annotate", "--cleanup=verbatim", "-m", message, TAG)
    result = cli("release.dataenginex", cwd=dex_repo.path)
    assert result.code == 1
    _one_error(result.err)
    assert f"rebuilding {TAG} does not reproduce the bytes its tag records" in result.err
    assert github_fake.calls("POST") == []
    assert "refs/tags/dataenginex-v0.4.10" not in dex_repo.remote_refs()


def test_dry_run_lists_records_and_assets_without_building(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.dataenginex", "--dry-run", cwd=dex_repo.path)
    assert result.code == 0, result.err
    out = result.out
    head = dex_repo.head()
    assert "records:  the new tag records the sha256 of every built file" in out
    assert (
        f"[dry-run] would build dataenginex 0.4.10 from {head[:12]} in a temporary folder "
        "(not built by this dry run)"
    ) in out
    assert (
        "[dry-run] would record the sha256 of dataenginex-0.4.10.tar.gz, "
        f"dataenginex-0.4.10-*.whl in the tag {TAG}"
    ) in out
    assert f"[dry-run] would attach {SBOM}, SHA256SUMS to the GitHub release" in out
    assert (
        f"[dry-run] would call: POST {github_fake.url}{RELEASES}/{{release id}}/assets"
        f"?name={SBOM} (Authorization: Bearer ***)"
    ) in out
    assert github_fake.requests == []
    snapshot.assert_same(dex_repo)
    plan = json.loads(cli("release.all", "--dry-run", "--json", cwd=dex_repo.path).out)
    records = {r["component"]: r.get("records") for r in plan["releases"]}
    assert records["careerdex"] is None  # apps build nothing at release time
    assert records["dataenginex"]["assets"] == [SBOM, "SHA256SUMS"]


def test_apps_build_nothing_and_attach_nothing(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake
) -> None:
    github_fake.setenv()
    result = cli("release.careerdex", cwd=dex_repo.path)
    assert result.code == 0, result.err
    assert github_fake.calls("POST") == [f"POST {RELEASES}"]
    assert parse_digests(dex_repo.git("cat-file", "tag", "careerdex-v0.3.5")) is None


@pytest.mark.parametrize(
    ("packages", "message"),
    [
        ('"src/dataenginex"', "error: build of dataenginex failed"),  # not a list: hatchling fails
        (
            '["src/nowhere"]',
            "error: dataenginex 0.4.10 does not validate: dataenginex-0.4.10-py3-none-any.whl",
        ),
    ],
)
def test_a_build_or_validation_failure_aborts_before_any_tag(
    dex_repo: GitRepo, cli: Cli, github_fake: GitHubFake, packages: str, message: str
) -> None:
    github_fake.setenv()
    path = "packages/dataenginex/pyproject.toml"
    text = (dex_repo.path / path).read_text()
    dex_repo.write(path, text.replace('packages = ["src/dataenginex"]', f"packages = {packages}"))
    dex_repo.commit("build: break the wheel target")
    snapshot = RepoSnapshot.take(dex_repo)
    result = cli("release.all", cwd=dex_repo.path)
    assert result.code == 1
    _one_error(result.err)
    assert result.err.startswith(message)
    snapshot.assert_same(dex_repo)  # careerdex is not tagged either: all or nothing
    assert github_fake.calls("POST") == []


# --- image attestations -------------------------------------------------------------------


def test_buildah_says_in_one_line_that_it_makes_no_sbom_or_provenance(
    dex_repo: GitRepo, cli: Cli
) -> None:
    argv = ("image.build", "careerdex", "--engine", "buildah", "--dry-run")
    asked = cli(*argv, "--sbom", "--provenance", cwd=dex_repo.path)
    assert asked.code == 0, asked.err
    said = [line for line in asked.err.splitlines() if "attestation" in line]
    expected = (
        "warning: buildah produces no SBOM or provenance attestation: the image is built "
        "without one (use --engine docker with buildx for attestations)"
    )
    assert said == [expected]
    assert "--sbom" not in asked.out  # the buildah command has no such flag
    only_sbom = cli(*argv, "--sbom", cwd=dex_repo.path)
    assert "warning: buildah produces no SBOM attestation: " in only_sbom.err
    assert "attestation" not in cli(*argv, cwd=dex_repo.path).err

"""Release records end to end: digests in a signed tag, SBOM, byte-for-byte index checks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from tests.conftest import Cli, require_tool
from tests.fixtures_github import GitHubFake
from tests.fixtures_pypi import TEST_TOKEN_ENV, PypiServers
from tests.gitrepo import GitRepo

from dexops.adapters.package_index import Credentials, IndexClient
from dexops.adapters.sbom import parse_digests, with_digests
from dexops.domain.config import PackageIndex
from dexops.domain.distributions import sha256_hex
from dexops.workflows.package import build, stage_revision
from dexops.workflows.supply_chain import record_release
from dexops.workflows.workspace import Workspace

pytestmark = pytest.mark.integration

TAG = "dataenginex-v0.4.11"


def ssh_signing(repo: GitRepo, tmp: Path, *, trusted: bool = True) -> Path:
    """Configure ssh signing with a key made here; `trusted` puts it in allowed signers."""
    require_tool("ssh-keygen", "apt-get install openssh-client")
    key = tmp / "signing_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dexops-test", "-f", str(key)],
        check=True,
    )
    allowed = tmp / "allowed_signers"
    public = (tmp / "signing_key.pub").read_text().strip()
    allowed.write_text(f'tester@example.com namespaces="git" {public}\n' if trusted else "")
    for name, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", str(key)),
        ("gpg.ssh.allowedSignersFile", str(allowed)),
    ):
        repo.git("config", name, value)
    return key


def _release_library(
    repo: GitRepo, servers: PypiServers, tmp: Path, *, sign: bool
) -> dict[str, str]:
    """What a library release does: build, record digests in the tag, upload; returns digests."""
    ws = Workspace.open(str(repo.path))
    commit = repo.head()
    source = stage_revision(ws, commit, tmp / "stage")
    files = build(
        source / "packages" / "dataenginex", tmp / "dist", source_date_epoch=1_700_000_000
    )
    record = record_release(files, tmp / "sbom")
    message = with_digests("dataenginex 0.4.11\n\nnotes\n", record.digests)
    repo.git(
        "tag", "--sign" if sign else "--annotate", "--cleanup=verbatim", "-m", message, TAG, commit
    )
    index = PackageIndex(
        "localprod", servers.production.url, servers.production.simple_url, role="production"
    )
    IndexClient(
        index, credentials=Credentials("publisher", "prod-index-password-9d3e7b", "test")
    ).upload(files)
    assert record.sbom is not None
    sbom = json.loads(record.sbom.read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["metadata"]["component"]["name"] == "dataenginex"
    return dict(record.digests)


@pytest.fixture
def library_repo(dex_repo: GitRepo, pypi_servers: PypiServers) -> GitRepo:
    """The example monorepo at dataenginex 0.4.11, configured for the local indexes."""
    pyproject = dex_repo.path / "pyproject.toml"
    text = pyproject.read_text()
    text += "\n" + pypi_servers.test.index_toml() + "\n" + pypi_servers.production.index_toml()
    pyproject.write_text(text)
    lib = dex_repo.path / "packages/dataenginex/pyproject.toml"
    lib.write_text(lib.read_text().replace('version = "0.4.10"', 'version = "0.4.11"'))
    dex_repo.commit("chore: release dataenginex 0.4.11")
    return dex_repo


def test_signed_release_verifies_byte_for_byte(
    library_repo: GitRepo, pypi_servers: PypiServers, tmp_path: Path, cli: Cli
) -> None:
    ssh_signing(library_repo, tmp_path)
    digests = _release_library(library_repo, pypi_servers, tmp_path, sign=True)
    library_repo.git("tag", "-v", TAG)  # git itself accepts the ssh signature
    message = library_repo.git("cat-file", "tag", TAG)
    assert parse_digests(message) == digests
    assert sorted(digests) == ["dataenginex-0.4.11-py3-none-any.whl", "dataenginex-0.4.11.tar.gz"]

    done = cli("verify.release", TAG, "--json", cwd=library_repo.path)
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert report["signature"] == "good"
    assert report["index"] == "localprod"
    assert {f["filename"]: f["served_sha256"] for f in report["files"]} == digests
    assert all(f["status"] == "ok" for f in report["files"])

    # Other bytes under the same name on the index: caught.
    stored = pypi_servers.production.packages / "dataenginex-0.4.11.tar.gz"
    stored.write_bytes(stored.read_bytes() + b"\0")
    done = cli("verify.release", TAG, cwd=library_repo.path)
    assert done.code == 1
    assert "dataenginex-0.4.11.tar.gz differs" in done.err
    assert "ok" in done.out  # the wheel still matches


def test_untrusted_signature_and_missing_records_fail(
    library_repo: GitRepo, pypi_servers: PypiServers, tmp_path: Path, cli: Cli
) -> None:
    ssh_signing(library_repo, tmp_path, trusted=False)
    _release_library(library_repo, pypi_servers, tmp_path, sign=True)
    done = cli("verify.release", TAG, cwd=library_repo.path)
    assert done.code == 1
    assert f"the signature of {TAG} does not verify" in done.err

    library_repo.git("tag", "plain-lightweight")
    done = cli("verify.release", "dataenginex-v9.9.9", cwd=library_repo.path)
    assert done.code == 1
    assert "does not exist here" in done.err
    library_repo.git("tag", "dataenginex-v0.0.1")
    done = cli("verify.release", "dataenginex-v0.0.1", cwd=library_repo.path)
    assert "lightweight tag" in done.err
    done = cli("verify.release", "careerdex-v0.3.5", cwd=library_repo.path)
    assert done.code == 1


def test_unsigned_release_and_a_file_missing_from_the_index(
    library_repo: GitRepo, pypi_servers: PypiServers, tmp_path: Path, cli: Cli
) -> None:
    _release_library(library_repo, pypi_servers, tmp_path, sign=False)
    (pypi_servers.production.packages / "dataenginex-0.4.11-py3-none-any.whl").unlink()
    done = cli("verify.release", TAG, "--json", cwd=library_repo.path)
    assert done.code == 1
    report = json.loads(done.out)
    assert report["signature"] == "unsigned"
    statuses = {f["filename"]: f["status"] for f in report["files"]}
    assert statuses == {
        "dataenginex-0.4.11-py3-none-any.whl": "missing",
        "dataenginex-0.4.11.tar.gz": "ok",
    }


def test_release_task_signs_tags_and_bump_commits_with_ssh(
    dex_repo: GitRepo, tmp_path: Path, cli: Cli
) -> None:
    ssh_signing(dex_repo, tmp_path)
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'default-branch = "main"', 'default-branch = "main"\nsign = true'
        )
    )
    dex_repo.commit("chore: sign releases")
    dex_repo.push("main")
    done = cli("version.bump", "dataenginex", "--part", "patch", cwd=dex_repo.path)
    assert done.code == 0, done.err
    dex_repo.git("verify-commit", "HEAD")
    dex_repo.push("main")
    done = cli("release.dataenginex", cwd=dex_repo.path)
    assert done.code == 0, done.err
    tag = next(t for t in dex_repo.git("tag", "--list").split() if t.startswith("dataenginex-v"))
    verified = subprocess.run(
        ["git", "-C", str(dex_repo.path), "tag", "-v", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert 'Good "git" signature' in verified.stderr


# --- the whole flow through the tasks -----------------------------------------------------


@pytest.fixture
def releasing_repo(
    dex_repo: GitRepo, pypi_servers: PypiServers, monkeypatch: pytest.MonkeyPatch
) -> GitRepo:
    """The example monorepo publishing to the local indexes, credentials in the environment."""
    require_tool("uv", "pip install uv")
    pyproject = dex_repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + "\n"
        + pypi_servers.test.index_toml(token_env=TEST_TOKEN_ENV)
        + "\n"
        + pypi_servers.production.index_toml()
    )
    lib = dex_repo.path / "packages/dataenginex/pyproject.toml"
    # A dependency, so the SBOM has a component besides the library itself.
    lib.write_text(
        lib.read_text().replace(
            'license = "MIT"', 'license = "MIT"\ndependencies = ["tabulate>=0.9"]'
        )
    )
    dex_repo.commit("ci: publish dataenginex to the local indexes")
    dex_repo.push("main")
    monkeypatch.setenv(TEST_TOKEN_ENV, pypi_servers.test.password)
    monkeypatch.setenv("TWINE_USERNAME", pypi_servers.production.username)
    monkeypatch.setenv("TWINE_PASSWORD", pypi_servers.production.password)
    monkeypatch.setattr("dexops.adapters.package_index.READ_BACKOFF", 0.01)
    return dex_repo


def _one_error(err: str) -> str:
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_bump_release_publish_then_verify_byte_for_byte(
    releasing_repo: GitRepo,
    pypi_servers: PypiServers,
    github_fake: GitHubFake,
    tmp_path: Path,
    cli: Cli,
) -> None:
    repo = releasing_repo
    ssh_signing(repo, tmp_path)
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'default-branch = "main"', 'default-branch = "main"\nsign = true'
        )
    )
    repo.commit("chore: sign releases")
    github_fake.setenv()
    assert cli("version.bump", "dataenginex", "--part", "patch", cwd=repo.path).code == 0

    released = cli("release.dataenginex", cwd=repo.path)
    assert released.code == 0, released.err
    repo.git("tag", "-v", TAG)  # the digest block sits inside a good ssh signature
    recorded = parse_digests(repo.git("cat-file", "tag", TAG))
    assert recorded is not None
    assert sorted(recorded) == ["dataenginex-0.4.11-py3-none-any.whl", "dataenginex-0.4.11.tar.gz"]
    sbom_text = github_fake.asset_data[(TAG, "dataenginex-0.4.11.cdx.json")].decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom_text) is None
    sbom = json.loads(sbom_text)
    assert sbom["metadata"]["component"]["version"] == "0.4.11"
    assert [c["name"] for c in sbom["components"]] == ["tabulate"]

    # publish builds again, later, in another folder: the same bytes reach both indexes.
    published = cli("publish.dataenginex", cwd=repo.path)
    assert published.code == 0, published.err
    for server in (pypi_servers.test, pypi_servers.production):
        assert {name: sha256_hex([data]) for name, data in server.files().items()} == recorded

    done = cli("verify.release", TAG, "--json", cwd=repo.path)
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert (report["ok"], report["signature"], report["index"]) == (True, "good", "localprod")
    assert {f["filename"]: f["served_sha256"] for f in report["files"]} == recorded

    # One byte changed on the index: verify.release says so in one line.
    wheel = pypi_servers.production.packages / "dataenginex-0.4.11-py3-none-any.whl"
    data = wheel.read_bytes()
    wheel.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    tampered = cli("verify.release", TAG, cwd=repo.path)
    assert tampered.code == 1
    assert _one_error(tampered.err) == (
        f"error: {TAG} does not match localprod: dataenginex-0.4.11-py3-none-any.whl differs\n"
    )


def test_publish_refuses_a_build_that_is_not_what_the_tag_records(
    releasing_repo: GitRepo, pypi_servers: PypiServers, cli: Cli
) -> None:
    repo = releasing_repo
    assert cli("version.bump", "dataenginex", "--part", "patch", cwd=repo.path).code == 0
    wrong = {"dataenginex-0.4.11.tar.gz": "0" * 64, "dataenginex-0.4.11-py3-none-any.whl": "1" * 64}
    repo.git("tag", "--annotate", "--cleanup=verbatim", "-m", with_digests("by hand\n", wrong), TAG)
    result = cli("publish.dataenginex", cwd=repo.path)
    assert result.code == 1
    assert _one_error(result.err).startswith(
        f"error: the build of {TAG} differs from the sha256 its tag records "
        "(dataenginex-0.4.11-py3-none-any.whl, dataenginex-0.4.11.tar.gz)"
    )
    assert pypi_servers.test.files() == {}
    assert pypi_servers.production.files() == {}

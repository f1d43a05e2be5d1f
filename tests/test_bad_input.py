"""Bad input to every task: one `error:` line naming the value, no traceback, nothing changed.

Each case prepares the example monorepo (sometimes breaking it on purpose), snapshots the
repository and its bare origin, runs one task in-process and checks the contract of
CONTRIBUTING.md: a non-zero exit, exactly one stderr line starting with `error:` that names
the offending value, no traceback, and HEAD, refs, index, working tree and origin untouched.
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.gitrepo import GitRepo, example_repo, init_repo
from tests.snapshot import RepoSnapshot

LIB_PYPROJECT = "packages/dataenginex/pyproject.toml"
OVERLAY = "infra/argocd/overlays/{env}/kustomization.yaml"
GOOD_TAG = "sha-0a1b2c3d"

Setup = Callable[[GitRepo], GitRepo]


@dataclass(frozen=True)
class Case:
    """One bad input: how to break the repository, the command, and what the error names."""

    id: str
    argv: tuple[str, ...]
    names: str
    setup: Setup | None = None
    env: tuple[tuple[str, str], ...] = ()


# --- ways to break the example monorepo ------------------------------------------------------


def _replace(relative: str, old: str, new: str, *, commit: bool = True) -> Setup:
    def setup(repo: GitRepo) -> GitRepo:
        path = repo.path / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        if commit:
            repo.commit(f"test: break {relative}")
        return repo

    return setup


def _write(relative: str, text: str, *, commit: bool = True) -> Setup:
    def setup(repo: GitRepo) -> GitRepo:
        repo.write(relative, text)
        if commit:
            repo.commit(f"test: rewrite {relative}")
        return repo

    return setup


def _append_config(text: str) -> Setup:
    def setup(repo: GitRepo) -> GitRepo:
        path = repo.path / "pyproject.toml"
        path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
        repo.commit("test: configuration")
        return repo

    return setup


def _remove(relative: str) -> Setup:
    def setup(repo: GitRepo) -> GitRepo:
        repo.git("rm", "--quiet", relative)
        repo.commit(f"test: remove {relative}")
        return repo

    return setup


def _append_bytes(relative: str, data: bytes, *, push: str | None = None) -> Setup:
    def setup(repo: GitRepo) -> GitRepo:
        path = repo.path / relative
        path.write_bytes(path.read_bytes() + data)
        if push is not None:
            repo.commit(f"test: break {relative}")
            repo.git("push", "--quiet", "origin", f"HEAD:{push}")
        return repo

    return setup


def _not_git(repo: GitRepo) -> GitRepo:
    plain = repo.path.parent / "plain"
    shutil.copytree(repo.path, plain, ignore=shutil.ignore_patterns(".git"))
    return GitRepo(plain, repo.origin)


def _no_commits(repo: GitRepo) -> GitRepo:
    return init_repo(
        repo.path.parent / "fresh", repo.path.parent / "fresh-origin.git", source=_example()
    )


def _example() -> Path:
    from tests.gitrepo import EXAMPLE

    return EXAMPLE


def _detached(repo: GitRepo) -> GitRepo:
    repo.git("checkout", "--quiet", "--detach", "HEAD")
    return repo


def _no_origin(repo: GitRepo) -> GitRepo:
    repo.git("remote", "remove", "origin")
    return repo


def _dirty(relative: str) -> Setup:
    def setup(repo: GitRepo) -> GitRepo:
        path = repo.path / relative
        path.write_text(path.read_text(encoding="utf-8") + "# local edit\n", encoding="utf-8")
        return repo

    return setup


def _both(*steps: Setup) -> Setup:
    def setup(repo: GitRepo) -> GitRepo:
        for step in steps:
            repo = step(repo)
        return repo

    return setup


_TWO_IMAGES = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: thedataenginex/dex
    newName: ghcr.io/thedataenginex/dex
    newTag: sha-0a1b2c3d
  - name: ghcr.io/thedataenginex/dex
    newTag: sha-0a1b2c3d
"""


# --- the cases ---------------------------------------------------------------------------------

UNKNOWN_NAMES = [
    Case("bump-unknown-component", ("version.bump", "nosuch", "--part", "patch"), "'nosuch'"),
    Case("validate-unknown-component", ("package.validate", "nosuch"), "'nosuch'"),
    Case("image-tags-unknown-component", ("image.tags", "--component", "nosuch"), "'nosuch'"),
    Case("image-build-unknown-component", ("image.build", "nosuch", "--dry-run"), "'nosuch'"),
    Case(
        "image-build-library",
        ("image.build", "dataenginex", "--dry-run"),
        "dataenginex",
    ),
    Case(
        "image-exists-unknown-component",
        ("image.exists", GOOD_TAG, "--component", "nosuch"),
        "'nosuch'",
    ),
    Case(
        "set-image-unknown-env",
        ("deploy.set-image", "--env", "nosuch", "--image-tag", GOOD_TAG),
        "'nosuch'",
    ),
    Case(
        "update-unknown-branch",
        ("deploy.update", "--branch", "nosuch", "--image-tag", GOOD_TAG),
        "nosuch",
    ),
    Case(
        "update-unknown-env",
        ("deploy.update", "--branch", "dev", "--image-tag", GOOD_TAG, "--env", "nosuch"),
        "nosuch",
    ),
    Case("promote-unknown-target", ("promote", "--to-env", "nosuch"), "'nosuch'"),
    Case(
        "promote-unknown-source", ("promote", "--to-env", "stage", "--from-env", "nosuch"), "nosuch"
    ),
    Case("rollback-unknown-env", ("rollback", "--env", "nosuch", "--yes"), "'nosuch'"),
    Case("status-unknown-env", ("status", "--env", "nosuch"), "'nosuch'"),
    Case("history-unknown-env", ("history", "--env", "nosuch"), "'nosuch'"),
    Case("hold-release-unknown-env", ("hold.release", "--env", "nosuch"), "'nosuch'"),
    Case("argocd-wait-unknown-env", ("argocd.wait", "--env", "nosuch"), "'nosuch'"),
    Case("argocd-sync-unknown-env", ("argocd.sync", "--env", "nosuch"), "'nosuch'"),
    Case("deploy-verify-unknown-env", ("deploy.verify", "--env", "nosuch"), "'nosuch'"),
    Case("metrics-unknown-env", ("metrics", "--env", "nosuch"), "nosuch"),
    Case("unknown-task", ("release.nosuch",), "release.nosuch"),
    Case("notify-unknown-event", ("notify", "--event", "nosuch", "--status", "success"), "nosuch"),
    Case("notify-unknown-status", ("notify", "--event", "release", "--status", "nosuch"), "nosuch"),
]

IMAGE_TAGS = [
    Case("set-image-empty-tag", ("deploy.set-image", "--env", "dev", "--image-tag", ""), "''"),
    Case(
        "set-image-too-long-tag",
        ("deploy.set-image", "--env", "dev", "--image-tag", "v" * 129),
        "v" * 129,
    ),
    Case(
        "set-image-sha-not-hex",
        ("deploy.set-image", "--env", "dev", "--image-tag", "sha-XYZ12345"),
        "sha-XYZ12345",
    ),
    Case(
        "set-image-shell-metacharacters",
        ("deploy.set-image", "--env", "dev", "--image-tag", "v1;rm -rf /"),
        "v1;rm -rf /",
    ),
    Case(
        "set-image-space",
        ("deploy.set-image", "--env", "dev", "--image-tag", "v1 v2"),
        "v1 v2",
    ),
    Case(
        "set-image-newline",
        ("deploy.set-image", "--env", "dev", "--image-tag", "v1\nnewTag: evil"),
        "v1\\nnewTag: evil",
    ),
    Case("set-image-dotdot", ("deploy.set-image", "--env", "dev", "--image-tag", ".."), "'..'"),
    Case(
        "set-image-bad-digest",
        ("deploy.set-image", "--env", "dev", "--image-tag", GOOD_TAG, "--digest", "sha256:xyz"),
        "sha256:xyz",
    ),
    Case(
        "update-option-injection",
        ("deploy.update", "--branch", "dev", "--image-tag=--upload-pack=touch /tmp/x"),
        "--upload-pack=touch /tmp/x",
    ),
    Case(
        "update-metacharacters",
        ("deploy.update", "--branch", "dev", "--image-tag", "$(id)", "--push"),
        "$(id)",
    ),
    Case(
        "update-sha-not-hex",
        ("deploy.update", "--branch", "dev", "--image-tag", "sha-nothex!", "--push"),
        "sha-nothex!",
    ),
    Case(
        "promote-option-injection",
        ("promote", "--to-env", "stage", "--image-tag=-rf", "--force", "--yes"),
        "-rf",
    ),
    Case(
        "rollback-option-injection",
        ("rollback", "--env", "dev", "--to=--exec=id", "--yes"),
        "--exec=id",
    ),
    Case("rollback-metacharacters", ("rollback", "--env", "dev", "--to", "a|b", "--yes"), "a|b"),
    Case("image-exists-space", ("image.exists", "bad tag"), "bad tag"),
    Case("image-exists-sha-not-hex", ("image.exists", "sha-0A1B2C3D"), "sha-0A1B2C3D"),
    Case(
        "image-build-bad-build-arg",
        ("image.build", "careerdex", "--dry-run", "--build-arg", "NOEQUALS"),
        "NOEQUALS",
    ),
    Case(
        "image-build-bad-platform",
        ("image.build", "careerdex", "--dry-run", "--platform", "linux/amd64;id"),
        "linux/amd64;id",
    ),
    Case("image-scan-bad-threshold", ("image.scan", GOOD_TAG, "--fail-on", "BOGUS"), "BOGUS"),
]

VERSIONS = [
    Case(
        "bump-to-not-pep440",
        ("version.bump", "dataenginex", "--to", "not-a-version"),
        "not-a-version",
    ),
    Case("bump-to-metacharacters", ("version.bump", "dataenginex", "--to", "1.0;id"), "1.0;id"),
    Case("bump-unknown-part", ("version.bump", "dataenginex", "--part", "sideways"), "sideways"),
    Case(
        "show-pyproject-version-not-pep440",
        ("version.show",),
        "banana",
        _replace(LIB_PYPROJECT, 'version = "0.4.10"', 'version = "banana"'),
    ),
    Case(
        "release-pyproject-version-not-pep440",
        ("release.dataenginex", "--dry-run"),
        "banana",
        _replace(LIB_PYPROJECT, 'version = "0.4.10"', 'version = "banana"'),
    ),
    Case("changed-unknown-base", ("version.changed", "--base", "nosuchrev"), "nosuchrev"),
    Case(
        "changed-option-injection",
        ("version.changed", "--base=--output=/tmp/dexops-injected"),
        "--output=/tmp/dexops-injected",
    ),
    Case("publish-option-injection", ("publish.dataenginex", "--tag=--delete"), "--delete"),
    Case(
        "publish-tag-not-pep440",
        ("publish.dataenginex", "--tag", "dataenginex-vbanana"),
        "dataenginex-vbanana",
    ),
    Case(
        "publish-tag-of-other-component",
        ("publish.dataenginex", "--tag", "careerdex-v0.3.5"),
        "careerdex-v0.3.5",
    ),
    Case(
        "publish-tag-missing",
        ("publish.dataenginex", "--tag", "dataenginex-v9.9.9", "--dry-run"),
        "dataenginex-v9.9.9",
    ),
    Case("pipeline-unknown-base", ("pipeline.plan", "--base", "nosuchrev"), "nosuchrev"),
    Case(
        "pipeline-option-injection",
        ("pipeline.plan", "--base=--output=/tmp/dexops-injected"),
        "--output=/tmp/dexops-injected",
    ),
    Case("verify-release-unknown-tag", ("verify.release", "nosuch-v1.0"), "nosuch-v1.0"),
    Case("rollback-zero-steps", ("rollback", "--env", "dev", "--steps", "0", "--yes"), "0"),
    Case("history-negative-limit", ("history", "--env", "dev", "--limit", "-3"), "-3"),
    Case("metrics-bad-since", ("metrics", "--since", "banana"), "banana"),
    Case("metrics-bad-window", ("metrics", "--failure-window", "soon"), "soon"),
]

PYPROJECTS = [
    Case(
        "component-pyproject-missing",
        ("version.show",),
        LIB_PYPROJECT,
        _remove(LIB_PYPROJECT),
    ),
    Case(
        "component-pyproject-not-toml",
        ("version.bump", "dataenginex", "--part", "patch"),
        LIB_PYPROJECT,
        _write(LIB_PYPROJECT, "[project\nname = 'dataenginex'\n"),
    ),
    Case(
        "component-pyproject-without-project",
        ("release.dataenginex", "--dry-run"),
        "[project]",
        _write(LIB_PYPROJECT, '[build-system]\nrequires = ["hatchling"]\n'),
    ),
    Case(
        "component-pyproject-without-version",
        ("version.show",),
        "version",
        _write(LIB_PYPROJECT, '[project]\nname = "dataenginex"\n'),
    ),
    Case(
        "root-pyproject-not-toml",
        ("version.show",),
        "pyproject.toml",
        _append_config("[tool.dexops.components.broken\n"),
    ),
]

KUSTOMIZATIONS = [
    Case(
        "overlay-not-yaml",
        ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd"),
        OVERLAY.format(env="dev"),
        _write(OVERLAY.format(env="dev"), "images: [unclosed\n  - name: {\n"),
    ),
    Case(
        "overlay-empty",
        ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd"),
        OVERLAY.format(env="dev"),
        _write(OVERLAY.format(env="dev"), ""),
    ),
    Case(
        "overlay-without-the-image",
        ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd"),
        "ghcr.io/thedataenginex/dex",
        _write(
            OVERLAY.format(env="dev"),
            "resources:\n  - ../../base\nimages:\n  - name: other/app\n    newTag: v1\n",
        ),
    ),
    Case(
        "overlay-with-two-matching-images",
        ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd"),
        OVERLAY.format(env="dev"),
        _write(OVERLAY.format(env="dev"), _TWO_IMAGES),
    ),
    Case(
        "overlay-on-branch-without-the-image",
        ("deploy.update", "--branch", "dev", "--image-tag", "sha-1234abcd", "--dry-run"),
        "ghcr.io/thedataenginex/dex",
        _both(
            _write(
                OVERLAY.format(env="dev"),
                "resources:\n  - ../../base\nimages:\n  - name: other/app\n    newTag: v1\n",
            ),
            lambda repo: (repo.git("push", "--quiet", "origin", "HEAD:dev"), repo)[1],
        ),
    ),
]

_NOT_UTF8 = f"{OVERLAY.format(env='dev')} on origin/dev is not UTF-8"

ENCODINGS = [
    Case(
        "overlay-on-branch-not-utf8-status",
        ("status",),
        _NOT_UTF8,
        _append_bytes(OVERLAY.format(env="dev"), b"x\xff\n", push="dev"),
    ),
    Case(
        "overlay-on-branch-not-utf8-update",
        ("deploy.update", "--branch", "dev", "--image-tag", "sha-1234abcd", "--push"),
        _NOT_UTF8,
        _append_bytes(OVERLAY.format(env="dev"), b"x\xff\n", push="dev"),
    ),
    Case(
        "overlay-in-working-tree-not-utf8",
        ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd"),
        f"{OVERLAY.format(env='dev')} in the working tree is not UTF-8",
        _append_bytes(OVERLAY.format(env="dev"), b"x\xff\n"),
    ),
]

CONFIGURATION = [
    Case(
        "overlay-outside-the-repository",
        ("version.show",),
        "../../etc",
        _replace(
            "pyproject.toml", 'overlay = "infra/argocd/overlays/dev"', 'overlay = "../../etc"'
        ),
    ),
    Case(
        "overlay-absolute",
        ("status",),
        "/etc",
        _replace("pyproject.toml", 'overlay = "infra/argocd/overlays/dev"', 'overlay = "/etc"'),
    ),
    Case(
        "component-path-outside",
        ("version.show",),
        "../outside",
        _replace(
            "pyproject.toml",
            'kind = "library"\npath = "packages/dataenginex"',
            'kind = "library"\npath = "../outside"',
        ),
    ),
    Case(
        "unknown-top-level-key",
        ("version.show",),
        "tool.dexops.colour",
        _replace(
            "pyproject.toml", 'default-branch = "main"', 'default-branch = "main"\ncolour = 1'
        ),
    ),
    Case(
        "unknown-component-key",
        ("status",),
        "tool.dexops.components.careerdex.imag",
        _replace("pyproject.toml", 'image = "ghcr.io', 'imag = "x"\nimage = "ghcr.io'),
    ),
    Case(
        "unknown-environment-key",
        ("history", "--env", "dev"),
        "tool.dexops.environments.dev.argo-app",
        _replace("pyproject.toml", 'argocd-app = "dex-dev"', 'argo-app = "dex-dev"'),
    ),
    Case(
        "promotion-cycle",
        ("promote", "--to-env", "prod"),
        "cycle",
        _replace(
            "pyproject.toml",
            'branch = "dev"\n',
            'branch = "dev"\npromote-from = "prod"\n',
        ),
    ),
    Case(
        "promote-from-unknown",
        ("status",),
        "'qa'",
        _replace("pyproject.toml", 'promote-from = "dev"', 'promote-from = "qa"'),
    ),
    Case(
        "component-kind-unknown",
        ("version.show",),
        "'service'",
        _replace("pyproject.toml", 'kind = "app"', 'kind = "service"'),
    ),
    Case(
        "app-without-image",
        ("image.tags",),
        "image",
        _replace("pyproject.toml", 'image = "ghcr.io/thedataenginex/dex"\n', ""),
    ),
    Case(
        "index-url-with-credentials",
        ("publish.dataenginex", "--dry-run"),
        "upload-url",
        _append_config(
            "[tool.dexops.indexes.leaky]\n"
            'upload-url = "https://user:pw@example.invalid/legacy/"\n'
            'simple-url = "https://example.invalid/simple/"\n'
        ),
    ),
]

REPOSITORY_STATE = [
    Case("not-a-git-repository", ("version.show",), "is not a git repository", _not_git),
    Case(
        "not-a-git-repository-release",
        ("release.dataenginex", "--dry-run"),
        "is not a git repository",
        _not_git,
    ),
    Case("no-commits", ("release.dataenginex",), "no commits", _no_commits),
    Case("no-commits-show", ("version.show",), "no commits", _no_commits),
    Case("detached-head", ("release.dataenginex",), "detached", _detached),
    Case(
        "detached-head-bump",
        ("version.bump", "dataenginex", "--part", "patch"),
        "detached",
        _detached,
    ),
    Case(
        "dirty-tree-release",
        ("release.dataenginex",),
        "src/careerdex/matching.py",
        _dirty("src/careerdex/matching.py"),
    ),
    Case(
        "dirty-version-file-bump",
        ("version.bump", "dataenginex", "--part", "patch"),
        LIB_PYPROJECT,
        _dirty(LIB_PYPROJECT),
    ),
    Case("no-origin-release", ("release.dataenginex",), "'origin'", _no_origin),
    Case(
        "no-origin-update",
        ("deploy.update", "--branch", "dev", "--image-tag", "sha-1234abcd", "--push"),
        "origin",
        _no_origin,
    ),
    Case("no-origin-history", ("history", "--env", "dev"), "origin", _no_origin),
    Case(
        "repo-is-not-a-directory",
        ("version.show", "--repo", "/nonexistent/dexops-repo"),
        "/nonexistent/dexops-repo",
    ),
    Case(
        "init-repo-is-not-a-directory",
        ("init", "--repo", "/nonexistent/dexops-repo"),
        "/nonexistent/dexops-repo",
    ),
    Case("report-without-html", ("report",), "--html"),
    Case("report-bad-since", ("report", "--html", "r.html", "--since", "banana"), "banana"),
    Case(
        "doctor-repo-is-not-a-directory",
        ("doctor", "--repo", "/nonexistent/dexops-repo"),
        "/nonexistent/dexops-repo",
    ),
]

# --- hardening: bounds, credentials in URLs (issue 15) ----------------------------------------

_NOTIFY = ("notify", "--event", "release", "--status", "success")
_VERIFY = ("deploy.verify", "--env", "dev", "--url", "http://127.0.0.1:9/health")
_SCAN = ("image.scan", "--tag", GOOD_TAG, "--report", "scan.json")
_SECONDS = ("nan", "inf", "-inf", "-1", "0")
_ODD_SECONDS = ("-0.5", "1e400", "NaN")
_TOKEN = (("GITHUB_TOKEN", "ghp_Recognisable000111222"), ("GITHUB_REPOSITORY", "o/r"))
_LEAKY_API = "https://robot:pw-Recognisable-42@ghe.example/api/v3"

BOUNDS = [
    *(
        Case(f"notify-timeout-{v}", (*_NOTIFY, "--timeout", v), "--timeout")
        for v in (*_SECONDS, *_ODD_SECONDS)
    ),
    *(
        Case(
            f"argocd-wait-timeout-{v}", ("argocd.wait", "--env", "dev", "--timeout", v), "--timeout"
        )
        for v in _SECONDS
    ),
    *(
        Case(
            f"argocd-wait-interval-{v}",
            ("argocd.wait", "--env", "dev", "--interval", v),
            "--interval",
        )
        for v in ("nan", "inf", "-2", "0")
    ),
    *(Case(f"verify-timeout-{v}", (*_VERIFY, "--timeout", v), "--timeout") for v in _SECONDS),
    *(
        Case(f"verify-interval-{v}", (*_VERIFY, "--interval", v), "--interval")
        for v in ("nan", "inf", "-1", "0")
    ),
    *(
        Case(f"scan-timeout-{v}", (*_SCAN, "--scan-timeout", v), "--scan-timeout")
        for v in ("nan", "inf", "-inf", "-1", "0")
    ),
]

_ESC = "\x1b[2J\x1b]0;owned\x07"

CONTROL_CHARACTERS = [
    Case(f"control-characters-{task}", argv, "\\x1b[2J\\x1b]0;owned\\x07")
    for task, argv in (
        ("bump", ("version.bump", f"lib{_ESC}", "--part", "patch")),
        ("set-image", ("deploy.set-image", "--env", f"dev{_ESC}", "--image-tag", GOOD_TAG)),
        ("history", ("history", "--env", f"dev{_ESC}")),
        ("promote", ("promote", "--to-env", f"prod{_ESC}")),
        ("hold-release", ("hold.release", "--env", f"dev{_ESC}")),
    )
]

URL_CREDENTIALS = [
    Case(
        "github-api-url-not-http",
        ("metrics",),
        "GITHUB_API_URL is not an http(s) URL",
        env=(*_TOKEN, ("GITHUB_API_URL", "ftp://ghe.example/api")),
    ),
    Case(
        "github-api-url-with-a-token-as-user",
        ("metrics",),
        "GITHUB_API_URL must not carry credentials",
        env=(*_TOKEN, ("GITHUB_API_URL", "https://Recognisable-user-tok@ghe.example/api")),
    ),
    *(
        Case(
            f"github-api-url-with-credentials-{task}",
            argv,
            "GITHUB_API_URL must not carry credentials",
            env=(*_TOKEN, ("GITHUB_API_URL", _LEAKY_API)),
        )
        for task, argv in (
            ("metrics", ("metrics",)),
            ("release", ("release.dataenginex",)),
            ("release-dry-run", ("release.dataenginex", "--dry-run")),
            ("metrics-json", ("metrics", "--json")),
        )
    ),
]

_DEEP_TOML = "deep = " + "[" * 50_000 + "]" * 50_000 + "\n"
_DEEP_YAML = "deep: " + "[" * 50_000 + "]" * 50_000 + "\n"
_DEEP_JSON = "[" * 100_000 + "]" * 100_000


def _symlink_out(relative: str) -> Setup:
    """Commit `relative` as a symlink to a copy of it outside the repository."""

    def setup(repo: GitRepo) -> GitRepo:
        path = repo.path / relative
        outside = repo.path.parent / ("outside-" + path.name)
        outside.write_bytes(path.read_bytes())
        path.unlink()
        path.symlink_to(outside)
        repo.git("add", "--", relative)
        repo.commit(f"test: {relative} links out of the repository")
        return repo

    return setup


def _deep_report(repo: GitRepo) -> GitRepo:
    (repo.path / "deep.json").write_text(_DEEP_JSON, encoding="utf-8")
    repo.git("add", "deep.json")
    repo.commit("test: a scan report nested too deeply")
    return repo


PARSERS = [
    *(
        Case(f"deep-toml-config-{task}", argv, "pyproject.toml", _append_config(_DEEP_TOML))
        for task, argv in (
            ("show", ("version.show",)),
            ("status", ("status",)),
            ("plan", ("pipeline.plan",)),
            ("set-image", ("deploy.set-image", "--env", "dev", "--image-tag", GOOD_TAG)),
        )
    ),
    Case(
        "deep-toml-library-pyproject",
        ("version.bump", "dataenginex", "--part", "patch"),
        "pyproject.toml",
        _append_bytes(LIB_PYPROJECT, _DEEP_TOML.encode(), push="main"),
    ),
    *(
        Case(
            f"deep-yaml-overlay-{task}",
            argv,
            "kustomization.yaml",
            _append_bytes(OVERLAY.format(env="dev"), _DEEP_YAML.encode(), push="dev"),
        )
        for task, argv in (
            ("set-image", ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd")),
            ("status", ("status",)),
            ("update", ("deploy.update", "--branch", "dev", "--image-tag", "sha-1234abcd")),
        )
    ),
    *(
        Case(
            f"deep-toml-library-pyproject-{task}",
            argv,
            "pyproject.toml",
            _append_bytes(LIB_PYPROJECT, _DEEP_TOML.encode(), push="main"),
        )
        for task, argv in (("show", ("version.show",)), ("changed", ("version.changed",)))
    ),
    Case(
        "deep-json-scan-report",
        (*_SCAN[:3], "--report", "deep.json"),
        "deep.json",
        _deep_report,
    ),
]

OUTSIDE_WRITES = [
    Case(
        "symlinked-library-pyproject-bump",
        ("version.bump", "dataenginex", "--part", "patch"),
        "leads outside the repository",
        _symlink_out(LIB_PYPROJECT),
    ),
    Case(
        "symlinked-library-pyproject-bump-dry-run",
        ("version.bump", "dataenginex", "--part", "minor", "--dry-run"),
        "leads outside the repository",
        _symlink_out(LIB_PYPROJECT),
    ),
    Case(
        "symlinked-library-pyproject-bump-to",
        ("version.bump", "dataenginex", "--to", "0.5.0"),
        "leads outside the repository",
        _symlink_out(LIB_PYPROJECT),
    ),
    Case(
        "symlinked-overlay-set-image",
        ("deploy.set-image", "--env", "dev", "--image-tag", "sha-1234abcd"),
        "leads outside the repository",
        _symlink_out(OVERLAY.format(env="dev")),
    ),
]

_MISSING_DIR = "/nonexistent-dexops-dir"


def _twin_components(first: str, second: str) -> Setup:
    return _append_config(
        "".join(
            f'[tool.dexops.components."{name}"]\nkind = "library"\n'
            f'path = "packages/dataenginex"\ntag-prefix = "{name}-v"\n\n'
            for name in (first, second)
        )
    )


TASK_NAMES = [
    Case(
        f"components-colliding-as-tasks-{kind}",
        ("version.show",),
        f"would both be the task release.{task}",
        _twin_components(first, second),
    )
    for kind, first, second, task in (
        ("dot-and-dash", "lib.x", "lib-x", "lib-x"),
        ("underscore-and-dash", "lib_y", "lib-y", "lib-y"),
    )
]

WRITE_PATHS = [
    *(
        Case(
            f"github-output-unwritable-{task}-{kind}",
            argv,
            f"$GITHUB_OUTPUT ({where})",
            env=(("GITHUB_OUTPUT", where),),
        )
        for task, argv in (("changed", ("version.changed",)), ("tags", ("image.tags",)))
        for kind, where in (("missing-folder", f"{_MISSING_DIR}/file"), ("a-folder", "/tmp"))
    ),
    *(
        Case(
            f"github-output-disk-full-{task}",
            argv,
            "$GITHUB_OUTPUT (/dev/full)",
            env=(("GITHUB_OUTPUT", "/dev/full"),),
        )
        for task, argv in (("changed", ("version.changed",)), ("tags", ("image.tags",)))
    ),
]

CASES = [
    *UNKNOWN_NAMES,
    *IMAGE_TAGS,
    *VERSIONS,
    *PYPROJECTS,
    *KUSTOMIZATIONS,
    *ENCODINGS,
    *CONFIGURATION,
    *REPOSITORY_STATE,
    *BOUNDS,
    *URL_CREDENTIALS,
    *PARSERS,
    *OUTSIDE_WRITES,
    *WRITE_PATHS,
    *CONTROL_CHARACTERS,
    *TASK_NAMES,
]


def assert_one_error_line(code: int, out: str, err: str, names: str) -> str:
    """The error contract: non-zero, one `error:` line naming `names`, no traceback."""
    assert code != 0, f"exit 0; stdout: {out!r}"
    assert "Traceback" not in out + err, err
    assert err.endswith("\n"), f"stderr does not end a line: {err!r}"
    assert err.count("\n") == 1, f"not exactly one stderr line: {err!r}"
    assert err.startswith("error: "), err
    assert names in err, f"the error does not name {names!r}: {err!r}"
    return err


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return example_repo(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fresh_repo(_template: GitRepo, tmp_path: Path) -> GitRepo:
    """A copy of the example monorepo and its origin: copying is ten times faster than git."""
    work, origin = tmp_path / "work", tmp_path / "origin.git"
    shutil.copytree(_template.path, work, symlinks=True)
    shutil.copytree(_template.origin, origin, symlinks=True)
    repo = GitRepo(work, origin)
    repo.git("remote", "set-url", "origin", str(origin))
    # Copies have new mtimes: refresh the index's stat cache now, not inside the task.
    repo.git("update-index", "--refresh")
    return repo


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    case: Case, fresh_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = case.setup(fresh_repo) if case.setup else fresh_repo
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    snapshot = RepoSnapshot.take(repo)
    result = cli(*case.argv, cwd=repo.path)
    assert_one_error_line(result.code, result.out, result.err, case.names)
    for _, value in case.env:
        if "Recognisable" in value:
            assert "Recognisable" not in result.out + result.err, "a credential was printed"
    snapshot.assert_same(repo)


def test_there_are_at_least_fifty_cases_covering_every_task() -> None:
    assert len(CASES) >= 50
    assert len({case.id for case in CASES}) == len(CASES)
    from dexops.__main__ import program

    namespace = program().namespace
    assert namespace is not None
    tasks = set(namespace.task_names)
    covered = {case.argv[0] for case in CASES}
    # Per-component tasks come from the example's configuration, not from the cwd.
    uncovered = {
        name
        for name in tasks
        if name not in covered and not name.startswith(("release.", "publish."))
    }
    assert uncovered <= {"demo"}, f"tasks without a bad-input case: {sorted(uncovered)}"


class _Terminal(io.StringIO):
    """A terminal whose input ends at once, as after Ctrl-D."""

    def isatty(self) -> bool:
        return True


def test_end_of_input_at_the_prompt_is_not_confirmed(
    fresh_repo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(""))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    snapshot = RepoSnapshot.take(fresh_repo)
    argv = ("rollback", "--env", "dev", "--to", "sha-1234abcd", "--skip-registry-check")
    result = cli(*argv, cwd=fresh_repo.path)
    assert result.code == 1
    assert "Traceback" not in result.out + result.err
    assert result.err.splitlines()[-1] == (
        "error: not confirmed; nothing was changed (pass --yes to skip the question)"
    )
    assert [line for line in result.err.splitlines() if line.startswith("error:")] == [
        result.err.splitlines()[-1]
    ]
    snapshot.assert_same(fresh_repo)

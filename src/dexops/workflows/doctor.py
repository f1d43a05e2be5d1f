"""`doctor`: look at all a pipeline run needs; report every problem at once; change nothing."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath

from dexops.adapters import registry
from dexops.adapters.argocd import SERVER_ENV, TOKEN_ENV, ArgoCD
from dexops.adapters.git import Git
from dexops.adapters.github import github_from_env
from dexops.adapters.package_index import credentials_for, missing_credentials_hint
from dexops.adapters.programs import probe_all
from dexops.adapters.repo_files import LocalRepoFiles
from dexops.domain.checkup import (
    Finding,
    Status,
    classic_scopes_verdict,
    git_version_verdict,
    permissions_verdict,
)
from dexops.domain.config import Config, config_problems, parse_config
from dexops.errors import DexopsError, ExitCode

HEADERS = ("area", "subject", "status", "detail")
ENGINES = ("docker", "buildah", "podman")


class CheckupFailedError(DexopsError):
    """At least one row of the check-up failed (warnings alone leave the exit status 0)."""

    exit_code = ExitCode.FAILURE


def examine(root: Path, environ: Mapping[str, str] | None = None) -> list[Finding]:
    """Every check-up row for the repository at `root`; reads only, never raises for a finding."""
    env = os.environ if environ is None else environ
    findings: list[Finding] = []
    config = _configuration(root, findings)
    git = Git(root)
    findings.extend(_tools(config))
    findings.extend(_repository(git, config))
    if config is not None:
        findings.extend(_paths(config))
        findings.extend(_github(git, env))
        findings.extend(_credentials(config, env))
        findings.extend(_argocd(config, env))
    return findings


def _configuration(root: Path, findings: list[Finding]) -> Config | None:
    file = root / "pyproject.toml"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        findings.append(Finding("config", str(file), "fail", "does not exist"))
        return None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        findings.append(Finding("config", str(file), "fail", f"is not valid TOML: {exc}"))
        return None

    files = LocalRepoFiles(root)
    problems = config_problems(data, root=root, file=file, files=files)
    for problem in problems:
        findings.append(Finding("config", "[tool.dexops]", "fail", problem))
    if problems:
        return None
    config = parse_config(data, root=root, file=file, files=files)
    parts = f"{len(config.components)} components, {len(config.environments)} environments"
    findings.append(Finding("config", "[tool.dexops]", "ok", f"loads: {parts}"))
    return config


def _paths(config: Config) -> Iterator[Finding]:
    """Files the configured steps read, beyond the directories the loader checks."""
    for comp in config.components.values():
        wanted = [comp.pyproject]
        if comp.kind == "app":
            wanted.append(str(PurePosixPath(comp.path) / comp.dockerfile))
        if comp.changelog:
            wanted.append(comp.changelog)
        if comp.version_file:
            wanted.append(comp.version_file)
        for relative in wanted:
            exists = (config.root / relative).is_file()
            yield Finding(
                "path",
                relative,
                "ok" if exists else "fail",
                f"{comp.name}: {'present' if exists else 'missing'}",
            )


def _tools(config: Config | None) -> Iterator[Finding]:
    apps = config is not None and bool(config.apps())
    environments = config is not None and bool(config.environments)
    names = (
        "git",
        *((*ENGINES, "trivy") if apps else ()),
        *(("kubectl",) if environments else ()),
    )
    found = probe_all(names)
    git = found["git"]
    if git is None:
        yield Finding("tool", "git", "fail", "not installed (apt-get install git)")
    else:
        yield Finding("tool", "git", *git_version_verdict(git.version))
    if apps:
        present = [f"{n} ({p.version})" for n in ENGINES if (p := found[n]) is not None]
        if present:
            yield Finding("tool", "container engine", "ok", "; ".join(present))
        else:
            yield Finding(
                "tool", "container engine", "fail", "none of docker, buildah, podman installed"
            )
        trivy = found["trivy"]
        yield (
            Finding("tool", "trivy", "ok", trivy.version)
            if trivy
            else Finding("tool", "trivy", "warn", "not installed: image.scan cannot run")
        )
    if environments:
        kubectl = found["kubectl"]
        yield (
            Finding("tool", "kubectl", "ok", kubectl.version)
            if kubectl
            else Finding(
                "tool", "kubectl", "warn", "not installed: overlays are not rendered, no rollback "
                "--emergency"
            )
        )  # fmt: skip


def _attempt(area: str, subject: str, check: Callable[[], Finding]) -> Finding:
    """Run one check; an expected failure becomes its failing row."""
    try:
        return check()
    except DexopsError as exc:
        return Finding(area, subject, "fail", str(exc))


def _repository(git: Git, config: Config | None) -> Iterator[Finding]:
    def shallow() -> Finding:
        if git.is_shallow():
            return Finding(
                "git", "history", "warn",
                "shallow clone: history, metrics and release notes need `git fetch --unshallow` "
                "(or fetch-depth: 0)",
            )  # fmt: skip
        return Finding("git", "history", "ok", "full clone")

    def origin() -> Finding:
        git.remote_url("origin")  # says plainly when there is no origin at all
        branch = git.remote_default_branch("origin")
        wanted = config.default_branch if config is not None else None
        if branch is None:
            return Finding("git", "origin HEAD", "warn", "origin names no default branch")
        if wanted is not None and branch != wanted:
            return Finding(
                "git", "origin HEAD", "fail",
                f"origin's default branch is {branch!r}, default-branch says {wanted!r}",
            )  # fmt: skip
        return Finding("git", "origin HEAD", "ok", f"origin's default branch is {branch!r}")

    yield _attempt("git", "history", shallow)
    yield _attempt("git", "origin HEAD", origin)


def _github(git: Git, env: Mapping[str, str]) -> Iterator[Finding]:
    variable = "GITHUB_TOKEN" if env.get("GITHUB_TOKEN") else "GH_TOKEN"
    if not env.get(variable):
        yield Finding(
            "token", "GITHUB_TOKEN", "warn",
            "not set: no GitHub releases or pull requests (local tags and branches only)",
        )  # fmt: skip
        return

    def access() -> Finding:
        client = github_from_env(git)
        assert client is not None  # noqa: S101 - the token is set
        found = client.token_access()
        status: Status
        if found.scopes is not None:
            status, detail = classic_scopes_verdict(found.scopes, private=found.private)
        else:
            status, detail = permissions_verdict(found.permissions)
        return Finding("token", variable, status, f"{client.repository}: {detail}")

    yield _attempt("token", variable, access)


def _credentials(config: Config, env: Mapping[str, str]) -> Iterator[Finding]:
    if config.libraries():
        for index in config.indexes:
            found = credentials_for(index, env)
            yield (
                Finding("token", f"index {index.name}", "ok", f"credentials from {found.source}")
                if found
                else Finding(
                    "token", f"index {index.name}", "warn",
                    f"no credentials: {missing_credentials_hint(index)} to publish",
                )
            )  # fmt: skip
    if config.apps():
        names = (registry.PASSWORD_ENV, registry.TOKEN_ENV)
        variable = next((v for v in names if env.get(v)), None)
        images = ", ".join(sorted({a.image or "" for a in config.apps()}))
        yield (
            Finding("token", "registry", "ok", f"credentials from {variable} for {images}")
            if variable
            else Finding(
                "token", "registry", "warn",
                f"no {names[0]} or {names[1]}: pushes to {images} rely on a prior login",
            )
        )  # fmt: skip


def _argocd(config: Config, env: Mapping[str, str]) -> Iterator[Finding]:
    apps = {e.name: e.argocd_app for e in config.environments.values() if e.argocd_app}
    if not apps:
        return
    if not env.get(SERVER_ENV):
        yield Finding(
            "argocd", SERVER_ENV, "warn", f"not set: cannot check {', '.join(apps.values())}"
        )
        return
    try:
        client = ArgoCD.from_env(env)
    except DexopsError as exc:
        yield Finding("argocd", SERVER_ENV, "fail", str(exc))
        return
    token = "with" if env.get(TOKEN_ENV) else "without"
    for name, app in apps.items():

        def look(app: str = app, name: str = name) -> Finding:
            state = client.application(app)
            detail = f"{name}: {state.sync_status}, {state.health_status} ({token} {TOKEN_ENV})"
            return Finding("argocd", app, "ok", detail)

        yield _attempt("argocd", app, look)

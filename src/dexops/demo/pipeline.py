"""The end-to-end demo: the example monorepo's whole pipeline in a local sandbox."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import tomlkit

from dexops import console
from dexops.demo.services import (
    IndexCredentials,
    Service,
    ServiceGroup,
    start_pypiserver,
    start_registry,
)
from dexops.errors import DexopsError

# src/dexops/demo/pipeline.py -> the checkout root holds examples/.
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dex-monorepo"
DEMO_USER = {
    "GIT_AUTHOR_NAME": "Dex Demo",
    "GIT_AUTHOR_EMAIL": "demo@dexops.invalid",
    "GIT_COMMITTER_NAME": "Dex Demo",
    "GIT_COMMITTER_EMAIL": "demo@dexops.invalid",
}
# Credentials of the throw-away local indexes; nothing outside the sandbox accepts them.
INDEX_USER = "demo"
INDEX_PASSWORD = "demo-index-password"  # noqa: S105 - a local throw-away index


class DemoError(DexopsError):
    """A demo step failed; the sandbox is kept for inspection."""


StepOutcome = Literal["ok", "ok (refused as expected)", "skipped", "failed"]


@dataclass
class StepResult:
    """How one step ended."""

    title: str
    outcome: StepOutcome
    seconds: float
    detail: str = ""


@dataclass
class Sandbox:
    """The demo's sandbox: a working clone, its bare origin, and the services it uses."""

    root: Path
    repo: Path
    origin: Path
    services: dict[str, Service] = field(default_factory=dict)
    engine: str | None = None

    def env(self) -> dict[str, str]:
        """The environment each step runs with: local credentials, no outside tokens."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "ARGOCD_", "TWINE_", "DEXOPS_"))
            and k not in ("GH_TOKEN", "SLACK_WEBHOOK", "CI")
        }
        env.update(DEMO_USER)
        env.update(
            {
                "TWINE_USERNAME": INDEX_USER,
                "TWINE_PASSWORD": INDEX_PASSWORD,
                "HOME": str(self.root / "home"),
                "GIT_CONFIG_NOSYSTEM": "1",
                "NO_COLOR": "1",
            }
        )
        return env

    def git(self, *args: str, cwd: Path | None = None) -> str:
        """Run git in the sandbox repository."""
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd or self.repo,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise DemoError(f"git {args[0]} failed in the sandbox: {proc.stderr.strip()}")
        return proc.stdout.strip()


def _configure(sandbox: Sandbox) -> None:
    """Point the copied example at the local indexes and registry."""
    pyproject = sandbox.repo / "pyproject.toml"
    document = tomlkit.parse(pyproject.read_text(encoding="utf-8"))
    dexops_table = document["tool"]["dexops"]
    indexes = tomlkit.table()
    for name in ("testpypi", "pypi"):
        service = sandbox.services[name]
        entry = tomlkit.table()
        entry["upload-url"] = f"{service.url}/"
        entry["simple-url"] = f"{service.url}/simple/"
        indexes[name] = entry
    dexops_table["indexes"] = indexes
    registry = sandbox.services.get("registry")
    if registry is not None:
        host = registry.url.removeprefix("http://")
        image = f"{host}/thedataenginex/dex"
        dexops_table["components"]["careerdex"]["image"] = image
        for overlay in (sandbox.repo / "infra" / "argocd" / "overlays").glob(
            "*/kustomization.yaml"
        ):
            text = overlay.read_text(encoding="utf-8")
            overlay.write_text(text.replace("ghcr.io/thedataenginex/dex", image), encoding="utf-8")
        build_args = tomlkit.inline_table()
        build_args["BASE_IMAGE"] = "scratch"  # nothing can be pulled offline
        dexops_table["components"]["careerdex"]["build-args"] = build_args
    pyproject.write_text(tomlkit.dumps(document), encoding="utf-8")


def _create_repository(sandbox: Sandbox) -> None:
    """Copy the example, commit it, and push main and dev to a bare origin."""
    shutil.copytree(
        EXAMPLE,
        sandbox.repo,
        ignore=shutil.ignore_patterns("__pycache__", ".venv", ".nox", "dist", "build"),
    )
    (sandbox.root / "home").mkdir()
    _configure(sandbox)
    sandbox.git(
        "init", "--quiet", "--bare", "--initial-branch=main", str(sandbox.origin), cwd=sandbox.root
    )
    sandbox.git("init", "--quiet", "--initial-branch=main")
    sandbox.git("remote", "add", "origin", str(sandbox.origin))
    sandbox.git("add", "-A")
    sandbox.git("commit", "--quiet", "-m", "feat: import the DataEngineX monorepo")
    sandbox.git("push", "--quiet", "origin", "main", "main:dev")
    sandbox.git("fetch", "--quiet", "origin")


def _detect_engine() -> str | None:
    """The image engine the demo can use here, if any."""
    return "buildah" if shutil.which("buildah") else None


class Demo:
    """Runs the pipeline step by step, printing each outcome and duration."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.results: list[StepResult] = []

    def task(self, title: str, *argv: str, expect_fail: bool = False) -> str:
        """Run one dexops task in the sandbox as a user would; return its stdout."""
        command = [sys.executable, "-m", "dexops", *argv]
        console.say(f"\n▶ {title}")
        console.say(f"  $ dexops {shlex.join(argv)}")
        started = time.monotonic()
        proc = subprocess.run(
            command,
            cwd=self.sandbox.repo,
            env=self.sandbox.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
        for line in (proc.stdout + proc.stderr).rstrip().splitlines():
            console.say(f"    {line}")
        failed = proc.returncode != 0
        if failed and not expect_fail:
            self.results.append(StepResult(title, "failed", seconds, proc.stderr.strip()))
            raise DemoError(f"step {title!r} failed: {proc.stderr.strip().splitlines()[-1:]}")
        outcome: StepOutcome = "ok (refused as expected)" if failed else "ok"
        if expect_fail and not failed:
            self.results.append(StepResult(title, "failed", seconds, "was expected to be refused"))
            raise DemoError(f"step {title!r} should have been refused")
        self.results.append(StepResult(title, outcome, seconds))
        console.say(f"  ✓ {outcome} in {seconds:.1f}s")
        return proc.stdout

    def skip(self, title: str, reason: str) -> None:
        """Record a step that cannot run on this machine."""
        console.say(f"\n▶ {title}\n  - skipped: {reason}")
        self.results.append(StepResult(title, "skipped", 0.0, reason))

    def commit_change(self, path: str, text: str, message: str) -> str:
        """Make and push an application change, as a developer merging a PR would."""
        # The promotions moved origin's main on; catch up first, like `git pull` would.
        self.sandbox.git("pull", "--quiet", "--ff-only", "origin", "main")
        target = self.sandbox.repo / path
        target.write_text(text, encoding="utf-8")
        self.sandbox.git("add", path)
        self.sandbox.git("commit", "--quiet", "-m", message)
        self.sandbox.git("push", "--quiet", "origin", "main")
        return self.sandbox.git("rev-parse", "HEAD")

    def build(self, label: str) -> str:
        """Build and push the app image at HEAD; return its immutable tag."""
        tag = "sha-" + self.sandbox.git("rev-parse", "HEAD")[:8]
        if self.sandbox.engine is None or "registry" not in self.sandbox.services:
            self.skip(
                f"build and push image {tag} ({label})",
                "no image engine (apt-get install buildah) or registry",
            )
            return tag
        self.task(f"build and push image {tag} ({label})", "image.build", "careerdex", "--push")
        return tag


def _pipeline(demo: Demo) -> None:
    """The steps of the demo, in the order CI and people run them."""
    # Without a local registry the images cannot be checked; say so rather than guess.
    gate = () if "registry" in demo.sandbox.services else ("--skip-registry-check",)

    def deploy(branch: str, tag: str) -> None:
        demo.task(f"CD: deploy {tag} to {branch}", "deploy.update", "--branch", branch,
                  "--image-tag", tag, "--push")  # fmt: skip

    def promote(source: str, target: str) -> None:
        demo.task(f"promote {source} -> {target}", "promote", "--from-env", source,
                  "--to-env", target, "--direct", "--yes", *gate)  # fmt: skip

    demo.task("validate the dataenginex distribution", "package.validate", "dataenginex")
    demo.task("bump dataenginex (patch)", "version.bump", "dataenginex", "--part", "patch")
    demo.task("plan the pipeline for the pushed commit", "pipeline.plan", "--base", "HEAD~1")
    demo.task("release every component whose version has no tag", "release.all")
    demo.task("publish dataenginex (test index, then production)", "publish.dataenginex")
    demo.task("publish again: nothing to do", "publish.dataenginex")
    first = demo.build("first build")
    deploy("dev", first)
    promote("dev", "stage")
    promote("stage", "prod")
    demo.commit_change(
        "src/careerdex/banner.py",
        '"""Greeting shown on the landing page."""\n\nBANNER = "CareerDEX: find your next role"\n',
        "feat: landing page banner",
    )
    second = demo.build("second build")
    deploy("dev", second)
    promote("dev", "stage")
    promote("stage", "prod")
    demo.task("status of every environment", "status")
    demo.task("roll prod back (with a hold)", "rollback", "--env", "prod", "--yes", *gate)
    demo.task(
        "CD to prod while it is held: refused",
        "deploy.update", "--branch", "main", "--env", "prod", "--image-tag", second, "--push",
        expect_fail=True,
    )  # fmt: skip
    demo.task("release the hold on prod", "hold.release", "--env", "prod")
    demo.task("deployment history of prod", "history", "--env", "prod")
    demo.task("final status", "status")


def run_demo(
    *, keep: bool, workdir: Path | None = None, out: Callable[[str], None] = console.say
) -> list[StepResult]:
    """Run the demo in a fresh sandbox; stop every service it started, whatever happens."""
    if not EXAMPLE.is_dir():
        # An installed wheel has no examples/: refuse before starting anything.
        raise DemoError(
            f"the example monorepo is not at {EXAMPLE}; run the demo from a dexops checkout"
        )
    root = Path(tempfile.mkdtemp(prefix="dexops-demo-", dir=workdir))
    sandbox = Sandbox(root=root, repo=root / "dex-monorepo", origin=root / "origin.git")
    demo = Demo(sandbox)
    started = time.monotonic()
    failed = True
    try:
        with ServiceGroup() as services:
            out(f"sandbox: {root}")
            credentials = IndexCredentials(INDEX_USER, INDEX_PASSWORD)
            for name in ("testpypi", "pypi"):
                sandbox.services[name] = services.add(
                    start_pypiserver(root / name, name, credentials)
                )
                out(f"started {name} index at {sandbox.services[name].url}")
            if shutil.which("docker-registry"):
                sandbox.services["registry"] = services.add(start_registry(root / "registry"))
                out(f"started OCI registry at {sandbox.services['registry'].url}")
            else:
                out("no docker-registry (apt-get install docker-registry): image steps skipped")
            sandbox.engine = _detect_engine()
            _create_repository(sandbox)
            _pipeline(demo)
            failed = False
    finally:
        total = time.monotonic() - started
        _summary(demo.results, total, out)
        if keep or failed:
            out(f"sandbox kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return demo.results


def _summary(results: Sequence[StepResult], total: float, out: Callable[[str], None]) -> None:
    out("")
    console.table(
        ["#", "step", "outcome", "seconds"],
        [[i, r.title, r.outcome, f"{r.seconds:.1f}"] for i, r in enumerate(results, 1)],
        title=f"dexops demo: {len(results)} steps in {total:.1f}s",
    )

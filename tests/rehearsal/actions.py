"""Stand-ins for actions/checkout, setup-uv, setup-python, setup-trivy and the artifact actions."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.rehearsal.actionkit import ActionContext, ActionError, StandIn
from tests.rehearsal.errors import RehearsalError
from tests.rehearsal.origin import git

SHA = re.compile(r"^[0-9a-fA-F]{40}$")


def _git(ctx: ActionContext, *args: str, cwd: Path) -> str:
    ctx.log("$ git " + " ".join(args))
    proc = git(*args, cwd=cwd, check=False)
    ctx.log((proc.stdout + proc.stderr).rstrip("\n"))
    if proc.returncode != 0:
        raise ActionError(f"git {args[0]} failed with exit code {proc.returncode}")
    return proc.stdout.strip()


def _refspecs(ref: str, commit: str) -> list[str]:  # noqa: PLR0911 - one case a ref kind
    """The refspecs actions/checkout fetches for a ref and/or commit."""
    if commit:
        if ref.startswith("refs/heads/"):
            return [f"+{commit}:refs/remotes/origin/{ref.removeprefix('refs/heads/')}"]
        if ref.startswith("refs/pull/"):
            return [f"+{commit}:refs/remotes/pull/{ref.removeprefix('refs/pull/')}"]
        if ref.startswith("refs/tags/"):
            return [f"+{commit}:{ref}"]
        return [commit]
    if ref.startswith("refs/heads/"):
        return [f"+{ref}:refs/remotes/origin/{ref.removeprefix('refs/heads/')}"]
    if ref.startswith("refs/pull/"):
        return [f"+{ref}:refs/remotes/pull/{ref.removeprefix('refs/pull/')}"]
    if ref.startswith("refs/"):
        return [f"+{ref}:{ref}"]
    return [f"+refs/heads/{ref}*:refs/remotes/origin/{ref}*", f"+refs/tags/{ref}*:refs/tags/{ref}*"]


def _exists(ctx: ActionContext, ref: str, cwd: Path) -> bool:
    return git("rev-parse", "--verify", "--quiet", ref, cwd=cwd, check=False).returncode == 0


def checkout(ctx: ActionContext) -> None:  # noqa: PLR0912 - the real action's cases
    """A clone of the local origin at the event's commit (or `ref:`), as actions/checkout does."""
    repository = ctx.text("repository", ctx.github["repository"])
    if repository.lower() != str(ctx.github["repository"]).lower():
        raise RehearsalError(
            f"actions/checkout of another repository ({repository}) is not modelled"
        )
    for unsupported in ("sparse-checkout", "submodules", "lfs", "filter"):
        if ctx.text(unsupported) not in ("", "false"):
            raise RehearsalError(f"actions/checkout: {unsupported} is not modelled")
    ref, commit = ctx.text("ref"), ""
    if not ref:
        ref, commit = str(ctx.github["ref"]), str(ctx.github["sha"])
    elif SHA.match(ref):
        ref, commit = "", ref.lower()
    try:
        depth = int(ctx.text("fetch-depth", "1"))
    except ValueError as exc:
        raise ActionError(f"fetch-depth {ctx.inputs['fetch-depth']!r} is not a number") from exc
    dest = (ctx.workspace / ctx.text("path", ".")).resolve()
    if not dest.is_relative_to(ctx.workspace.resolve()):
        raise ActionError(f"Repository path '{dest}' is not under '{ctx.workspace}'")
    if not (dest / ".git").is_dir():
        if dest.exists():
            for child in dest.iterdir():
                shutil.rmtree(
                    child
                ) if child.is_dir() and not child.is_symlink() else child.unlink()
        dest.mkdir(parents=True, exist_ok=True)
        _git(ctx, "init", "-q", str(dest), cwd=dest)
        _git(ctx, "remote", "add", "origin", ctx.origin.url, cwd=dest)
    elif ctx.flag("clean", default=True):
        _git(ctx, "clean", "-ffdx", cwd=dest)
        _git(ctx, "reset", "--hard", "HEAD", cwd=dest) if _exists(ctx, "HEAD", dest) else None
    fetch = ["fetch", "--prune", "--no-recurse-submodules"]
    if depth <= 0:
        _git(
            ctx,
            *fetch,
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
            cwd=dest,
        )
        if commit and not _at(dest, ref, commit):
            _git(ctx, *fetch, "origin", *_refspecs(ref, commit), cwd=dest)
    else:
        specs = _refspecs(ref, commit)
        if ctx.flag("fetch-tags", default=False):
            specs.append("+refs/tags/*:refs/tags/*")
        else:
            fetch.append("--no-tags")
        try:
            _git(ctx, *fetch, f"--depth={depth}", "origin", *specs, cwd=dest)
        except ActionError:
            if ref and not ref.startswith("refs/") and not commit:
                raise ActionError(
                    f"A branch or tag with the name '{ref}' could not be found"
                ) from None
            raise
    _checkout(ctx, dest, ref, commit)
    head = _git(ctx, "rev-parse", "HEAD", cwd=dest)
    if commit and head != commit:
        raise ActionError(f"checked out {head}, expected {commit}")
    ctx.outputs.update(ref=ref, commit=head)


def _at(dest: Path, ref: str, commit: str) -> bool:
    local = _local_ref(ref)
    proc = git("rev-parse", "--verify", "--quiet", local or commit, cwd=dest, check=False)
    return proc.stdout.strip() == commit


def _local_ref(ref: str) -> str:
    if ref.startswith("refs/heads/"):
        return "refs/remotes/origin/" + ref.removeprefix("refs/heads/")
    if ref.startswith("refs/pull/"):
        return "refs/remotes/pull/" + ref.removeprefix("refs/pull/")
    return ref


def _checkout(ctx: ActionContext, dest: Path, ref: str, commit: str) -> None:
    if ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
        _git(ctx, "checkout", "--force", "-B", branch, f"refs/remotes/origin/{branch}", cwd=dest)
    elif ref.startswith("refs/"):
        _git(ctx, "checkout", "--force", _local_ref(ref), cwd=dest)
    elif ref:
        if _exists(ctx, f"refs/remotes/origin/{ref}", dest):
            _git(ctx, "checkout", "--force", "-B", ref, f"refs/remotes/origin/{ref}", cwd=dest)
        elif _exists(ctx, f"refs/tags/{ref}", dest):
            _git(ctx, "checkout", "--force", f"refs/tags/{ref}", cwd=dest)
        else:
            raise ActionError(f"A branch or tag with the name '{ref}' could not be found")
    else:
        _git(ctx, "checkout", "--force", commit, cwd=dest)


def setup_uv(ctx: ActionContext) -> None:
    """The uv installed on this machine, put on PATH (a version pin must match it)."""
    uv = Path(ctx.tool("uv"))
    version = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True)
    number = version.stdout.split()[1]
    wanted = ctx.text("version", "latest")
    if wanted not in ("latest", "") and not number.startswith(wanted.lstrip("v=")):
        raise ActionError(f"uv {wanted} was asked for; this machine has {number}")
    ctx.path_entries.append(str(uv.parent))
    if ctx.text("python-version"):
        ctx.env_updates["UV_PYTHON"] = ctx.text("python-version")
    ctx.outputs.update({"uv-version": number, "uv-path": str(uv), "cache-hit": "false"})
    ctx.log(f"uv {number} at {uv}")


def setup_python(ctx: ActionContext) -> None:
    """The installed python for the asked version (python3.X on PATH), put on PATH."""
    wanted = ctx.text("python-version")
    name = f"python{wanted}" if wanted else "python3"
    found = shutil.which(name, path=ctx.env.get("PATH")) or (
        sys.executable if wanted in ("", f"{sys.version_info[0]}.{sys.version_info[1]}") else None
    )
    if found is None:
        raise ActionError(f"Version {wanted} with arch x64 not found on this machine")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    ctx.path_entries.append(str(Path(found).parent))
    ctx.outputs.update(
        {
            "python-version": version.stdout.split()[-1],
            "python-path": found,
            "cache-hit": "false",
        }
    )


def setup_trivy(ctx: ActionContext) -> None:
    """trivy as installed on this machine."""
    trivy = Path(ctx.tool("trivy"))
    ctx.path_entries.append(str(trivy.parent))


CHECKOUT_INPUTS = {
    "repository", "ref", "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user",
    "persist-credentials", "path", "clean", "filter", "sparse-checkout",
    "sparse-checkout-cone-mode", "fetch-depth", "fetch-tags", "show-progress", "lfs",
    "submodules", "set-safe-directory", "github-server-url",
}  # fmt: skip
SETUP_UV_INPUTS = {
    "version", "version-file", "python-version", "activate-environment", "working-directory",
    "checksum", "github-token", "enable-cache", "cache-dependency-glob", "cache-suffix",
    "cache-local-path", "prune-cache", "ignore-nothing-to-cache", "ignore-empty-workdir",
    "tool-dir", "tool-bin-dir", "manifest-file", "server-url",
}  # fmt: skip
SETUP_PYTHON_INPUTS = {
    "python-version", "python-version-file", "cache", "architecture", "check-latest", "token",
    "cache-dependency-path", "update-environment", "allow-prereleases", "freethreaded",
}  # fmt: skip

STAND_INS = {
    "actions/checkout": StandIn(frozenset(CHECKOUT_INPUTS), checkout),
    "astral-sh/setup-uv": StandIn(frozenset(SETUP_UV_INPUTS), setup_uv),
    "actions/setup-python": StandIn(frozenset(SETUP_PYTHON_INPUTS), setup_python),
    "aquasecurity/setup-trivy": StandIn(
        frozenset({"version", "cache", "path", "token"}), setup_trivy
    ),
}

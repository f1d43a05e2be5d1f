"""An environment's state: its overlay on its branch as origin has it, whatever is checked out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dexops import invocation
from dexops.adapters.gitstream import log_with_objects
from dexops.domain import deploy_history, holds, kustomize
from dexops.domain.config import Environment
from dexops.domain.deploy_history import Revision
from dexops.domain.imageref import commit_prefix
from dexops.domain.kustomize import ImageEntry
from dexops.errors import ConfigError, DexopsError, ExitCode
from dexops.workflows.remote_branches import (
    complete_history,
    decode_text,
    fetch_branches,
    remote_ref,
)
from dexops.workflows.workspace import Workspace


class HoldError(DexopsError):
    """An environment is on hold after a rollback; automation may not overwrite it."""

    exit_code = ExitCode.ON_HOLD


@dataclass(frozen=True)
class EnvironmentState:
    """An environment's overlay at origin's tip of its branch."""

    env: Environment
    image: str
    branch_commit: str
    text: str
    entry: ImageEntry

    @property
    def tag(self) -> str | None:
        """The image tag the overlay holds."""
        return self.entry.new_tag

    @property
    def digest(self) -> str | None:
        """The digest the overlay pins, if any."""
        return self.entry.digest


def image_of(ws: Workspace, env: Environment) -> str:
    """The image repository an environment runs (its component's `image`)."""
    image = ws.config.component(env.component).image
    if image is None:  # pragma: no cover - config validation requires it for apps
        raise ConfigError(f"component {env.component!r} has no image")
    return image


def environments(ws: Workspace, names: Iterable[str] | None = None) -> list[Environment]:
    """Configured environments (all, in promotion order, or the named ones)."""
    if names is None:
        return ws.config.promotion_order()
    return [ws.config.environment(name) for name in names]


def fetch(ws: Workspace, envs: Sequence[Environment]) -> None:
    """Bring origin's branches of these environments up to date (one fetch)."""
    fetch_branches(ws.git, [e.branch for e in envs])


def read_states(ws: Workspace, envs: Sequence[Environment]) -> dict[str, EnvironmentState]:
    """The overlays of several environments from their fetched branches (one git cat-file)."""
    tips = ws.git.read_at_tips([(remote_ref(env.branch), env.kustomization) for env in envs])
    states = {}
    for env in envs:
        tip = tips[remote_ref(env.branch)]
        if tip is None:
            raise DexopsError(f"origin has no branch {env.branch!r} (environment {env.name})")
        data = tip.files[env.kustomization]
        if data is None:
            raise DexopsError(f"{env.kustomization} does not exist on origin/{env.branch}")
        source = f"{env.kustomization} on origin/{env.branch}"
        text = decode_text(data, source)
        image = image_of(ws, env)
        states[env.name] = EnvironmentState(
            env, image, tip.commit, text, kustomize.read_image(text, image, source)
        )
    return states


def read_history(
    ws: Workspace, env: Environment, *, max_count: int | None = None, ref: str | None = None
) -> list[Revision]:
    """The overlay's revisions on origin's branch, newest first (two git processes in all)."""
    if ref is None:
        complete_history(ws.git, [env.branch])
    args = deploy_history.log_arguments(
        ref or remote_ref(env.branch), env.kustomization, max_count=max_count
    )
    records, blobs = log_with_objects(ws.git, args, deploy_history.iter_log, _blob_of)
    return deploy_history.build_history(
        records,
        blobs,
        image_of(ws, env),
        env.kustomization,
        former=env.former_images,
        bots=env.deploy_commit_pattern,
    )


def _blob_of(record: deploy_history.LogRecord) -> str | None:
    return record.blob


def read_holds(ws: Workspace, envs: Sequence[Environment]) -> dict[str, holds.HoldRecord]:
    """Environments on hold, from the hold trailers on origin's branches.

    Only the overlays' own commits are walked, newest first, and only back to the first
    that settles the question: a hold decision (a hold is set by a rollback, which always
    edits its overlay), or a dexops deploy or promotion of the environment (dexops makes
    none while it is held). A hold found is then checked against the commits after it
    (a `hold.release` commit edits no file).
    """
    held: dict[str, holds.HoldRecord] = {}
    branches: dict[str, list[Environment]] = {}
    for env in envs:
        branches.setdefault(env.branch, []).append(env)
    complete_history(ws.git, list(branches))
    for branch, group in branches.items():
        ref = remote_ref(branch)
        wanted = {env.name: env for env in group}
        overlays = [ref, "--", *(e.kustomization for e in group)]
        for name, record in _newest_decisions(ws, overlays, wanted, grep=False).items():
            if record is None or not record.held:
                continue
            # A hold-release after the hold edits no overlay: look at what came after it.
            later = _newest_decisions(ws, [ref, f"^{record.commit}"], {name: wanted[name]})
            current = later.get(name) or record
            if current.held:
                held[name] = current
    return held


# The first page of a hold scan: the newest overlay commit nearly always settles it (a
# deploy). A larger page is not free: git walks the branch until it has found that many
# overlay commits, the whole branch when the overlay has fewer.
_FIRST_PAGE = 1


def _newest_decisions(
    ws: Workspace, revisions: Sequence[str], wanted: Mapping[str, Environment], *, grep: bool = True
) -> dict[str, holds.HoldRecord | None]:
    """The newest hold decision per wanted environment in a `git log` of `revisions`.

    Without `grep` every commit is read, and a dexops deploy or promotion of an environment
    met first settles it as not held (None).

    The log is read in pages, each twice the one before (`--skip` past what was read), and
    no further than the page that settles every environment: git walks a little past the
    answer, never the whole history behind it, and the pages together walk at most about
    twice what the last one reached.
    """
    found: dict[str, holds.HoldRecord | None] = {}
    read, page = 0, _FIRST_PAGE
    while True:
        out = ws.git.run(
            "log",
            f"--format={deploy_history.LOG_FORMAT}",
            f"--skip={read}",
            f"--max-count={page}",
            *(holds.HOLD_GREP if grep else ()),
            *revisions,
        )
        logs = deploy_history.parse_log(out)
        for log in logs:
            for record in holds.hold_records(log.commit, log.date, log.trailers):
                if record.environment in wanted:
                    found.setdefault(record.environment, record)
            if not grep and holds.first(log.trailers, holds.ACTION) in ("deploy", "promote"):
                for name in log.trailers.get(holds.ENVIRONMENT, []):
                    if name in wanted:
                        found.setdefault(name, None)
            if len(found) == len(wanted):
                return found
        if len(logs) < page:  # the history ended
            return found
        read, page = read + page, page * 2


def hold_of(ws: Workspace, env: Environment) -> holds.HoldRecord | None:
    """The hold on one environment, if any."""
    return read_holds(ws, [env]).get(env.name)


def require_not_held(ws: Workspace, env: Environment) -> None:
    """Refuse to overwrite an environment that a rollback put on hold."""
    record = hold_of(ws, env)
    if record is not None:
        raise HoldError(hold_message(record))


def hold_message(record: holds.HoldRecord) -> str:
    """Why an environment may not be overwritten, and how to release it."""
    return (
        f"{record.environment} is on hold since rollback {record.commit[:8]} "
        f"(to {record.image_tag or '?'} from {record.previous_tag or '?'}); "
        f"release it with: {invocation.command(f'hold.release --env {record.environment}')}"
    )


def tag_commit(ws: Workspace, tag: str | None) -> str | None:
    """The commit an immutable `sha-<hex>` image tag was built from, when this repo has it."""
    prefix = commit_prefix(tag)
    return None if prefix is None else ws.git.resolve(prefix)


@dataclass(frozen=True)
class Drift:
    """How the target's image commit stands to the source's: git's left-right count."""

    known: bool
    commits: list[str]
    behind: int = 0  # commits the source's image has that the target's lacks
    ahead: int = 0  # commits the target's image has that the source's lacks
    source_commit: str | None = None
    target_commit: str | None = None

    @property
    def diverged(self) -> bool:
        """Whether the target runs commits the source lacks (promoting would drop them)."""
        return self.ahead > 0

    def describe(self) -> str:
        """A short human description."""
        if not self.known:
            return "unknown"
        if self.ahead and self.behind:
            return f"diverged: {self.behind} behind, {self.ahead} ahead"
        if self.ahead:
            return f"{self.ahead} commit(s) ahead"
        return f"{self.behind} commit(s) behind" if self.behind else "in sync"


def drift(
    ws: Workspace, source_tag: str | None, target_tag: str | None, *, limit: int = 50
) -> Drift:
    """Where the target's image stands against the source's, and the commits it lacks."""
    if source_tag == target_tag:
        return Drift(known=True, commits=[])
    source, target = tag_commit(ws, source_tag), tag_commit(ws, target_tag)
    if source is None or target is None:
        return Drift(known=False, commits=[], source_commit=source, target_commit=target)
    counts = ws.git.run("rev-list", "--left-right", "--count", f"{target}...{source}")
    listing = ws.git.run("log", f"--max-count={limit}", "--format=%h %s", f"{target}..{source}")
    ahead, behind = (int(n) for n in counts.split())
    return Drift(
        known=True,
        commits=[line for line in listing.splitlines() if line],
        behind=behind,
        ahead=ahead,
        source_commit=source,
        target_commit=target,
    )

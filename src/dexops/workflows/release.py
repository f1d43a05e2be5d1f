"""Component releases: plan (tag, notes, pushes, HTTP calls), then tag, push and publish.

A library's release also builds its files first and records their sha256 in the tag
(see `release_records`); apps build nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from packaging.version import Version

from dexops.adapters.git import (
    REMOTE_REFS,
    containing_branches_command,
    parse_branch_refs,
    parse_remote_refs,
    parse_tag_refs,
    tag_refs_command,
)
from dexops.adapters.github import github_from_env
from dexops.adapters.pyproject_file import read_version
from dexops.adapters.sbom import with_digests
from dexops.domain.release_gate import release_refusal
from dexops.errors import (
    ConflictError,
    ForgeError,
    GitError,
    PushRejectedError,
    ReleaseRefusedError,
    WorkInterruptedError,
)
from dexops.workflows.notes import changelog_path, release_notes
from dexops.workflows.release_decision import existing_tag, release_decision
from dexops.workflows.release_records import (
    LibraryRecord,
    RecordPlan,
    attach,
    build_records,
    record_plans,
)
from dexops.workflows.versions import previous_release

if TYPE_CHECKING:
    from dexops.adapters.git import Git
    from dexops.adapters.github import GitHub, Release
    from dexops.workflows.workspace import Workspace

REMOTE = "origin"


@dataclass(frozen=True, slots=True)
class Target:
    """The repository state every release of one run starts from (checked once, up front)."""

    branch: str
    commit: str
    remote_tags: dict[str, str]
    remote_branch: str | None
    head_on_remote: bool
    forge: GitHub | None
    local_tags: dict[str, str]  # every local tag, mapped to its commit
    branches: list[str]  # local and origin branches whose history holds HEAD

    @property
    def push_branch(self) -> bool:
        """Whether HEAD must reach origin's branch with the tags (it is not there yet)."""
        return not self.head_on_remote


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """What releasing one component means right now; computed without changing anything."""

    component: str
    version: Version
    tag: str
    commit: str
    branch: str
    previous: str | None
    notes: str
    notes_source: str
    local_tag: str | None  # commit the local tag points at, if it exists
    remote_tag: str | None  # commit origin's tag points at, if it exists
    sign: bool = False
    library: bool = False
    digests: Mapping[str, str] | None = None  # the built files', once a library is built

    @property
    def title(self) -> str:
        """The release's name: `component version`."""
        return f"{self.component} {self.version}"

    @property
    def prerelease(self) -> bool:
        """PEP 440 pre- and dev-releases are GitHub prereleases."""
        return self.version.is_prerelease

    @property
    def released(self) -> bool:
        """Whether the tag already stands on origin at this commit (nothing to tag or push)."""
        return self.remote_tag == self.commit

    @property
    def create_tag(self) -> bool:
        """Whether this run makes the local tag."""
        return self.local_tag is None and self.remote_tag is None

    @property
    def tag_message(self) -> str:
        """The annotated tag's message: the title, the notes, then any digests recorded."""
        message = f"{self.title}\n\n{self.notes}\n" if self.notes else f"{self.title}\n"
        # Always through with_digests: notes quoting the record's markers are neutralised.
        return with_digests(message, self.digests or {})

    def tag_command(self) -> list[str]:
        """The git command that creates the annotated (or signed) tag."""
        # verbatim: the default cleanup would drop `### Features` lines as comments.
        kind = "--sign" if self.sign else "--annotate"
        return ["tag", kind, "--cleanup=verbatim", "--file=-", self.tag, self.commit]

    def as_json(self) -> dict[str, object]:
        """A JSON-ready description of the plan."""
        return {
            "component": self.component,
            "version": str(self.version),
            "tag": self.tag,
            "commit": self.commit,
            "branch": self.branch,
            "previous": self.previous,
            "prerelease": self.prerelease,
            "notes_source": self.notes_source,
            "notes": self.notes,
            "tag_exists_locally": self.local_tag is not None,
            "tag_exists_on_origin": self.remote_tag is not None,
            "digests": dict(self.digests) if self.digests else None,
        }


@dataclass
class ReleaseResult:
    """What a release did: tag created / pushed, the GitHub release, or why nothing."""

    plan: ReleasePlan
    tag_created: bool = False
    tag_pushed: bool = False
    branch_pushed: bool = False
    release_url: str | None = None
    release_created: bool = False
    assets_attached: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def created(self) -> bool:
        """Whether this run published anything new (a tag or a GitHub release)."""
        return self.tag_pushed or self.release_created

    def as_json(self) -> dict[str, object]:
        """A JSON-ready report."""
        return {
            **self.plan.as_json(),
            "tag_created": self.tag_created,
            "tag_pushed": self.tag_pushed,
            "branch_pushed": self.branch_pushed,
            "release_url": self.release_url,
            "release_created": self.release_created,
            "assets_attached": self.assets_attached,
            "created": self.created,
            "messages": self.messages,
        }


# --- planning (reads only: git plumbing, ls-remote, files) -----------------------------------


def check_target(ws: Workspace) -> Target:
    """Check what every release needs (repo, branch, clean tree, origin) and read origin."""
    git = ws.git
    commit, branch = git.head_and_branch()
    git.require_clean()
    local_tags = parse_tag_refs(git.run(*tag_refs_command()))
    branches = parse_branch_refs(git.run(*containing_branches_command("HEAD", REMOTE)), REMOTE)
    try:
        remote_tags, heads = parse_remote_refs(git.run(*REMOTE_REFS, REMOTE))
    except GitError:
        git.remote_url(REMOTE)  # says so when there is no origin at all
        raise
    remote_branch = heads.get(f"refs/heads/{branch}")
    on_remote = _reachable_from(git, commit, [*heads.values(), *remote_tags.values()])
    return Target(
        branch=branch,
        commit=commit,
        remote_tags=remote_tags,
        remote_branch=remote_branch,
        head_on_remote=on_remote,
        forge=github_from_env(git),
        local_tags=local_tags,
        branches=branches,
    )


def _reachable_from(git: Git, commit: str, tips: Sequence[str]) -> bool:
    """Whether origin already has `commit`: it is an ancestor of a tip we have locally."""
    if commit in tips:
        return True
    if not tips:
        return False
    # Tips origin has but we never fetched are unknown objects here; --ignore-missing skips them.
    done = git.call(
        "rev-list", "--count", "--ignore-missing", "--stdin", commit,
        input_text="".join(f"^{tip}\n" for tip in tips),
    )  # fmt: skip
    return done.code == 0 and done.stdout.strip() == "0"


def plan_release(ws: Workspace, name: str, target: Target) -> ReleasePlan:
    """Everything one component's release would do; raises on a tag on another commit."""
    component = ws.config.component(name)
    version = read_version(ws.root, component)
    tag = existing_tag(component.tag_prefix, version, target.local_tags, target.remote_tags)
    ws.git.check_ref_name(tag)
    tags = {n: c for n, c in target.local_tags.items() if n.startswith(component.tag_prefix)}
    local = target.local_tags.get(tag)
    remote = target.remote_tags.get(tag)
    for where, commit in (("locally", local), (f"on {REMOTE}", remote)):
        if commit is not None and commit != target.commit:
            raise ConflictError(
                f"tag {tag} already exists {where} on commit {commit[:12]}, not on HEAD "
                f"({target.commit[:12]}); bump {name}'s version to release again"
            )
    previous = previous_release(ws, component, target.commit, tags)
    # The checked-out branch, or one that already holds HEAD (a tag for a commit on main).
    refusal = release_refusal(
        name, version, branches=target.branches, patterns=ws.config.release_lines, latest=previous
    )
    if refusal is not None:
        # Before any tag exists or anything is pushed: a refused release changes nothing.
        raise ReleaseRefusedError(refusal)
    # The notes read the CHANGELOG and a library's record its pyproject: one git process.
    ws.git.read_objects(
        [f"{target.commit}:{path}" for path in (changelog_path(component), component.pyproject)]
    )
    notes, source = release_notes(
        ws,
        component,
        version,
        (previous.name, tags[previous.name]) if previous else None,
        target.commit,
    )
    return ReleasePlan(
        component=name,
        version=version,
        tag=tag,
        commit=target.commit,
        branch=target.branch,
        previous=previous.name if previous else None,
        notes=notes,
        notes_source=source,
        local_tag=local,
        remote_tag=remote,
        sign=ws.config.sign,
        library=component.kind == "library",
    )


def plan_all(ws: Workspace, target: Target) -> tuple[list[ReleasePlan], list[str]]:
    """Plans for every component whose version has no tag yet, and why the others are skipped."""
    plans, skipped = [], []
    for name in ws.config.components:
        decision = release_decision(ws, name, target.commit, target.local_tags, target.remote_tags)
        if decision.action == "unchanged":
            skipped.append(f"{name}: {decision.reason}")
            continue
        plans.append(plan_release(ws, name, target))
    return plans, skipped


def push_refspecs(plans: Sequence[ReleasePlan], target: Target) -> list[str]:
    """What one atomic push sends: every tag origin lacks, and HEAD when origin lacks it."""
    specs = [f"refs/tags/{p.tag}:refs/tags/{p.tag}" for p in plans if not p.released]
    if specs and target.push_branch:
        # No `+`: the branch only fast-forwards; a diverged origin rejects the whole push.
        specs.append(f"{target.commit}:refs/heads/{target.branch}")
    return specs


def git_commands(plans: Sequence[ReleasePlan], target: Target) -> list[list[str]]:
    """The git commands a run would execute, in order."""
    commands = [p.tag_command() for p in plans if p.create_tag]
    specs = push_refspecs(plans, target)
    if specs:
        commands.append(["push", "--porcelain", "--atomic", REMOTE, *specs])
    return commands


def http_calls(
    plans: Sequence[ReleasePlan],
    forge: GitHub | None,
    records: Mapping[str, RecordPlan] | None = None,
) -> list[str]:
    """The GitHub calls a run would make (the token shown masked)."""
    if forge is None:
        return []
    auth = "(Authorization: Bearer ***)"
    calls = []
    for plan in plans:
        calls.append(f"GET {forge.api_url}{forge.release_url(plan.tag)} {auth}")
        calls.append(
            f"POST {forge.api_url}/repos/{forge.repository}/releases "
            f"tag_name={plan.tag} name={plan.title!r} prerelease={str(plan.prerelease).lower()} "
            f"{auth} (unless the release exists)"
        )
        record = (records or {}).get(plan.tag)
        for asset in record.assets if record else ():
            url = forge.asset_upload_url("{release id}", asset)
            calls.append(f"POST {url} {auth} (unless the release has it)")
    return calls


# --- applying --------------------------------------------------------------------------------


def tag_and_push(
    ws: Workspace, plans: Sequence[ReleasePlan], target: Target
) -> list[ReleaseResult]:
    """Create the missing tags and push them (with HEAD if needed) in one atomic push.

    On any failure the tags this call created are deleted again; origin is untouched
    because the push is atomic.
    """
    results = [ReleaseResult(plan) for plan in plans]
    created: list[str] = []
    specs = push_refspecs(plans, target)
    pushing = False
    try:
        for result in results:
            if result.plan.create_tag:
                ws.git.run(*result.plan.tag_command(), input_text=result.plan.tag_message)
                created.append(result.plan.tag)
                result.tag_created = True
        if specs:
            pushing = True
            ws.git.push(REMOTE, *specs, atomic=True)
    except PushRejectedError as exc:
        _delete_tags(ws, created)
        undone = f"; deleted the local tag(s) {', '.join(created)} again" if created else ""
        hint = "; fetch, rebase onto origin and re-run" if exc.non_fast_forward else ""
        raise PushRejectedError(
            f"{exc}{undone}{hint}", non_fast_forward=exc.non_fast_forward
        ) from None
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: undo, then say what was done
        _delete_tags(ws, created)
        undone = (
            f"deleted the local tag(s) {', '.join(created)} again" if created else "no tag made"
        )
        pushed = (
            "the atomic push to origin was cut short (check origin before re-running)"
            if pushing
            else "nothing was pushed"
        )
        raise WorkInterruptedError(f"{undone}; {pushed}", signal=stop) from None
    except BaseException:  # any other failure leaves no local tag behind
        _delete_tags(ws, created)
        raise
    for result in results:
        result.tag_pushed = not result.plan.released
        result.branch_pushed = result.tag_pushed and target.push_branch
    return results


def _delete_tags(ws: Workspace, names: Sequence[str]) -> None:
    for name in names:
        ws.git.call("tag", "--delete", name)


def existing_releases(
    plans: Sequence[ReleasePlan], forge: GitHub | None
) -> dict[str, Release | None]:
    """Each tag's GitHub release, asked before anything changes (a bad token fails here)."""
    if forge is None:
        return {}
    return {plan.tag: forge.release_for_tag(plan.tag) for plan in plans}


def publish(
    result: ReleaseResult, forge: GitHub | None, existing: Release | None
) -> Release | None:
    """Create the GitHub release of a pushed tag; an existing one is reported, not an error."""
    plan = result.plan
    if forge is None:
        result.messages.append(
            f"no GITHUB_TOKEN or GH_TOKEN: the annotated tag {plan.tag} is the release"
        )
        return None
    if existing is not None:
        result.release_url = existing.url
        result.messages.append(f"GitHub release {plan.tag} already exists: {existing.url}")
        return existing
    try:
        release = forge.create_release(
            plan.tag, name=plan.title, body=plan.notes, prerelease=plan.prerelease
        )
    except ForgeError as exc:
        pushed = "was pushed" if result.tag_pushed else "is on origin"
        raise ForgeError(
            f"{plan.tag} {pushed}, but the GitHub release failed: {exc}; re-run to retry"
        ) from None
    result.release_url = release.url
    result.release_created = release.created
    if not release.created:
        result.messages.append(f"GitHub release {plan.tag} already exists: {release.url}")
    return release


def _attach(result: ReleaseResult, forge: GitHub, release: Release, record: LibraryRecord) -> None:
    uploaded, present = attach(forge, release, record)
    result.assets_attached = uploaded
    if present:
        result.messages.append(f"the GitHub release already has {', '.join(present)}")


def release(ws: Workspace, plans: Sequence[ReleasePlan], target: Target) -> list[ReleaseResult]:
    """Check GitHub, build libraries, tag, push, then publish; say what was done on failure."""
    existing = existing_releases(plans, target.forge)
    built = build_records(ws, record_plans(ws, plans, target.forge, existing))
    plans = [
        replace(p, digests=built[p.tag].digests) if p.create_tag and p.tag in built else p
        for p in plans
    ]
    results = tag_and_push(ws, plans, target)
    done: list[str] = []
    for result in results:
        try:
            published = publish(result, target.forge, existing.get(result.plan.tag))
            record = built.get(result.plan.tag)
            if target.forge is not None and published is not None and record is not None:
                _attach(result, target.forge, published, record)
        except ForgeError as exc:
            if done:
                raise ForgeError(f"{exc} (released before it: {', '.join(done)})") from None
            raise
        done.append(result.plan.tag)
    return results


@dataclass(frozen=True, slots=True)
class ReleaseRun:
    """One `release.*` run: the plans, what was skipped, and (unless dry) the results."""

    target: Target
    plans: list[ReleasePlan]
    skipped: list[str]
    commands: list[list[str]]
    calls: list[str]
    results: list[ReleaseResult]
    dry_run: bool
    records: dict[str, RecordPlan]

    def as_json(self) -> dict[str, object]:
        """A JSON-ready report of the run."""
        return {
            "dry_run": self.dry_run,
            "commit": self.target.commit,
            "branch": self.target.branch,
            "releases": [r.as_json() for r in self.results]
            if not self.dry_run
            else [
                {**p.as_json(), "records": self.records[p.tag].as_json()}
                if p.tag in self.records
                else p.as_json()
                for p in self.plans
            ],
            "skipped": self.skipped,
            "git_commands": [["git", *c] for c in self.commands],
            "http_calls": self.calls,
        }


def release_components(ws: Workspace, name: str | None, *, dry_run: bool) -> ReleaseRun:
    """Release one component (`name`) or every untagged one (None); dry_run only plans."""
    target = check_target(ws)
    if name is None:
        plans, skipped = plan_all(ws, target)
    else:
        plans, skipped = [plan_release(ws, name, target)], []
    commands = git_commands(plans, target)
    records = record_plans(ws, plans, target.forge)
    calls = http_calls(plans, target.forge, records)
    results = [] if dry_run else release(ws, plans, target)
    return ReleaseRun(target, plans, skipped, commands, calls, results, dry_run, records)

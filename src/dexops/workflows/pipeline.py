"""One plan for CI: releases, publishes, images and environment updates, decided once.

The plan carries a digest of the inputs it was made from. Apply tasks given the plan
(`--plan FILE`) recompute the digest and refuse to act when the repository moved on.
The digest covers what the pipeline reads but does not itself produce: the commit, the
configuration, the earlier release tags and the holds. Tags the plan releases and overlays
it updates are its outputs, so creating them does not invalidate it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dexops import github_actions
from dexops.adapters.git import HeadState
from dexops.adapters.pyproject_file import read_version
from dexops.domain.config import Component, Environment
from dexops.domain.release_gate import release_refusal
from dexops.domain.versioning import component_tags, is_stable
from dexops.errors import ConfigError, ConflictError, DexopsError, ReleaseRefusedError
from dexops.github_actions import markdown_table
from dexops.workflows.environments import environments, fetch, hold_of, read_states
from dexops.workflows.image import build_branch, build_commit, component_image, tags_at
from dexops.workflows.publish import decide_publish, index_clients, read_indexes_unless_empty
from dexops.workflows.reachable import latest_reachable
from dexops.workflows.release_decision import release_decision
from dexops.workflows.workspace import Workspace

REMOTE = "origin"

# "released": the component's tag is already at HEAD; "refused": the release gate said no.
ReleaseAction = Literal["release", "released", "unchanged", "refused"]
PublishAction = Literal["publish", "skip"]
ImageAction = Literal["build", "skip"]
# "promotion-only": CD never writes the environment (it moves by promotion alone).
EnvironmentAction = Literal["update", "unchanged", "held", "not-on-branch", "promotion-only"]

PLAN_FORMAT = 1

# The workflows' `if:` conditions read these names (docs/ci.md lists them).
HAS_OUTPUT = {
    "release": "has-releases",
    "publish": "has-publishes",
    "test-index": "has-test-index",
    "production-index": "has-production-index",
}


@dataclass(frozen=True)
class ReleaseItem:
    """One component's release decision."""

    component: str
    version: str
    tag: str
    action: ReleaseAction
    reason: str


@dataclass(frozen=True)
class PublishItem:
    """One library's publish decision and the indexes it goes to."""

    component: str
    tag: str
    version: str
    action: PublishAction
    reason: str
    test_index: str | None
    production_index: str | None
    changed_paths: int = 0


@dataclass(frozen=True)
class ImageItem:
    """One app component's image build: its tags (the immutable sha tag first)."""

    component: str
    image: str
    tags: tuple[str, ...]
    action: ImageAction
    reason: str


@dataclass(frozen=True)
class EnvironmentItem:
    """One environment's CD decision and the tag it runs now."""

    environment: str
    branch: str
    current_tag: str | None
    new_tag: str | None
    action: EnvironmentAction
    reason: str
    promote_from: str | None = None


@dataclass(frozen=True)
class PipelinePlan:
    """Everything the pipeline will do for one pushed commit."""

    commit: str
    base: str | None
    branch: str | None
    digest: str
    releases: list[ReleaseItem] = field(default_factory=list)
    publishes: list[PublishItem] = field(default_factory=list)
    images: list[ImageItem] = field(default_factory=list)
    environments: list[EnvironmentItem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The plan as JSON, with the matrices the workflows read."""
        return {
            "format": PLAN_FORMAT,
            "commit": self.commit,
            "base": self.base,
            "branch": self.branch,
            "digest": self.digest,
            "releases": [vars(r) for r in self.releases],
            "publishes": [vars(p) for p in self.publishes],
            "images": [{**vars(i), "tags": list(i.tags)} for i in self.images],
            "environments": [vars(e) for e in self.environments],
            "matrices": self.matrices(),
        }

    def outputs(self) -> dict[str, object]:
        """The step outputs `pipeline.plan` writes: each matrix, whether it has rows, the digest."""
        written: dict[str, object] = {}
        for name, matrix in self.matrices().items():
            written[f"{name}-matrix"] = matrix
            written[HAS_OUTPUT[name]] = "true" if matrix["include"] else "false"
        written["digest"] = self.digest
        return written

    def matrices(self) -> dict[str, dict[str, list[dict[str, str]]]]:
        """GitHub Actions matrices: `{"include": [{"component", "tag"}, …]}` per job."""

        def matrix(rows: list[tuple[str, str]]) -> dict[str, list[dict[str, str]]]:
            return {"include": [{"component": c, "tag": t} for c, t in rows]}

        publish = [p for p in self.publishes if p.action == "publish"]
        return {
            "release": matrix(
                [(r.component, r.tag) for r in self.releases if r.action == "release"]
            ),
            "publish": matrix([(p.component, p.tag) for p in publish]),
            "test-index": matrix([(p.component, p.tag) for p in publish if p.test_index]),
            "production-index": matrix(
                [(p.component, p.tag) for p in publish if p.production_index]
            ),
        }


# --- the digest of the plan's inputs ------------------------------------------------------


def inputs_digest(
    ws: Workspace,
    commit: str,
    base: str | None,
    held: dict[str, bool],
    tags: Mapping[str, str] | None = None,
) -> str:
    """A sha256 over what the plan was made from (see the module docstring)."""
    # The plan passes the local tags it decided from; they are read again only when not given.
    tags = ws.git.tags_with_commits() if tags is None else tags
    earlier: dict[str, str] = {}
    for component in ws.config.components.values():
        version = str(read_version(ws.root, component))
        for tag in component_tags(component.tag_prefix, tags):
            # The tag this version would get is the plan's output, not its input.
            if str(tag.version) != version:
                earlier[tag.name] = tags[tag.name]
    document = {
        "commit": commit,
        "base": base,
        "config": hashlib.sha256(ws.config.file.read_bytes()).hexdigest(),
        "tags": dict(sorted(earlier.items())),
        "held": dict(sorted(held.items())),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


# --- the decisions ----------------------------------------------------------------------


def _release_item(
    ws: Workspace, name: str, head: str, branch: str | None, tags: _Tags
) -> ReleaseItem:
    decision = release_decision(ws, name, head, tags.local, tags.remote)
    version, tag = str(decision.version), decision.tag
    if decision.action == "release":
        # The gate `release` itself applies: a release branch, above the line's latest.
        refusal = release_refusal(
            name,
            decision.version,
            branches=[branch] if branch else [],
            patterns=ws.config.release_lines,
            latest=tags.previous[ws.config.component(name).tag_prefix],
        )
        if refusal is not None:
            return ReleaseItem(name, version, tag, "refused", refusal)
    return ReleaseItem(name, version, tag, decision.action, decision.reason)


class _Tags:
    """Local and origin's tags, read once: the release decision reads both, as release does."""

    def __init__(self, ws: Workspace, head: str) -> None:
        self.head = head
        self.local = ws.git.tags_with_commits()
        try:
            self.remote = ws.git.remote_tags(REMOTE)
        except DexopsError:
            self.remote = {}  # no origin: the local tags are all there is
        # Each component's latest release in HEAD's history, not counting HEAD's own tags.
        prefixes = [c.tag_prefix for c in ws.config.components.values()]
        self.previous = latest_reachable(ws.git, head, prefixes, self.local, before=True)


def _publish_item(
    ws: Workspace, component: Component, release: ReleaseItem, tags: _Tags
) -> PublishItem:
    """The publish task's own decision and, to publish, which files each index lacks."""
    version = read_version(ws.root, component)

    def item(
        action: PublishAction, reason: str, changed: int = 0, upload: tuple[str, ...] = ()
    ) -> PublishItem:
        test = ws.config.index_for("test")
        production = ws.config.index_for("production")
        return PublishItem(
            component=component.name,
            tag=release.tag,
            version=str(version),
            action=action,
            reason=reason,
            test_index=test.name if test and test.name in upload else None,
            production_index=production.name if production and production.name in upload else None,
            changed_paths=changed,
        )

    if release.action not in ("release", "released"):
        return item("skip", f"no release: {release.reason}")
    # The tag the release job makes is at HEAD when publish runs; decide as publish will then.
    known = {**tags.local, release.tag: tags.head}
    try:
        plan = decide_publish(ws, component, release.tag, (tags.head, known))
    except ReleaseRefusedError as exc:
        return item("skip", str(exc))
    if plan.tag is None or plan.changes is None or not plan.changes.any:
        return item("skip", plan.reason)
    with tempfile.TemporaryDirectory(prefix="dexops-plan-") as scratch:
        clients = index_clients(ws, plan.tag.version)
        read_indexes_unless_empty(ws, plan, clients, Path(scratch) / "dist")
    uploads = tuple(t.index.name for t in plan.targets if t.action == "upload")
    changed = len(plan.changes.paths)
    stable = "" if is_stable(version) else f"; {version} is a pre-release: test index only"
    if not uploads:
        return item("skip", plan.reason + stable, changed)
    return item("publish", plan.reason + stable, changed, uploads)


def _image_items(ws: Workspace, commit: str, branch: str | None) -> list[ImageItem]:
    env_branches = {env.branch for env in ws.config.environments.values()}
    items = []
    for component in ws.config.apps():
        version = str(read_version(ws.root, component))
        tags = tags_at(ws, component, version, commit=commit, branch=branch)
        action: ImageAction
        if branch == ws.config.default_branch or branch in env_branches:
            action, reason = "build", f"{branch} deploys images"
        else:
            action, reason = "skip", f"{branch or 'a detached HEAD'} is not a deploying branch"
        image = component_image(component).name
        items.append(ImageItem(component.name, image, tags, action, reason))
    return items


def _environment_items(
    ws: Workspace, branch: str | None, images: list[ImageItem], held: dict[str, bool]
) -> list[EnvironmentItem]:
    envs = environments(ws)
    if not envs:
        return []
    states = read_states(ws, envs)
    sha_tags = {i.component: i.tags[0] for i in images if i.action == "build" and i.tags}
    items = []
    for env in envs:
        current = states[env.name].tag
        new = sha_tags.get(env.component)
        action: EnvironmentAction
        if env.branch != branch or new is None:
            action, reason = "not-on-branch", f"updated by pushes to {env.branch}"
            new = None
        elif env.promotion_only:
            action, reason = "promotion-only", f"changed by promotion from {env.promote_from}"
            new = None
        elif held.get(env.name):
            action, reason = "held", "on hold after a rollback; `hold.release` lifts it"
        elif current == new:
            action, reason = "unchanged", f"already runs {new}"
        else:
            action, reason = "update", f"{current or 'nothing'} -> {new}"
        items.append(
            EnvironmentItem(env.name, env.branch, current, new, action, reason, env.promote_from)
        )
    return items


def _holds(ws: Workspace, envs: list[Environment]) -> dict[str, bool]:
    return {env.name: hold_of(ws, env) is not None for env in envs}


def compared_base(ws: Workspace, base: str | None, state: HeadState) -> str | None:
    """`base`'s commit, else the event's base in Actions, else HEAD's first parent (or None)."""
    if base:
        return ws.git.require_commit(base)
    event = github_actions.event_base()
    if event is not None and (commit := ws.git.resolve(event)) is not None:
        return commit
    return state.parents[0] if state.parents else None


def plan_pipeline(ws: Workspace, *, base: str | None, branch: str | None) -> PipelinePlan:
    """Decide every step of the pipeline for HEAD (fetches origin's environment branches).

    `base` None compares with the default base (`compared_base`).
    """
    state = ws.git.head_state()  # first, so it fails outside a repository with commits
    head = build_commit(ws, state)
    chosen_branch = build_branch(ws, branch, state)
    base_commit = compared_base(ws, base, state)
    envs = environments(ws)
    if envs:
        fetch(ws, envs)
    held = _holds(ws, envs)
    tags = _Tags(ws, head)
    releases = [_release_item(ws, name, head, chosen_branch, tags) for name in ws.config.components]
    by_name = {r.component: r for r in releases}
    publishes = [_publish_item(ws, c, by_name[c.name], tags) for c in ws.config.libraries()]
    # HEAD, the branch and the tags read above are passed down, not read again: a plan is one
    # snapshot, and each read is a git process that grows with the repository.
    images = _image_items(ws, head, chosen_branch)
    return PipelinePlan(
        commit=head,
        base=base_commit,
        branch=chosen_branch,
        digest=inputs_digest(ws, head, base_commit, held, tags.local),
        releases=releases,
        publishes=publishes,
        images=images,
        environments=_environment_items(ws, chosen_branch, images, held),
    )


# --- checking a plan before acting on it ----------------------------------------------------


def load_plan(path: str) -> dict[str, Any]:
    """Read a plan file written by `pipeline.plan --json`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"plan file {path!r} does not exist") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"plan file {path!r} is not a dexops plan: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise ConfigError(f"plan file {path!r} is not a dexops plan (format {PLAN_FORMAT})")
    for key, kinds in (("commit", (str,)), ("digest", (str,)), ("base", (str, type(None)))):
        if not isinstance(data.get(key, ...), kinds):
            raise ConfigError(f"plan file {path!r} has no valid {key!r}; make a new plan")
    return data


def require_plan_matches(ws: Workspace, path: str) -> dict[str, Any]:
    """Refuse to act when the repository no longer matches the plan in `path`."""
    plan = load_plan(path)
    commit = ws.git.head()
    if plan["commit"] != commit:
        raise ConflictError(
            f"plan {path} was made for {str(plan['commit'])[:8]}, but HEAD is {commit[:8]}; "
            "make a new plan"
        )
    held = _holds(ws, environments(ws))
    digest = inputs_digest(ws, commit, plan.get("base"), held)
    if digest != plan["digest"]:
        raise ConflictError(
            f"the repository no longer matches plan {path} (configuration, earlier tags or "
            "holds changed since it was made); make a new plan"
        )
    return plan


# --- presenting the plan ---------------------------------------------------------------------


def summary_markdown(plan: PipelinePlan) -> str:
    """The job summary: tables of decisions and a Mermaid diagram of the environments."""
    parts = [f"## dexops pipeline plan for `{plan.commit[:8]}` on `{plan.branch or 'detached'}`\n"]
    parts.append("### Releases\n")
    parts.append(
        markdown_table(
            ["component", "version", "tag", "action", "why"],
            [[r.component, r.version, f"`{r.tag}`", r.action, r.reason] for r in plan.releases],
        )
    )
    if plan.publishes:
        parts.append("\n### Publishing\n")
        parts.append(
            markdown_table(
                ["component", "tag", "action", "test index", "production index", "why"],
                [
                    [
                        p.component,
                        f"`{p.tag}`",
                        p.action,
                        p.test_index or "-",
                        p.production_index or "-",
                        p.reason,
                    ]
                    for p in plan.publishes
                ],
            )
        )
    if plan.images:
        parts.append("\n### Images\n")
        parts.append(
            markdown_table(
                ["component", "image", "tags", "action"],
                [[i.component, i.image, ", ".join(i.tags), i.action] for i in plan.images],
            )
        )
    if plan.environments:
        parts.append("\n### Environments\n")
        parts.append(
            markdown_table(
                ["environment", "branch", "runs", "after this push", "action"],
                [
                    [
                        e.environment,
                        e.branch,
                        e.current_tag or "-",
                        e.new_tag or e.current_tag or "-",
                        e.action,
                    ]
                    for e in plan.environments
                ],
            )
        )
        parts.append("\n" + mermaid(plan.environments))
    return "\n".join(parts)


def mermaid(envs: list[EnvironmentItem]) -> str:
    """A Mermaid flowchart of the promotion chain with the tag each environment runs."""
    lines = ["```mermaid", "flowchart LR"]
    for env in envs:
        tag = env.new_tag if env.action == "update" else env.current_tag
        note = {"update": " (updating)", "held": " (held)"}.get(env.action, "")
        lines.append(f'    {env.environment}["{env.environment}<br/>{tag or "-"}{note}"]')
    for env in envs:
        if env.promote_from:
            lines.append(f"    {env.promote_from} --> {env.environment}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def require_planned(
    ws: Workspace,
    path: str,
    section: str,
    component: str | None,
    action: str,
    *,
    also: tuple[str, ...] = (),
) -> None:
    """Refuse unless the plan in `path` still matches and decided `action` for `component`.

    `also` names further actions that count (a release already made at HEAD, say); with
    `component` None only the match of the repository is checked.
    """
    plan = require_plan_matches(ws, path)
    if component is None:
        return
    for item in plan.get(section, []):
        if item.get("component") == component:
            if item.get("action") not in (action, *also):
                raise ConflictError(
                    f"plan {path} does not {action} {component}: {item.get('reason')}"
                )
            return
    raise ConflictError(f"plan {path} has no {section} entry for {component!r}")


def require_planned_deploy(ws: Workspace, path: str, branch: str, tag: str) -> None:
    """Refuse a deploy of `tag` to `branch` that the plan in `path` did not decide."""
    plan = require_plan_matches(ws, path)
    planned = {
        e.get("new_tag")
        for e in plan.get("environments", [])
        if e.get("branch") == branch and e.get("action") == "update"
    }
    if tag not in planned:
        shown = ", ".join(sorted(str(t) for t in planned)) or "nothing"
        raise ConflictError(f"plan {path} deploys {shown} to {branch}, not {tag}")

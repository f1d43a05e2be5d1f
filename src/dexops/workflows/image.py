"""An image's identity: which component, commit and branch, and the tags and labels it gets.

Building and pushing it is `image_build`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from dexops import github_actions
from dexops.adapters.git import HeadState
from dexops.adapters.pyproject_file import read_version
from dexops.domain.config import Component
from dexops.domain.image_tags import (
    TagRules,
    image_tags,
    moving_tags_by_branch,
    oci_labels,
    source_url,
)
from dexops.domain.imageref import ImageRef, ImageRefError, validate_tag
from dexops.errors import ConfigError, ConflictError, DexopsError
from dexops.workflows.workspace import Workspace

REGISTRY_ENV = "DEXOPS_REGISTRY"
_COMMIT = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


# --- which image, which commit, which branch -------------------------------------------


def app_component(ws: Workspace, name: str | None) -> Component:
    """The named app component, or the only one when no name is given."""
    if name is not None:
        component = ws.config.component(name)
        if component.kind != "app":
            raise ConfigError(f"component {name!r} is a {component.kind}, not an app with an image")
        return component
    apps = ws.config.apps()
    if len(apps) != 1:
        names = ", ".join(c.name for c in apps) or "none"
        raise ConfigError(f"name the app component (apps: {names})")
    return apps[0]


def component_image(component: Component, registry: str | None = None) -> ImageRef:
    """The component's configured image, moved to `registry` (or `$DEXOPS_REGISTRY`) if set."""
    if component.image is None:
        raise ConfigError(f"component {component.name!r} has no image configured")
    try:
        image = ImageRef.parse(component.image)
    except ImageRefError as exc:
        raise ConfigError(f"tool.dexops.components.{component.name}.image: {exc}") from None
    if image.tag or image.digest:
        raise ConfigError(
            f"tool.dexops.components.{component.name}.image {component.image!r} must not carry "
            "a tag or digest; dexops computes the tags"
        )
    override = registry or os.environ.get(REGISTRY_ENV)
    return image.with_registry(override) if override else image


def resolve_ref(
    ws: Workspace, text: str, *, component: str | None, registry: str | None
) -> ImageRef:
    """TAG of the component's image, or a full reference when TEXT has '/', ':' or '@'."""
    if any(ch in text for ch in "/:@"):
        return ImageRef.parse(text)
    return component_image(app_component(ws, component), registry).with_tag(validate_tag(text))


def build_commit(ws: Workspace, state: HeadState | None = None) -> str:
    """The commit an image is built from: HEAD, or a pull request's head (never its merge).

    Any other event's head (`github_actions.event_head`) is what the job checked out unless
    the workflow chose another ref; HEAD is then what is built, so HEAD names it. `state`
    is HEAD as the caller read it, read here when not given.
    """
    head = (state or ws.git.head_state()).commit
    if github_actions.event_name() in ("pull_request", "pull_request_target"):
        pushed = github_actions.event_head()
        if pushed is not None and _COMMIT.match(pushed):
            return pushed
    if github_actions.event_name() == "workflow_run":
        tested = github_actions.event_head()
        if tested is not None and tested != head:
            # The job runs on the default branch: without `ref:` it builds that tip under
            # the name of the commit CI tested on another branch.
            raise ConflictError(
                f"HEAD is {head[:12]} but the workflow_run tested {tested[:12]}; check out "
                "github.event.workflow_run.head_sha"
            )
    return head


def build_branch(ws: Workspace, branch: str | None, state: HeadState | None = None) -> str | None:
    """The branch whose tags apply; None for pull requests and a detached HEAD."""
    if branch is not None:
        ws.git.check_ref_name(branch)
        return branch
    if github_actions.active():
        if (github_actions.event_name() or "").startswith("pull_request"):
            return None  # a PR build is not the branch's state: no moving tags
        # workflow_run jobs run on the default branch; the event names the branch CI tested.
        event_branch = github_actions.event_branch()
        if event_branch is not None:
            ws.git.check_ref_name(event_branch)
            return event_branch
    if state is None:
        try:
            state = ws.git.head_state()
        except DexopsError:
            return None
    return state.branch


def _commit_time(ws: Workspace, commit: str) -> int:
    done = ws.git.call("show", "-s", "--format=%ct", commit)
    if done.code != 0:  # the Actions head may not be fetched; HEAD's time is the next best
        done = ws.git.call("show", "-s", "--format=%ct", "HEAD")
    return int(done.stdout.strip())


def _source(ws: Workspace) -> str | None:
    run = github_actions.run_context()
    if run.active and run.repository_url:
        return run.repository_url
    done = ws.git.call("remote", "get-url", "origin")
    return source_url(done.stdout) if done.code == 0 else None


@dataclass(frozen=True)
class ImagePlan:
    """The tags, labels and inputs of one component image at one commit."""

    component: str
    image: ImageRef
    commit: str
    branch: str | None
    version: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    timestamp: int
    containerfile: str
    context: str

    @property
    def refs(self) -> tuple[ImageRef, ...]:
        """Every tag as a full reference, the immutable sha tag first."""
        return tuple(self.image.with_tag(tag) for tag in self.tags)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "component": self.component,
            "image": self.image.name,
            "commit": self.commit,
            "branch": self.branch,
            "version": self.version,
            "tags": list(self.tags),
            "refs": [str(ref) for ref in self.refs],
            "labels": dict(self.labels),
        }


def tag_rules(ws: Workspace, component: Component) -> TagRules:
    """The tagging rules of a component: config release tags, environments' moving tags."""
    pairs = [
        (env.branch, env.moving_tag)
        for env in ws.config.environments.values()
        if env.component == component.name
    ]
    return TagRules(
        default_branch=ws.config.default_branch,
        release_tags=component.release_tags,
        moving_tags=moving_tags_by_branch(pairs),
    )


def tags_at(
    ws: Workspace, component: Component, version: str, *, commit: str, branch: str | None
) -> tuple[str, ...]:
    """The tags `component`'s image at `version` gets at `commit` (the immutable sha tag first).

    `pipeline.plan` needs only these, not the labels (which read the commit's time and origin).
    """
    return image_tags(commit=commit, branch=branch, version=version, rules=tag_rules(ws, component))


def plan_image(
    ws: Workspace,
    component_name: str | None = None,
    *,
    branch: str | None = None,
    registry: str | None = None,
) -> ImagePlan:
    """Compute tags and labels for HEAD (or the Actions head) of an app component. Pure read."""
    state = ws.git.head_state()
    commit, branch = build_commit(ws, state), build_branch(ws, branch, state)
    component = app_component(ws, component_name)
    image = component_image(component, registry)
    version = str(read_version(ws.root, component))
    tags = tags_at(ws, component, version, commit=commit, branch=branch)
    timestamp = _commit_time(ws, commit)
    created = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = oci_labels(
        commit=commit, source=_source(ws), version=version, created=created, title=component.name
    )
    containerfile = str(PurePosixPath(component.path) / component.dockerfile)
    return ImagePlan(
        component=component.name,
        image=image,
        commit=commit,
        branch=branch,
        version=version,
        tags=tags,
        labels=labels,
        timestamp=timestamp,
        containerfile=containerfile,
        context=component.path,
    )

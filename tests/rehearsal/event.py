"""The `github` context of a run: GITHUB_SHA, GITHUB_REF and friends, per event, as documented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.rehearsal.errors import RehearsalError
from tests.rehearsal.origin import Origin


@dataclass(frozen=True)
class EventRef:
    """The commit and ref a run's GITHUB_SHA and GITHUB_REF name."""

    sha: str
    ref: str
    head_ref: str = ""
    base_ref: str = ""


def _need(origin: Origin, ref: str, what: str) -> str:
    sha = origin.resolve(ref)
    if sha is None:
        raise RehearsalError(f"{what}: {ref} is not in the origin {origin.path}")
    return sha


def event_ref(event: str, payload: dict[str, Any], origin: Origin, default_branch: str) -> EventRef:
    """GITHUB_SHA / GITHUB_REF for an event, from the fields GitHub documents for it."""
    default_ref = f"refs/heads/{default_branch}"
    if event == "push":
        return EventRef(sha=str(payload["after"]), ref=str(payload["ref"]))
    if event == "pull_request":
        pull = payload["pull_request"]
        number = int(payload.get("number", pull["number"]))
        merge = origin.pull_request_merge(number, pull["base"]["sha"], pull["head"]["sha"])
        return EventRef(
            sha=merge,
            ref=f"refs/pull/{number}/merge",
            head_ref=str(pull["head"]["ref"]),
            base_ref=str(pull["base"]["ref"]),
        )
    if event == "pull_request_target":
        pull = payload["pull_request"]
        base = str(pull["base"]["ref"])
        return EventRef(
            sha=_need(origin, f"refs/heads/{base}", event),
            ref=f"refs/heads/{base}",
            head_ref=str(pull["head"]["ref"]),
            base_ref=base,
        )
    if event == "release":
        tag = str(payload["release"]["tag_name"])
        return EventRef(sha=_need(origin, f"refs/tags/{tag}", event), ref=f"refs/tags/{tag}")
    if event == "workflow_dispatch":
        ref = str(payload.get("ref") or default_ref)
        return EventRef(sha=_need(origin, ref, event), ref=ref)
    # workflow_run, schedule, repository_dispatch, …: the default branch's tip, not the
    # commit that triggered the run.
    return EventRef(sha=_need(origin, default_ref, event), ref=default_ref)


def ref_name(ref: str) -> tuple[str, str]:
    """GITHUB_REF_NAME and GITHUB_REF_TYPE for a ref."""
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/"), "branch"
    if ref.startswith("refs/tags/"):
        return ref.removeprefix("refs/tags/"), "tag"
    if ref.startswith("refs/pull/"):
        return ref.removeprefix("refs/pull/"), "branch"
    return ref, ""


def dispatch_inputs(
    declared: dict[str, Any], given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """workflow_dispatch inputs: (typed `inputs` context, string `github.event.inputs`)."""
    unknown = set(given) - set(declared)
    if unknown:
        raise RehearsalError(f"workflow_dispatch: unexpected inputs {sorted(unknown)}")
    typed: dict[str, Any] = {}
    for name, raw in declared.items():
        spec = raw or {}
        kind = str(spec.get("type", "string"))
        if name in given:
            value = given[name]
        elif "default" in spec:
            value = spec["default"]
        elif spec.get("required"):
            raise RehearsalError(f"workflow_dispatch: required input {name!r} is missing")
        else:
            value = False if kind == "boolean" else ""
        if kind == "boolean":
            typed[name] = value if isinstance(value, bool) else str(value).lower() == "true"
        elif kind == "number":
            typed[name] = float(value) if value != "" else None
        elif kind == "choice":
            options = [str(option) for option in spec.get("options", [])]
            if str(value) not in options and value != "":
                raise RehearsalError(f"workflow_dispatch: {name}={value!r} is not in {options}")
            typed[name] = str(value)
        elif kind in ("string", "environment"):
            typed[name] = str(value)
        else:
            raise RehearsalError(f"workflow_dispatch: input type {kind!r} is not modelled")
    strings = {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in typed.items()
    }
    return typed, strings

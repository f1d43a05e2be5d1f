"""Whether a workflow's `on:` section starts a run for an event, as GitHub decides it."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from tests.rehearsal.errors import RehearsalError

DEFAULT_TYPES = {
    "pull_request": ["opened", "synchronize", "reopened"],
    "pull_request_target": ["opened", "synchronize", "reopened"],
}
KNOWN_FILTERS = {
    "push": {"branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"},
    "pull_request": {"branches", "branches-ignore", "paths", "paths-ignore", "types"},
    "workflow_run": {"workflows", "types", "branches", "branches-ignore"},
    "workflow_dispatch": {"inputs"},
    "workflow_call": {"inputs", "outputs", "secrets"},
}
KNOWN_FILTERS["pull_request_target"] = KNOWN_FILTERS["pull_request"]


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    """GitHub's filter glob: `*` no slash, `**` anything, `?`/`+` quantify the previous char."""
    out, index = [], 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+":
            out.append(char)
        elif char == "[":
            end = glob.find("]", index)
            if end < 0:
                raise RehearsalError(f"unclosed [ in filter pattern {glob!r}")
            out.append(glob[index : end + 1])
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z")


def matches(patterns: list[str], value: str) -> bool:
    """Ordered include/`!exclude` patterns: the last matching pattern decides."""
    included = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if _pattern(pattern[1:]).match(value):
                included = False
        elif _pattern(pattern).match(value):
            included = True
    return included


def normalise_on(raw: Any) -> dict[str, dict[str, Any]]:
    """`on:` as a mapping of event name to its filters (string, list and mapping forms)."""
    if isinstance(raw, str):
        return {raw: {}}
    if isinstance(raw, list):
        return {str(name): {} for name in raw}
    if isinstance(raw, dict):
        out: dict[str, dict[str, Any]] = {}
        for name, filters in raw.items():
            if filters is None:
                out[str(name)] = {}
            elif isinstance(filters, dict):
                out[str(name)] = dict(filters)
            elif name == "schedule" and isinstance(filters, list):
                out["schedule"] = {"cron": filters}
            else:
                raise RehearsalError(f"on.{name}: unexpected {filters!r}")
        return out
    raise RehearsalError(f"on: unexpected {raw!r}")


def _strings(filters: dict[str, Any], key: str) -> list[str] | None:
    value = filters.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _ref_filter(filters: dict[str, Any], kind: str, name: str) -> bool:
    include, ignore = _strings(filters, kind), _strings(filters, f"{kind}-ignore")
    if include is not None and ignore is not None:
        raise RehearsalError(f"{kind} and {kind}-ignore cannot both be given")
    if include is not None:
        return matches(include, name)
    if ignore is not None:
        return not matches(ignore, name)
    return True


def _paths_filter(filters: dict[str, Any], changed: Callable[[], list[str]]) -> bool:
    include, ignore = _strings(filters, "paths"), _strings(filters, "paths-ignore")
    if include is None and ignore is None:
        return True
    files = changed()
    if include is not None:
        return any(matches(include, path) for path in files)
    assert ignore is not None
    return any(not matches(ignore, path) for path in files)


def _types(filters: dict[str, Any], event: str, payload: dict[str, Any]) -> bool:
    types = _strings(filters, "types") or DEFAULT_TYPES.get(event)
    if types is None:
        return True
    return str(payload.get("action", "")) in types


def decide(  # noqa: PLR0911 - one reason a filter
    on: Any, event: str, payload: dict[str, Any], changed: Callable[[], list[str]]
) -> tuple[bool, str]:
    """(triggered, reason) for an event and payload; `changed` lists the changed files lazily."""
    events = normalise_on(on)
    if event not in events:
        return False, f"{event} is not in on: ({', '.join(events)})"
    filters = events[event]
    unknown = set(filters) - KNOWN_FILTERS.get(
        event, {"types"} if event != "schedule" else {"cron"}
    )
    if unknown:
        raise RehearsalError(f"on.{event}: filters the harness does not know: {sorted(unknown)}")
    if event == "push":
        return _push(filters, payload, changed)
    if event in ("pull_request", "pull_request_target"):
        base = str(payload["pull_request"]["base"]["ref"])
        if not _types(filters, event, payload):
            return False, f"action {payload.get('action')!r} is not in types"
        if not _ref_filter(filters, "branches", base):
            return False, f"base branch {base} is filtered out"
        if not _paths_filter(filters, changed):
            return False, "no changed file matches the paths filter"
        return True, f"{event} to {base}"
    if event == "workflow_run":
        run = payload["workflow_run"]
        if run["name"] not in (_strings(filters, "workflows") or []):
            return False, f"workflow {run['name']!r} is not in workflows"
        if not _types(filters, event, payload):
            return False, f"action {payload.get('action')!r} is not in types"
        if not _ref_filter(filters, "branches", str(run["head_branch"])):
            return False, f"head branch {run['head_branch']} is filtered out"
        return True, f"workflow_run of {run['name']}"
    if not _types(filters, event, payload):
        return False, f"action {payload.get('action')!r} is not in types"
    return True, event


def _push(  # noqa: PLR0911 - one reason a filter
    filters: dict[str, Any], payload: dict[str, Any], changed: Callable[[], list[str]]
) -> tuple[bool, str]:
    ref = str(payload["ref"])
    has_branch_filter = "branches" in filters or "branches-ignore" in filters
    has_tag_filter = "tags" in filters or "tags-ignore" in filters
    if ref.startswith("refs/tags/"):
        if has_branch_filter and not has_tag_filter:
            return False, "a tag push, and only branches are filtered"
        if not _ref_filter(filters, "tags", ref.removeprefix("refs/tags/")):
            return False, f"tag {ref} is filtered out"
        return True, f"push of {ref}"  # paths filters are not evaluated for tags
    branch = ref.removeprefix("refs/heads/")
    if has_tag_filter and not has_branch_filter:
        return False, "a branch push, and only tags are filtered"
    if not _ref_filter(filters, "branches", branch):
        return False, f"branch {branch} is filtered out"
    if not _paths_filter(filters, changed):
        return False, "no changed file matches the paths filter"
    return True, f"push to {branch}"

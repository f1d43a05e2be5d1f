"""Promotion chains: which environment a tag moves to next along `promote-from`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dexops.errors import DexopsError, ExitCode


class ChainError(DexopsError):
    """No single next environment follows from what the environments run."""

    exit_code = ExitCode.GATE_REFUSED


class AmbiguousStepError(ChainError):
    """Two or more environments could be next; the user has to name one."""


@dataclass(frozen=True)
class Step:
    """One promotion: `target` gets the tag `source` runs (the same when at the chain's end)."""

    source: str
    target: str


def _depth(promote_from: Mapping[str, str | None], env: str) -> int:
    depth = 0
    current = promote_from.get(env)
    while current is not None:
        depth += 1
        current = promote_from.get(current)
    return depth


def _ancestors(promote_from: Mapping[str, str | None], env: str) -> set[str]:
    found: set[str] = set()
    current = promote_from.get(env)
    while current is not None:
        found.add(current)
        current = promote_from.get(current)
    return found


def _choices(names: list[str]) -> str:
    return " or ".join(f"--to-env {name}" for name in names)


def next_step(
    promote_from: Mapping[str, str | None], runs: Mapping[str, str | None], tag: str
) -> Step:
    """The step after the furthest environment that runs `tag` (at a chain's end: onto it)."""
    order = sorted(promote_from, key=lambda env: (_depth(promote_from, env), env))
    runners = [env for env in order if runs.get(env) == tag]
    if not runners:
        raise ChainError(
            f"no environment runs {tag} (environments: {', '.join(order)}); "
            "pass --to-env and --from-env"
        )
    behind = set().union(*(_ancestors(promote_from, env) for env in runners))
    frontier = [env for env in runners if env not in behind]
    steps = [
        Step(source, env)
        for env in order
        if (source := promote_from[env]) in frontier and runs.get(env) != tag
    ]
    if len(steps) > 1:
        raise AmbiguousStepError(
            f"{tag} runs in {', '.join(frontier)}; more than one environment follows: "
            f"pass {_choices([step.target for step in steps])}"
        )
    # At a chain's end the step re-promotes onto the end, which already runs the tag.
    ends = [Step(source, env) for env in frontier if (source := promote_from[env]) is not None]
    if steps or ends:
        return (steps or ends)[0]
    raise ChainError(f"{tag} runs in {', '.join(frontier)}, which no environment is promoted from")

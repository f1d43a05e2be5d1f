"""The next step of a tag along the promote-from chain."""

from __future__ import annotations

import pytest

from dexops.domain.promotion_chain import AmbiguousStepError, ChainError, Step, next_step
from dexops.errors import ExitCode

LINE = {"dev": None, "stage": "dev", "prod": "stage"}
# dev feeds two regions, each with its own prod.
TREE = {
    "dev": None,
    "stage-eu": "dev",
    "stage-us": "dev",
    "prod-eu": "stage-eu",
    "prod-us": "stage-us",
}


@pytest.mark.parametrize(
    ("runs", "step"),
    [
        ({"dev": "x", "stage": "a", "prod": "a"}, Step("dev", "stage")),
        ({"dev": "x", "stage": "x", "prod": "a"}, Step("stage", "prod")),
        # A later environment running it counts even when an earlier one has moved on.
        ({"dev": "y", "stage": "x", "prod": "a"}, Step("stage", "prod")),
        # The end of the chain: the step lands on prod, which already runs it.
        ({"dev": "x", "stage": "x", "prod": "x"}, Step("stage", "prod")),
    ],
)
def test_a_line_moves_one_step(runs: dict[str, str], step: Step) -> None:
    assert next_step(LINE, runs, "x") == step


def test_a_branching_chain_follows_the_branch_that_runs_it() -> None:
    runs = {"dev": "x", "stage-eu": "x", "stage-us": "a", "prod-eu": "a", "prod-us": "a"}
    assert next_step(TREE, runs, "x") == Step("stage-eu", "prod-eu")


def test_two_followers_are_ambiguous_and_named() -> None:
    runs = {"dev": "x", "stage-eu": "a", "stage-us": "a", "prod-eu": "a", "prod-us": "a"}
    with pytest.raises(AmbiguousStepError) as raised:
        next_step(TREE, runs, "x")
    assert "pass --to-env stage-eu or --to-env stage-us" in str(raised.value)
    assert raised.value.exit_code == ExitCode.GATE_REFUSED


def test_two_branches_running_it_are_ambiguous() -> None:
    runs = {"dev": "x", "stage-eu": "x", "stage-us": "x", "prod-eu": "a", "prod-us": "a"}
    with pytest.raises(AmbiguousStepError, match="--to-env prod-eu or --to-env prod-us"):
        next_step(TREE, runs, "x")


def test_no_runner_is_refused_naming_the_environments() -> None:
    with pytest.raises(ChainError) as raised:
        next_step(LINE, {"dev": "a", "stage": "a", "prod": None}, "x")
    assert str(raised.value) == (
        "no environment runs x (environments: dev, stage, prod); pass --to-env and --from-env"
    )
    assert raised.value.exit_code == ExitCode.GATE_REFUSED


def test_a_lone_environment_has_nowhere_to_go() -> None:
    with pytest.raises(ChainError, match="x runs in dev, which no environment is promoted from"):
        next_step({"dev": None}, {"dev": "x"}, "x")

"""The workflow rehearsal harness itself: expressions, triggers, the job graph, steps, stand-ins."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import GitRepo, init_repo
from tests.rehearsal import payloads
from tests.rehearsal.commands import parse_file_command
from tests.rehearsal.errors import EvaluationError, RehearsalError
from tests.rehearsal.expressions import Scope, Status, condition, evaluate_value, interpolate
from tests.rehearsal.fixtures import Rehearsal, rehearse
from tests.rehearsal.jobs import expand_matrix
from tests.rehearsal.model import StepOverride
from tests.rehearsal.runner import job_order
from tests.rehearsal.triggers import decide, matches

CONTEXTS: dict[str, Any] = {
    "github": {
        "event_name": "push",
        "ref": "refs/heads/main",
        "event": {
            "pull_request": {"labels": [{"name": "bug"}, {"name": "full-test"}, {"x": 1}]},
            "after": None,
        },
    },
    "needs": {
        "plan": {
            "result": "success",
            "outputs": {"has-publishes": "true", "matrix": '{"a":[1,2]}'},
        },
        "build": {"result": "failure", "outputs": {}},
    },
    "env": {"NAME": "World"},
    "vars": {"ARGOCD_SERVER": ""},
    "matrix": {"python": "3.11"},
}


def ev(source: str, **extra: Any) -> Any:
    return Scope({**CONTEXTS, **extra}).evaluate(source)


# --- expressions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("null", None),
        ("true && 'yes'", "yes"),
        ("false || 'fallback'", "fallback"),
        ("'' || 'x'", "x"),
        ("0x1F", 31),
        ("-2.5", -2.5),
        ("1e3 == 1000", True),
        ("'it''s'", "it's"),
        ("'ABC' == 'abc'", True),  # strings compare ignoring case
        ("'1' == 1", True),  # different types compare as numbers
        ("'' == 0", True),
        ("null == 0", True),
        ("true == 1", True),
        ("'true' == true", False),  # 'true' is NaN as a number
        ("'abc' != 'abd'", True),
        ("1 < 2 && 'b' > 'a' && 2 >= 2 && 1 <= 0 == false", True),
        ("!(1 == 1)", False),
        ("!''", True),
        ("github.event_name == 'push' && github.ref == 'refs/heads/main'", True),
        ("github['event_name']", "push"),
        ("GITHUB.EVENT_NAME", "push"),  # contexts and keys ignore case
        ("needs.plan.outputs.has-publishes == 'true'", True),
        ("needs.plan.outputs.has-publishs", None),  # a wrong output name is null
        ("github.event.pull_request.labels.*.name", ["bug", "full-test"]),
        ("contains(github.event.pull_request.labels.*.name, 'FULL-TEST')", True),
        ("contains(needs.*.result, 'failure')", True),
        ("contains(needs.*.result, 'failure') && 'failure' || 'success'", "failure"),
        ("contains('Hello world', 'WORLD')", True),
        ("startsWith(github.ref, 'refs/HEADS/')", True),
        ("endsWith(github.ref, '/main')", True),
        ("format('{0}-{1} {{x}}', 'a', 2)", "a-2 {x}"),
        ("join(fromJSON('[1, \"b\"]'), '+')", "1+b"),
        ("join(github.event.pull_request.labels.*.name)", "bug,full-test"),
        ("fromJSON(needs.plan.outputs.matrix).a[1]", 2),
        ("toJSON(matrix)", '{\n  "python": "3.11"\n}'),
        ("fromJSON('true')", True),
        ("vars.ARGOCD_SERVER != ''", False),
        ("env.NAME", "World"),
        ("github.event.after || 'fallback'", "fallback"),
    ],
)
def test_expressions_evaluate_as_github_does(source: str, expected: Any) -> None:
    assert ev(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("frobnicate(1)", "Unrecognized function"),
        ("secrets.TOKEN", "Unrecognized named-value: 'secrets'"),
        ("1 +", "unexpected character"),
        ("a = 1", "unexpected character"),
        ("(1 == 1", r"expected '\)'"),
        ("github.", "unexpected end"),
        ("contains('a')", "takes 2..2 arguments"),
        ("success()", "only allowed in an if"),
        ("hashFiles('x')", "only allowed where a job's steps run"),
        ("1 == 1 2", "unexpected '2'"),
        ('"double"', "unexpected character"),
    ],
)
def test_what_the_evaluator_does_not_understand_is_an_error(source: str, message: str) -> None:
    with pytest.raises(RehearsalError, match=message):
        ev(source)


def test_fromjson_of_an_empty_output_fails_like_github() -> None:
    with pytest.raises(EvaluationError, match="fromJSON"):
        ev("fromJSON(needs.plan.outputs.missing)")


def test_misses_record_properties_that_resolved_to_null() -> None:
    scope = Scope(CONTEXTS)
    assert scope.evaluate("needs.plan.outputs.has-publishs") is None
    assert scope.misses == ["needs.plan.outputs.has-publishs"]


def test_interpolation_and_typed_values() -> None:
    scope = Scope(CONTEXTS)
    assert (
        interpolate("Hello ${{ env.NAME }}, ${{ 1 == 1 }} ${{ null }}!", scope)
        == "Hello World, true !"
    )
    assert interpolate("${{ '}}' }}", scope) == "}}"
    assert evaluate_value("${{ fromJSON(needs.plan.outputs.matrix) }}", scope) == {"a": [1, 2]}
    assert evaluate_value({"k": ["x-${{ matrix.python }}"]}, scope) == {"k": ["x-3.11"]}
    with pytest.raises(RehearsalError, match="object or array used as a string"):
        interpolate("labels: ${{ github.event.pull_request.labels }}", scope)
    with pytest.raises(RehearsalError, match="unclosed"):
        interpolate("${{ env.NAME", scope)


@pytest.mark.parametrize(
    ("raw", "status", "expected"),
    [
        (None, Status(), True),
        (None, Status(success=False, failure=True), False),
        ("needs.plan.outputs.has-publishes == 'true'", Status(), True),
        ("needs.plan.outputs.has-publishes == 'true'", Status(success=False, failure=True), False),
        ("${{ always() }}", Status(success=False, failure=True), True),
        ("failure()", Status(success=False, failure=True), True),
        ("failure()", Status(), False),
        ("!cancelled() && needs.build.result != 'failure'", Status(), False),
        ("!cancelled()", Status(success=False, failure=True), True),
        ("cancelled()", Status(cancelled=True), True),
        (True, Status(), True),
        (False, Status(), False),
    ],
)
def test_conditions_add_success_unless_a_status_function_is_used(
    raw: Any, status: Status, expected: bool
) -> None:
    assert condition(raw, Scope(CONTEXTS, status=status)) is expected


def test_a_condition_mixing_text_and_an_expression_is_refused() -> None:
    with pytest.raises(RehearsalError, match="always true"):
        condition("${{ false }} && true", Scope(CONTEXTS, status=Status()))


def test_a_skipped_success_guard_does_not_evaluate_the_rest() -> None:
    scope = Scope(CONTEXTS, status=Status(success=False, failure=True))
    assert condition("fromJSON('') == 1", scope) is False


# --- triggers, matrix, graph -------------------------------------------------------------


def test_filter_patterns() -> None:
    assert matches(["packages/*/pyproject.toml"], "packages/dataenginex/pyproject.toml")
    assert not matches(["packages/*/pyproject.toml"], "packages/a/b/pyproject.toml")
    assert matches(["packages/dataenginex/**"], "packages/dataenginex/src/x.py")
    assert not matches(["main", "!main"], "main")
    assert matches(["release/**", "!release/old", "release/old"], "release/old")
    assert matches(["v[0-9]+.*"], "v10.2")


def test_push_filters_branches_tags_and_paths() -> None:
    on = {"push": {"branches": ["main"], "paths": ["pyproject.toml"]}}
    push = {"ref": "refs/heads/main"}
    assert decide(on, "push", push, lambda: ["pyproject.toml"])[0]
    assert not decide(on, "push", push, lambda: ["README.md"])[0]
    assert not decide(on, "push", {"ref": "refs/heads/dev"}, lambda: ["pyproject.toml"])[0]
    assert not decide(on, "push", {"ref": "refs/tags/v1"}, list)[0]  # branches only
    assert decide({"push": None}, "push", {"ref": "refs/tags/v1"}, list)[0]
    assert decide({"push": {"tags": ["v*"]}}, "push", {"ref": "refs/tags/v1"}, list)[0]
    assert not decide("push", "pull_request", {}, list)[0]
    with pytest.raises(RehearsalError, match="filters the harness does not know"):
        decide({"push": {"branch": ["main"]}}, "push", push, list)


def test_pull_request_and_workflow_run_filters() -> None:
    on = {
        "pull_request": {"branches": ["main"]},
        "workflow_run": {"workflows": ["CI"], "types": ["completed"], "branches": ["dev"]},
    }
    pull = {"action": "labeled", "pull_request": {"base": {"ref": "main"}}}
    assert not decide(on, "pull_request", pull, list)[0]  # default types leave labeled out
    assert decide(on, "pull_request", {**pull, "action": "synchronize"}, list)[0]
    run = {"action": "completed", "workflow_run": {"name": "CI", "head_branch": "dev"}}
    assert decide(on, "workflow_run", run, list)[0]
    assert not decide(
        on,
        "workflow_run",
        {**run, "workflow_run": {"name": "Lint", "head_branch": "dev"}},
        list,
    )[0]
    assert not decide(on, "workflow_run", {**run, "action": "requested"}, list)[0]


def test_matrix_expansion_with_include_and_exclude() -> None:
    legs = expand_matrix(
        {
            "os": ["a", "b"],
            "py": ["1", "2"],
            "exclude": [{"os": "b", "py": "1"}],
            "include": [{"os": "a", "extra": "x"}, {"os": "c", "py": "9"}],
        }
    )
    assert legs == [
        {"os": "a", "py": "1", "extra": "x"},
        {"os": "a", "py": "2", "extra": "x"},
        {"os": "b", "py": "2"},
        {"os": "c", "py": "9"},
    ]
    assert expand_matrix({"include": [{"component": "dex", "tag": "dex-v1"}]}) == [
        {"component": "dex", "tag": "dex-v1"}
    ]
    with pytest.raises(EvaluationError):
        expand_matrix({"include": []})
    with pytest.raises(EvaluationError):
        expand_matrix({"os": []})


def test_job_order_follows_needs_and_refuses_cycles() -> None:
    jobs = {"d": {"needs": ["b", "c"]}, "b": {"needs": "a"}, "c": {}, "a": {}}
    assert job_order(jobs) == ["c", "a", "b", "d"]
    with pytest.raises(RehearsalError, match="cycle"):
        job_order({"a": {"needs": "b"}, "b": {"needs": "a"}})
    with pytest.raises(RehearsalError, match="not a job"):
        job_order({"a": {"needs": "x"}})


def test_file_commands_with_heredocs() -> None:
    text = "a=1\nb=x=y\n\nnotes<<EOF\nline 1\nline=2\nEOF\nc<<ghadelimiter_1\n\nghadelimiter_1\n"
    assert parse_file_command(text, "GITHUB_OUTPUT") == {
        "a": "1", "b": "x=y", "notes": "line 1\nline=2", "c": ""
    }  # fmt: skip
    with pytest.raises(RehearsalError, match="delimiter"):
        parse_file_command("x<<EOF\nnever closed\n", "GITHUB_OUTPUT")
    with pytest.raises(RehearsalError, match="invalid format"):
        parse_file_command("just words\n", "GITHUB_ENV")


# --- whole workflows on a local origin ---------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = init_repo(tmp_path / "work", tmp_path / "origin.git")
    repo.write("README.md", "hello\n")
    repo.write("pyproject.toml", "[project]\nname = 'x'\n")
    repo.commit("first")
    repo.push("main")
    repo.git("branch", "dev")
    repo.push("dev")
    return repo


def workflow(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wf" / "w.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def push_main(repo: GitRepo) -> dict[str, Any]:
    return payloads.push(repo.origin, "refs/heads/main")


def test_outputs_flow_through_needs_and_a_wrong_name_skips_the_dependent(
    tmp_path: Path, repo: GitRepo
) -> None:
    path = workflow(
        tmp_path,
        """
        name: Plan
        on: push
        jobs:
          plan:
            runs-on: ubuntu-latest
            outputs:
              has-publishes: ${{ steps.plan.outputs.has-publishes }}
              typo: ${{ steps.plan.outputs.has-publishs }}
              notes: ${{ steps.plan.outputs.notes }}
            steps:
              - id: plan
                run: |
                  echo "has-publishes=true" >> "$GITHUB_OUTPUT"
                  { echo "notes<<EOF"; echo "a"; echo "b"; echo "EOF"; } >> "$GITHUB_OUTPUT"
          publish:
            needs: plan
            if: needs.plan.outputs.has-publishes == 'true'
            runs-on: ubuntu-latest
            steps:
              - run: test "$NOTES" = "$(printf 'a\\nb')"
                env:
                  NOTES: ${{ needs.plan.outputs.notes }}
          typo:
            needs: plan
            if: needs.plan.outputs.typo == 'true'
            runs-on: ubuntu-latest
            steps:
              - run: "true"
          notify:
            needs: [plan, publish, typo]
            if: always()
            runs-on: ubuntu-latest
            steps:
              - run: echo "${{ contains(needs.*.result, 'skipped') && 'partial' || 'all' }}" > out
              - run: cat out >> "$GITHUB_STEP_SUMMARY"
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    result.assert_success()
    assert result.results == {
        "plan": "success",
        "publish": "success",
        "typo": "skipped",
        "notify": "success",
    }
    assert result.job("plan").outputs == {"has-publishes": "true", "typo": "", "notes": "a\nb"}
    assert "steps.plan.outputs.has-publishs" in result.misses
    assert result.job("notify").only.summary == "partial\n"


def test_a_failed_job_skips_dependents_and_the_report_names_the_step(
    tmp_path: Path, repo: GitRepo
) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - name: compile
                run: |
                  echo "compiling the thing"
                  exit 3
              - name: never
                run: echo no
              - name: cleanup
                if: failure()
                run: echo "cleaning up"
          test:
            needs: build
            runs-on: ubuntu-latest
            steps: [{run: "true"}]
          report:
            needs: test
            if: failure()
            runs-on: ubuntu-latest
            steps: [{run: "true"}]
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    assert result.results == {"build": "failure", "test": "skipped", "report": "success"}
    steps = {step.name: step.outcome for step in result.job("build").only.steps}
    assert steps == {"compile": "failure", "never": "skipped", "cleanup": "success"}
    with pytest.raises(
        AssertionError, match=r"(?s)failed at step 'compile'.*compiling the thing.*exit code 3"
    ):
        result.assert_success()


def test_continue_on_error_outcome_and_conclusion(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: flaky
                continue-on-error: true
                run: exit 1
              - run: >-
                  test "${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}"
                  = failure/success
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    result.assert_success()


def test_shells_pipefail_env_levels_working_directory_and_path(
    tmp_path: Path, repo: GitRepo
) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        env: {LEVEL: workflow, WF: w}
        defaults:
          run: {working-directory: sub}
        jobs:
          j:
            runs-on: ubuntu-latest
            env: {LEVEL: job}
            steps:
              - run: mkdir -p sub/deeper
                working-directory: .
              - run: |
                  false | true
                  echo "default shell has no pipefail"
              - id: strict
                shell: bash
                continue-on-error: true
                run: false | true
              - run: test "${{ steps.strict.outcome }}" = failure
              - run: |
                  test "$LEVEL/$WF/$STEP" = "step/w/s"
                  test "${{ env.LEVEL }}" = step
                  test "$(basename "$PWD")" = deeper
                working-directory: sub/deeper
                env: {LEVEL: step, STEP: s}
              - run: |
                  echo "FROM_ENV=yes" >> "$GITHUB_ENV"
                  mkdir -p "$RUNNER_TEMP/bin"
                  printf '#!/bin/sh\\necho hi-from-path\\n' > "$RUNNER_TEMP/bin/hello"
                  chmod +x "$RUNNER_TEMP/bin/hello"
                  echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
              - run: |
                  test "$FROM_ENV" = yes && test "${{ env.FROM_ENV }}" = yes
                  test "$(hello)" = hi-from-path
                  test "$(basename "$PWD")" = sub
              - shell: python
                run: |
                  import os
                  assert os.environ["CI"] == "true" and os.environ["GITHUB_ACTIONS"] == "true"
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    result.assert_success()


def test_default_variables_and_event_file_per_event(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        name: Probe
        on:
          push:
          workflow_run: {workflows: [Probe]}
          workflow_dispatch:
          release:
          pull_request:
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: vars
                run: |
                  for name in GITHUB_SHA GITHUB_REF GITHUB_REF_NAME GITHUB_REF_TYPE \\
                      GITHUB_EVENT_NAME GITHUB_HEAD_REF; do
                    echo "${name}=${!name}" >> "$GITHUB_OUTPUT"
                  done
                  echo "workspace=$GITHUB_WORKSPACE" >> "$GITHUB_OUTPUT"
                  echo "pwd=$PWD" >> "$GITHUB_OUTPUT"
                  echo "keys=$(python3 -c 'import json,os,sys
                  print(",".join(json.load(open(os.environ["GITHUB_EVENT_PATH"]))))')" \\
                    >> "$GITHUB_OUTPUT"
    """,
    )
    main = repo.head()
    repo.git("checkout", "-q", "dev")
    repo.write("dev.txt", "dev\n")
    dev = repo.commit("dev work")
    repo.push("dev")
    repo.git("tag", "v1", main)
    repo.push("v1")

    def outputs(event: str, payload: dict[str, Any]) -> dict[str, str]:
        result = rehearse(path, event, payload, origin=repo.origin)
        result.assert_success()
        return result.job("j").step("vars").outputs

    pushed = outputs("push", payloads.push(repo.origin, "refs/heads/dev"))
    assert (pushed["GITHUB_SHA"], pushed["GITHUB_REF_NAME"], pushed["GITHUB_REF_TYPE"]) == (
        dev,
        "dev",
        "branch",
    )
    assert pushed["workspace"] == pushed["pwd"]
    ci = rehearse(path, "push", payloads.push(repo.origin, "refs/heads/dev"), origin=repo.origin)
    run = outputs("workflow_run", payloads.workflow_run(ci))
    # A workflow_run job runs on the default branch's tip, not on the commit CI tested.
    assert (run["GITHUB_SHA"], run["GITHUB_REF"]) == (main, "refs/heads/main")
    assert "workflow_run" in run["keys"].split(",")
    tagged = outputs("release", payloads.release("v1"))
    assert (tagged["GITHUB_SHA"], tagged["GITHUB_REF"], tagged["GITHUB_REF_TYPE"]) == (
        main,
        "refs/tags/v1",
        "tag",
    )
    dispatched = outputs("workflow_dispatch", payloads.dispatch("refs/heads/dev"))
    assert dispatched["GITHUB_SHA"] == dev
    pull = outputs(
        "pull_request", payloads.pull_request(repo.origin, number=7, head="dev", base="main")
    )
    merge = repo.origin_git("rev-parse", "refs/pull/7/merge")
    assert (pull["GITHUB_SHA"], pull["GITHUB_REF"], pull["GITHUB_HEAD_REF"]) == (
        merge,
        "refs/pull/7/merge",
        "dev",
    )
    assert repo.origin_git("rev-parse", "refs/pull/7/merge^2") == dev


def test_dispatch_inputs_are_typed_and_required(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on:
          workflow_dispatch:
            inputs:
              tag: {required: true, type: string}
              dry: {type: boolean, default: true}
              env: {type: choice, options: [dev, prod], default: dev}
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - if: inputs.dry && github.event.inputs.dry == 'true' && inputs.env == 'prod'
                run: test "${{ inputs.tag }}" = v1
    """,
    )
    result = rehearse(
        path, "workflow_dispatch", payloads.dispatch(tag="v1", env="prod"), origin=repo.origin
    )
    result.assert_success()
    assert result.job("j").only.steps[0].outcome == "success"
    with pytest.raises(RehearsalError, match="required input 'tag'"):
        rehearse(path, "workflow_dispatch", payloads.dispatch(), origin=repo.origin)
    with pytest.raises(RehearsalError, match="is not in"):
        rehearse(
            path, "workflow_dispatch", payloads.dispatch(tag="v1", env="qa"), origin=repo.origin
        )


def test_matrix_from_a_needed_output_with_environment_and_permissions(
    tmp_path: Path, repo: GitRepo
) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        permissions: {}
        jobs:
          plan:
            runs-on: ubuntu-latest
            permissions: {contents: read}
            outputs:
              matrix: ${{ steps.p.outputs.matrix }}
            steps:
              - id: p
                run: >-
                  echo 'matrix={"include":[{"c":"a","t":"a-v1"},{"c":"b","t":"b-v2"}]}'
                  >> "$GITHUB_OUTPUT"
          release:
            name: release ${{ matrix.c }}
            needs: plan
            runs-on: ubuntu-latest
            environment:
              name: pypi
              url: https://pypi.example/${{ matrix.c }}
            permissions: {id-token: write}
            strategy:
              matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
            steps:
              - run: test "$SECRET" = env-secret && echo "${{ matrix.t }}" >> "$GITHUB_STEP_SUMMARY"
                env:
                  SECRET: ${{ secrets.PYPI_SECRET }}
          broken:
            needs: plan
            runs-on: ubuntu-latest
            strategy:
              matrix: ${{ fromJSON(needs.plan.outputs.nope) }}
            steps: [{run: "true"}]
    """,
    )
    result = rehearse(
        path, "push", push_main(repo), origin=repo.origin,
        environments={"pypi": {"secrets": {"PYPI_SECRET": "env-secret"}}},
    )  # fmt: skip
    release = result.job("release")
    assert release.result == "success"
    assert [run.name for run in release.runs] == ["release a", "release b"]
    assert [run.summary for run in release.runs] == ["a-v1\n", "b-v2\n"]
    assert release.environments == ["pypi", "pypi"]
    assert release.runs[1].environment_url == "https://pypi.example/b"
    assert release.permissions == {"id-token": "write"}
    assert result.job("plan").permissions == {"contents": "read"}
    assert result.job("broken").result == "failure"
    assert "fromJSON" in (result.job("broken").runs[0].error or "")


def test_fail_fast_cancels_the_remaining_legs(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          t:
            runs-on: ubuntu-latest
            strategy:
              matrix: {n: [1, 2, 3]}
            steps:
              - run: test "${{ matrix.n }}" != 2
          loose:
            runs-on: ubuntu-latest
            strategy:
              fail-fast: false
              matrix: {n: [1, 2, 3]}
            steps:
              - run: test "${{ matrix.n }}" != 2
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    assert [run.result for run in result.job("t").runs] == ["success", "failure", "cancelled"]
    assert [run.result for run in result.job("loose").runs] == ["success", "failure", "success"]
    assert [run.name for run in result.job("t").runs] == ["t (1)", "t (2)", "t (3)"]


def test_timeout_minutes_kills_the_step(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          slow:
            runs-on: ubuntu-latest
            timeout-minutes: 0.02
            steps:
              - run: sleep 30
              - if: always()
                run: echo after
          step-limit:
            runs-on: ubuntu-latest
            steps:
              - timeout-minutes: 0.01
                continue-on-error: true
                run: sleep 30
              - run: echo "still running"
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    slow = result.job("slow").only
    assert slow.result == "failure"
    assert "maximum execution time" in (slow.error or "")
    assert [step.outcome for step in slow.steps] == ["failure", "skipped"]
    assert result.job("step-limit").result == "success"
    assert "exceeded its timeout" in result.job("step-limit").only.steps[0].log


def test_secrets_are_masked_and_not_allowed_in_step_conditions(
    tmp_path: Path, repo: GitRepo
) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            outputs:
              leak: ${{ steps.s.outputs.token }}
            steps:
              - id: s
                run: |
                  echo "token is $TOKEN"
                  echo "token=$TOKEN" >> "$GITHUB_OUTPUT"
                env: {TOKEN: "${{ secrets.DEPLOY_TOKEN }}"}
    """,
    )
    result = rehearse(
        path, "push", push_main(repo), origin=repo.origin, secrets={"DEPLOY_TOKEN": "s3cr3t-value"}
    )
    assert result.job("j").step("s").log == "token is ***\n"
    assert result.job("j").outputs == {}  # GitHub drops outputs that carry a secret
    bad = workflow(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - if: secrets.DEPLOY_TOKEN != ''
                run: "true"
    """,
    )
    with pytest.raises(RehearsalError, match="Unrecognized named-value: 'secrets'"):
        rehearse(bad, "push", push_main(repo), origin=repo.origin)


def test_unknown_actions_inputs_and_keys_fail_the_rehearsal(tmp_path: Path, repo: GitRepo) -> None:
    cases = {
        "- uses: someone/unknown-action@v1": "has no stand-in",
        "- uses: actions/checkout@v5\n  with: {fetch_depth: 0}": "unexpected input 'fetch_depth'",
        "- run: 'true'\n  shell: pwsh": "pwsh",
        "- run: 'true'\n  retries: 3": "keys the harness does not know",
        "- run: echo ${{ github.event }}": "object or array",
    }
    for step, message in cases.items():
        head = "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        path = workflow(tmp_path, head + textwrap.indent(step, "      ") + "\n")
        with pytest.raises(RehearsalError, match=message):
            rehearse(path, "push", push_main(repo), origin=repo.origin)


OVERRIDDEN = """
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: echo "the whole suite ${{ matrix.n }}" && exit 7
      - run: echo "after ${{ matrix.n }}"
  skipped:
    if: false
    runs-on: ubuntu-latest
    steps: [{run: "echo never"}]
"""


def test_an_override_replaces_exactly_the_named_command_and_is_recorded(
    tmp_path: Path, repo: GitRepo
) -> None:
    path = workflow(tmp_path, OVERRIDDEN)
    leg_one = StepOverride(
        "slow", 'echo "the whole suite 1" && exit 7', "echo narrowed", "the suite is too slow"
    )
    # An override for a job its if: skipped is not stale.
    never = StepOverride("skipped", "echo never", "true", "the job does not run")
    result = rehearse(path, "push", push_main(repo), origin=repo.origin, overrides=[leg_one, never])
    # Leg 1 ran the replacement; leg 2's command (another matrix value) is not the one named.
    legs = result.job("slow").runs
    assert [leg.result for leg in legs] == ["success", "failure"]
    assert legs[0].steps[0].override == leg_one
    assert legs[0].steps[0].log == "narrowed\n"
    assert legs[0].steps[1].override is None
    assert legs[1].steps[0].override is None
    assert "the whole suite 2" in legs[1].steps[0].log
    assert result.overridden == [("slow (1)", 'echo "the whole suite 1" && exit 7')]


def test_a_stale_or_misnamed_override_fails_the_rehearsal(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(tmp_path, OVERRIDDEN.replace(" && exit 7", ""))
    stale = StepOverride("slow", "echo the old command", "true", "it was slow")
    with pytest.raises(RehearsalError, match="matched no run: step 'echo the old command'"):
        rehearse(path, "push", push_main(repo), origin=repo.origin, overrides=[stale])
    misnamed = StepOverride("slwo", 'echo "the whole suite 1"', "true", "slow")
    with pytest.raises(RehearsalError, match="'slwo': no such job"):
        rehearse(path, "push", push_main(repo), origin=repo.origin, overrides=[misnamed])
    with pytest.raises(RehearsalError, match="an override needs"):
        StepOverride("slow", "echo x", "true", "")


def test_not_triggered_runs_nothing(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on:
          push:
            branches: [main]
            paths: [src/**]
        jobs:
          j: {runs-on: ubuntu-latest, steps: [{run: exit 1}]}
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    assert not result.triggered
    assert result.jobs == {}
    assert "paths" in result.reason


# --- stand-ins ---------------------------------------------------------------------------


def test_checkout_depth_ref_and_tags(tmp_path: Path, repo: GitRepo) -> None:
    first = repo.head()
    repo.git("tag", "v0", first)
    repo.write("b.txt", "b\n")
    second = repo.commit("second")
    repo.push("main", "v0")
    path = workflow(
        tmp_path,
        """
        on: [push, workflow_run]
        jobs:
          shallow:
            runs-on: ubuntu-latest
            steps:
              - id: co
                uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5
                with: {persist-credentials: false}
              - run: |
                  test "$(git rev-list --count HEAD)" = 1
                  test -z "$(git tag)"
                  test "$(git rev-parse HEAD)" = "$GITHUB_SHA"
                  test "$(git branch --show-current)" = main
          full:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v5
                with:
                  fetch-depth: 0
                  ref: "${{ github.event.workflow_run.head_sha || github.sha }}"
              - run: |
                  test "$(git rev-list --count HEAD)" = 2
                  test "$(git tag)" = v0
          by-branch:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v5
                with: {ref: dev, path: sub}
              - run: test "$(git -C sub branch --show-current)" = dev
          by-tag:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v5
                with: {ref: v0}
              - run: test "$(git rev-parse HEAD)" = "$(git rev-parse refs/tags/v0)"
          missing:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v5
                with: {ref: nope}
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    assert result.results == {
        "shallow": "success", "full": "success", "by-branch": "success", "by-tag": "success",
        "missing": "failure",
    }, result.report()  # fmt: skip
    assert result.job("shallow").step("co").outputs["commit"] == second
    assert "could not be found" in result.job("missing").only.steps[0].log


def test_artifacts_upload_download_across_runs(
    tmp_path: Path, repo: GitRepo, rehearsal: Rehearsal
) -> None:
    rehearsal.origin = repo.origin
    path = workflow(
        tmp_path,
        """
        on: [push, workflow_dispatch]
        jobs:
          up:
            if: github.event_name == 'push'
            runs-on: ubuntu-latest
            steps:
              - run: |
                  mkdir -p out/dist && echo wheel > out/dist/a.whl && echo hidden > out/dist/.h
                  echo plan > plan.json
              - uses: actions/upload-artifact@v4
                with: {name: dist, path: out/dist/, if-no-files-found: error}
              - uses: actions/upload-artifact@v4
                with: {name: plan, path: plan.json, retention-days: 7}
              - id: again
                continue-on-error: true
                uses: actions/upload-artifact@v4
                with: {name: plan, path: plan.json}
              - id: none
                continue-on-error: true
                uses: actions/upload-artifact@v4
                with: {name: empty, path: nothing/, if-no-files-found: error}
          down:
            needs: up
            runs-on: ubuntu-latest
            steps:
              - uses: actions/download-artifact@v4
                with: {name: dist, path: dist/}
              - uses: actions/download-artifact@v4
                with: {name: plan}
              - run: test "$(cat dist/a.whl)" = wheel && test ! -e dist/.h && test -f plan.json
          later:
            if: github.event_name == 'workflow_dispatch'
            runs-on: ubuntu-latest
            steps:
              - uses: actions/download-artifact@v4
                with:
                  name: dist
                  run-id: "${{ vars.FIRST_RUN }}"
                  github-token: "${{ secrets.GITHUB_TOKEN }}"
              - run: test -f a.whl
              - uses: actions/download-artifact@v4
                with: {name: dist}
    """,
    )
    first = rehearsal.run(path, "push", push_main(repo))
    assert first.results == {"up": "success", "down": "success", "later": "skipped"}, first.report()
    assert first.job("up").step("again").outcome == "failure"
    assert first.job("up").step("none").outcome == "failure"
    rehearsal.vars["FIRST_RUN"] = str(first.run_id)
    second = rehearsal.run(path, "workflow_dispatch", payloads.dispatch())
    later = second.job("later").only
    assert [step.outcome for step in later.steps] == ["success", "success", "failure"]
    assert "Artifact not found for name: dist" in later.steps[2].log


def test_setup_uv_and_pypi_publish_need_their_contracts(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          uv:
            runs-on: ubuntu-latest
            steps:
              - uses: astral-sh/setup-uv@v5
                with: {enable-cache: true, cache-dependency-glob: uv.lock}
              - run: uv --version
          publish:
            runs-on: ubuntu-latest
            permissions: {contents: read}
            steps:
              - run: mkdir dist && echo x > dist/x-1.0.tar.gz
              - uses: pypa/gh-action-pypi-publish@release/v1
                with: {repository-url: "https://test.pypi.org/legacy/"}
    """,
    )
    from tests.rehearsal.model import IndexTarget, Services

    services = Services(
        indexes={"https://test.pypi.org/legacy/": IndexTarget("http://127.0.0.1:9/")}
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin, services=services)
    assert result.job("uv").result == "success", result.report()
    publish = result.job("publish").only.steps[1]
    assert publish.outcome == "failure"
    assert "id-token: write" in publish.log
    with pytest.raises(RehearsalError, match="maps no local index"):
        rehearse(path, "push", push_main(repo), origin=repo.origin)


def test_hash_files_in_a_step_condition(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: echo "{}" > report.sarif
              - id: present
                if: always() && hashFiles('report.sarif') != ''
                run: echo "hash=${{ hashFiles('*.sarif') }}" >> "$GITHUB_OUTPUT"
              - id: absent
                if: hashFiles('missing.sarif') != ''
                run: "true"
    """,
    )
    result = rehearse(path, "push", push_main(repo), origin=repo.origin)
    steps = result.job("j").only
    assert len(steps.step("present").outputs["hash"]) == 64
    assert steps.step("absent").outcome == "skipped"


def test_event_payload_written_for_the_run(tmp_path: Path, repo: GitRepo) -> None:
    path = workflow(
        tmp_path,
        """
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: |
                  cp "$GITHUB_EVENT_PATH" event.json
                  echo "ws=$GITHUB_WORKSPACE" >> "$GITHUB_OUTPUT"
                id: s
    """,
    )
    payload = push_main(repo)
    result = rehearse(path, "push", payload, origin=repo.origin)
    workspace = Path(result.job("j").step("s").outputs["ws"])
    assert json.loads((workspace / "event.json").read_text())["after"] == payload["after"]

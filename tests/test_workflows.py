"""The workflow contract: YAML that only calls nox and invoke, pinned, least-privileged."""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from dexops.adapters.slack import EVENTS, STATUSES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "dex-monorepo"
OWN = ROOT / ".github" / "workflows"
EXAMPLE_WORKFLOWS = EXAMPLE / ".github" / "workflows"
SINGLE = ROOT / "examples" / "single-library"
SINGLE_WORKFLOWS = SINGLE / ".github" / "workflows"
WORKFLOWS = sorted(
    [*OWN.glob("*.yml"), *EXAMPLE_WORKFLOWS.glob("*.yml"), *SINGLE_WORKFLOWS.glob("*.yml")]
)

# The only `run:` steps that are not one nox or invoke call, each with its reason:
# GitHub's runner image lacks the Debian tools dexops' integration tests drive for real.
ALLOWED_COMMANDS = {
    "sudo apt-get update",
    "sudo apt-get install --yes --no-install-recommends docker-registry buildah skopeo",
}
# The task catalogue the workflows may call (`<component>` stands for any configured one).
TASKS = {
    "version.changed",
    "release.<component>",
    "release.all",
    "package.validate",
    "publish.<component>",
    "image.tags",
    "image.build",
    "image.scan",
    "deploy.update",
    "promote",
    "rollback",
    "argocd.wait",
    "report",
    "notify",
    "pipeline.plan",
}
# Tasks that push to the repository (and so need `contents: write` and kept credentials).
PUSHING_TASKS = {"release.<component>", "release.all", "deploy.update", "promote", "rollback"}
# Tasks that change what runs in an environment: their jobs need a concurrency group.
DEPLOYING_TASKS = {"deploy.update", "promote", "rollback", "argocd.wait"}
SHELL_OPERATORS = re.compile(r"[;&|<>`\n]|\$\(")
# `${{ … }}` is replaced by the runner before the shell runs; the shell never sees its operators.
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
# Event data and dispatch inputs reach `run:` only through `env:`, never spliced into the script.
UNTRUSTED = re.compile(r"\b(github\.|inputs\.)")
PINNED = re.compile(
    r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)"
    r"(?:\s+#\s*(?P<version>v\d+(?:\.\d+)*))?\s*$"
)


@dataclass(frozen=True)
class Call:
    """One `run:` step: its tool (nox or invoke), arguments, and where it is."""

    workflow: str
    job: str
    tool: str
    args: tuple[str, ...]

    @property
    def task(self) -> str:
        """The invoke task called, with a component expansion written as `<component>`."""
        name = self.args[0]
        return re.sub(r"^(release|publish)\.(\$\{\w+\}|[a-z0-9_-]+)$", r"\1.<component>", name)


@cache
def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(path)["jobs"]
    return found


def command_of(step: dict[str, Any]) -> str:
    """The step's command on one line, each `${{ … }}` reduced to a `${{}}` placeholder."""
    return EXPRESSION.sub("${{}}", " ".join(step["run"].split()))


def run_steps(path: Path) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, step) for name, job in jobs(path).items() for step in job["steps"] if "run" in step
    ]


def calls(path: Path) -> list[Call]:
    """Every nox/invoke call of a workflow; an allowed command is not a call."""
    found = []
    for job, step in run_steps(path):
        command = command_of(step)
        if command in ALLOWED_COMMANDS:
            continue
        argv = shlex.split(command)
        assert argv[:2] == ["uv", "run"], f"{path.name}:{job}: {command!r} is not `uv run …`"
        tool_at = next(i for i, arg in enumerate(argv[2:], 2) if not arg.startswith("-"))
        found.append(Call(path.name, job, argv[tool_at], tuple(argv[tool_at + 1 :])))
    return found


def example_config() -> dict[str, Any]:
    data = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    config: dict[str, Any] = data["tool"]["dexops"]
    return config


def nox_sessions(noxfile: Path) -> set[str]:
    """Names of the functions a noxfile decorates with `@nox.session`."""
    tree = ast.parse(noxfile.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if ast.unparse(target) == "nox.session":
                    names.add(node.name)
    return names


def own_pythons() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    prefix = "Programming Language :: Python :: 3."
    return [c.rsplit(" :: ", 1)[1] for c in data["project"]["classifiers"] if c.startswith(prefix)]


def ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in paths]


parametrize_workflows = pytest.mark.parametrize("path", WORKFLOWS, ids=ids(WORKFLOWS))


def test_every_expected_workflow_exists() -> None:
    assert {p.name for p in OWN.glob("*.yml")} == {"ci.yml", "release.yml"}
    assert {p.name for p in EXAMPLE_WORKFLOWS.glob("*.yml")} == {
        "ci.yml",
        "security.yml",
        "package-validation.yml",
        "cd.yml",
        "release.yml",
        "pypi-publish.yml",
        "promote.yml",
        "rollback.yml",
    }
    assert {p.name for p in SINGLE_WORKFLOWS.glob("*.yml")} == {"ci.yml", "release.yml"}


@parametrize_workflows
def test_run_steps_are_one_nox_or_invoke_call(path: Path) -> None:
    for job, step in run_steps(path):
        for expression in EXPRESSION.findall(step["run"]):
            assert not UNTRUSTED.search(expression), f"{path.name}:{job}: ${{{{{expression}}}}}"
        command = command_of(step)
        if command in ALLOWED_COMMANDS:
            continue
        assert not SHELL_OPERATORS.search(command), f"{path.name}:{job}: shell in {command!r}"
        argv = shlex.split(command)
        assert argv[:2] == ["uv", "run"], f"{path.name}:{job}: {command!r}"
        tools = [arg for arg in argv[2:] if not arg.startswith("-")]
        assert tools[0] in {"nox", "invoke"}, f"{path.name}:{job}: {command!r}"
    assert calls(path), f"{path.name} calls neither nox nor invoke"


@parametrize_workflows
def test_invoke_calls_name_catalogued_tasks(path: Path) -> None:
    for call in calls(path):
        if call.tool == "invoke":
            assert call.task in TASKS, f"{path.name}:{call.job}: unknown task {call.args[0]!r}"


# Tasks the workflows call that are still being built; every other one must exist.
PENDING_TASKS = {"pipeline.plan"}


@parametrize_workflows
def test_invoke_calls_pass_flags_the_tasks_accept(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexops.tasks import namespace

    repo = next((e for e in (EXAMPLE, SINGLE) if e in path.parents), ROOT)
    monkeypatch.chdir(repo)
    ns = namespace()
    config = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dexops"]
    components = config["components"]
    for call in calls(path):
        if call.tool != "invoke":
            continue
        group = call.args[0].split(".")[0]
        names = [call.args[0]]
        if call.task == "release.<component>" and "$" in call.args[0]:
            names = [f"release.{name}" for name in components]
        elif call.task == "publish.<component>" and "$" in call.args[0]:
            names = [f"{group}.{n}" for n, c in components.items() if c["kind"] == "library"]
        for name in names:
            if name not in ns.task_names:
                assert name in PENDING_TASKS, f"{path.name}:{call.job}: no task {name}"
                continue
            accepted = {f"--{flag}" for arg in ns[name].get_arguments() for flag in arg.names}
            accepted = {flag.replace("_", "-") for flag in accepted}
            for arg in call.args[1:]:
                if arg.startswith("--"):
                    assert arg in accepted, f"{path.name}:{call.job}: {name} has no {arg}"


@parametrize_workflows
def test_notify_calls_use_known_events_and_statuses(path: Path) -> None:
    for call in calls(path):
        if call.tool != "invoke" or call.task != "notify":
            continue
        flags = dict(zip(call.args[1::2], call.args[2::2], strict=False))
        assert flags["--event"] in EVENTS, call
        status = flags["--status"]
        assert status in STATUSES or status.startswith("${{"), call


@parametrize_workflows
def test_actions_are_pinned_to_commit_shas_with_versions(path: Path) -> None:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines, f"{path.name} uses no action"
    for line in lines:
        match = PINNED.match(line)
        assert match, f"{path.name}: cannot read {line.strip()!r}"
        assert re.fullmatch(r"[0-9a-f]{40}", match["ref"]), f"{path.name}: not a SHA: {line}"
        assert match["version"], f"{path.name}: no `# vX.Y.Z` comment: {line.strip()}"
        assert match["action"] != "actions/github-script", f"{path.name}: github-script"


def test_each_action_is_pinned_to_one_sha_everywhere() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOWS:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = PINNED.match(line)
            if match:
                repo = "/".join(match["action"].split("/")[:2])
                pins.setdefault(repo, set()).add((match["ref"], match["version"]))
    assert pins
    for repo, found in pins.items():
        assert len(found) == 1, f"{repo} is pinned to several commits: {sorted(found)}"


@parametrize_workflows
def test_permissions_are_empty_at_the_top_and_declared_per_job(path: Path) -> None:
    assert load(path)["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job in jobs(path).items():
        assert "permissions" in job, f"{path.name}:{name} declares no permissions"
        assert job["permissions"], f"{path.name}:{name}: empty permissions"
        assert "write-all" not in str(job["permissions"])


@parametrize_workflows
def test_write_permissions_only_where_the_job_needs_them(path: Path) -> None:
    for name, job in jobs(path).items():
        perms: dict[str, str] = job["permissions"]
        tasks = {c.task for c in calls(path) if c.job == name and c.tool == "invoke"}
        uses = " ".join(str(step.get("uses", "")) for step in job["steps"])
        needs = {
            "contents": bool(tasks & PUSHING_TASKS),
            "id-token": "pypa/gh-action-pypi-publish" in uses,
            "packages": "image.build" in tasks,
            "security-events": "github/codeql-action" in uses,
            "pull-requests": bool(tasks & {"deploy.update", "promote", "rollback"}),
        }
        for scope, level in perms.items():
            if level == "write":
                assert needs.get(scope), f"{path.name}:{name} has {scope}: write without need"
        for scope, needed in needs.items():
            if needed and scope != "pull-requests":
                assert perms.get(scope) == "write", f"{path.name}:{name} needs {scope}: write"


@parametrize_workflows
def test_checkouts_keep_no_credentials_unless_the_job_pushes(path: Path) -> None:
    for name, job in jobs(path).items():
        pushes = job["permissions"].get("contents") == "write"
        for step in job["steps"]:
            if not str(step.get("uses", "")).startswith("actions/checkout@"):
                continue
            kept = step.get("with", {}).get("persist-credentials")
            if pushes:
                assert kept is True, f"{path.name}:{name} pushes: say persist-credentials: true"
            else:
                assert kept is False, f"{path.name}:{name}: persist-credentials: false missing"


@parametrize_workflows
def test_deploying_jobs_are_serialised(path: Path) -> None:
    workflow_group = load(path).get("concurrency")
    for name, job in jobs(path).items():
        tasks = {c.task for c in calls(path) if c.job == name and c.tool == "invoke"}
        if not tasks & DEPLOYING_TASKS:
            continue
        group = job.get("concurrency") or workflow_group
        assert group, f"{path.name}:{name} deploys without a concurrency group"
        assert group["cancel-in-progress"] is False, f"{path.name}:{name} may be cancelled"


@parametrize_workflows
def test_release_and_publish_jobs_never_use_a_cache(path: Path) -> None:
    for name, job in jobs(path).items():
        perms = job["permissions"]
        if "write" not in perms.values():
            continue
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("astral-sh/setup-uv@"):
                assert step.get("with", {}).get("enable-cache") is False, f"{path.name}:{name}"


def test_own_ci_runs_every_nox_session_and_the_python_matrix() -> None:
    ci = OWN / "ci.yml"
    pythons = jobs(ci)["test"]["strategy"]["matrix"]["python"]
    assert pythons == own_pythons()
    sessions = set()
    for call in calls(ci):
        assert call.tool == "nox"
        assert call.args[0] == "-s"
        sessions.add(call.args[1].split("-$", 1)[0])
    assert sessions == nox_sessions(ROOT / "noxfile.py")
    integration = jobs(ci)["integration"]
    assert integration["env"]["DEXOPS_REQUIRE_INTEGRATION"] == "1"
    installed = [s["run"] for s in integration["steps"] if "run" in s]
    assert any("docker-registry buildah skopeo" in run for run in installed)


def test_own_release_releases_then_publishes_through_trusted_publishing() -> None:
    release = OWN / "release.yml"
    tasks = [" ".join(c.args) for c in calls(release) if c.tool == "invoke"]
    assert "version.changed --json" in tasks
    assert "release.dexops" in tasks
    assert "publish.dexops --build-only --json" in tasks
    wf = jobs(release)
    assert wf["build"]["needs"] == "release"
    assert wf["pypi"]["needs"] == ["build", "testpypi"]
    test_step = wf["testpypi"]["steps"][-1]
    assert test_step["with"]["repository-url"] == "https://test.pypi.org/legacy/"
    assert "repository-url" not in wf["pypi"]["steps"][-1]["with"]


@pytest.mark.parametrize("example", [EXAMPLE, SINGLE], ids=lambda e: e.name)
def test_example_nox_calls_name_existing_sessions(example: Path) -> None:
    sessions = nox_sessions(example / "noxfile.py")
    for path in (example / ".github" / "workflows").glob("*.yml"):
        for call in calls(path):
            if call.tool == "nox":
                assert call.args[:1] == ("-s",)
                assert call.args[1] in sessions, f"{path.name}: no nox session {call.args[1]}"


def test_single_library_releases_on_tag_push_through_trusted_publishing() -> None:
    release = SINGLE_WORKFLOWS / "release.yml"
    assert load(release)["on"] == {"push": {"tags": ["v*"]}}
    tasks = [" ".join(c.args) for c in calls(release) if c.tool == "invoke"]
    assert tasks == ["release.slugkit", "publish.slugkit --tag ${TAG} --build-only --json"]
    wf = jobs(release)
    assert wf["release"]["steps"][0]["with"]["ref"] == "main"  # releases come from a branch
    assert wf["build"]["needs"] == "release"
    assert wf["pypi"]["environment"]["name"] == "pypi"
    assert wf["pypi"]["permissions"] == {"id-token": "write"}
    ci = [c.args for c in calls(SINGLE_WORKFLOWS / "ci.yml")]
    assert ci == [("-s", "lint"), ("-s", "test"), ("-s", "package")]


def test_example_ci_triggers_and_full_test_label() -> None:
    ci = load(EXAMPLE_WORKFLOWS / "ci.yml")
    assert ci["on"]["push"]["branches"] == ["main", "dev"]
    assert ci["on"]["pull_request"]["branches"] == ["main", "dev"]
    assert "workflow_dispatch" in ci["on"]
    integration = ci["jobs"]["integration-test"]
    assert "'full-test'" in integration["if"]
    assert "workflow_dispatch" in integration["if"]
    assert [c.args for c in calls(EXAMPLE_WORKFLOWS / "ci.yml") if c.job == "integration-test"] == [
        ("-s", "integration")
    ]


def test_example_package_validation_watches_the_library() -> None:
    wf = load(EXAMPLE_WORKFLOWS / "package-validation.yml")
    library = next(
        c["path"] for c in example_config()["components"].values() if c["kind"] == "library"
    )
    for event in ("push", "pull_request"):
        assert f"{library}/**" in wf["on"][event]["paths"]


def test_example_cd_follows_ci_on_main_and_dev_and_gates_on_the_scan() -> None:
    cd = EXAMPLE_WORKFLOWS / "cd.yml"
    wf = load(cd)
    assert wf["on"]["workflow_run"] == {
        "workflows": ["CI"],
        "types": ["completed"],
        "branches": ["main", "dev"],
    }
    image_tasks = [" ".join(c.args) for c in calls(cd) if c.job == "image"]
    assert image_tasks[0].startswith("image.tags")
    assert image_tasks[1].startswith("image.build careerdex")
    assert "--push" in image_tasks[1]
    assert re.fullmatch(r"image\.scan \S+ --fail-on CRITICAL --warn-on HIGH", image_tasks[2])
    deploy = [c for c in calls(cd) if c.job == "deploy" and c.task == "deploy.update"]
    assert len(deploy) == 1
    assert {"--branch", "--image-tag", "--push"} <= set(deploy[0].args)
    assert wf["jobs"]["deploy"]["needs"] == "image"
    # A workflow_run job must build the commit CI tested, not the default branch's tip.
    checkout = wf["jobs"]["image"]["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"


def test_example_cd_waits_for_every_argocd_environment_of_its_branch() -> None:
    cd = EXAMPLE_WORKFLOWS / "cd.yml"
    waited: set[tuple[str, str]] = set()
    for name, job in jobs(cd).items():
        if not any(c.task == "argocd.wait" for c in calls(cd) if c.job == name):
            continue
        assert "vars.ARGOCD_SERVER != ''" in job["if"]
        branch = re.search(r"head_branch == '([^']+)'", job["if"])
        assert branch, f"{name} does not say which branch it follows"
        waited |= {(env, branch[1]) for env in job["strategy"]["matrix"]["env"]}
    expected = {
        (name, env["branch"])
        for name, env in example_config()["environments"].items()
        if env.get("argocd-app") and not env.get("promotion-only")
    }
    assert waited == expected


def test_example_release_matrix_comes_from_the_plan() -> None:
    release = EXAMPLE_WORKFLOWS / "release.yml"
    wf = jobs(release)
    plan = [c for c in calls(release) if c.job == "plan"]
    assert [c.args for c in plan] == [("pipeline.plan", "--json", "--output", "plan.json")]
    matrix = wf["release"]["strategy"]["matrix"]
    assert matrix == "${{ fromJSON(needs.plan.outputs.release-matrix) }}"
    (call,) = [c for c in calls(release) if c.job == "release" and c.task.startswith("release.")]
    assert call.task == "release.<component>"
    # The release job checks the repository against the plan before it tags anything.
    assert call.args[-2:] == ("--plan", "plan.json")


def test_example_publish_goes_to_testpypi_before_pypi() -> None:
    publish = EXAMPLE_WORKFLOWS / "pypi-publish.yml"
    wf = load(publish)
    assert set(wf["on"]) == {"workflow_run", "release", "workflow_dispatch"}
    assert wf["on"]["workflow_run"]["workflows"] == ["Release"]
    builds = [" ".join(c.args) for c in calls(publish) if c.job == "build"]
    assert builds == ["publish.${COMPONENT} --tag ${TAG} --build-only --json"]
    test_job, prod_job = wf["jobs"]["testpypi"], wf["jobs"]["pypi"]
    assert test_job["steps"][-1]["with"]["repository-url"] == "https://test.pypi.org/legacy/"
    assert "testpypi" in prod_job["needs"]
    assert prod_job["strategy"]["matrix"] == (
        "${{ fromJSON(needs.plan.outputs.production-index-matrix) }}"
    )
    # Each index gets the files dexops found missing there, handed over by role.
    uploads = [
        s["with"]["path"]
        for s in wf["jobs"]["build"]["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert "${{ steps.build.outputs.test-dist-dir }}" in uploads
    assert "${{ steps.build.outputs.production-dist-dir }}" in uploads


def test_example_security_runs_codeql_and_semgrep() -> None:
    security = EXAMPLE_WORKFLOWS / "security.yml"
    uses = [str(s.get("uses", "")) for s in jobs(security)["codeql"]["steps"]]
    assert any(u.startswith("github/codeql-action/analyze@") for u in uses)
    assert [c.args for c in calls(security)] == [("-s", "semgrep")]


def test_the_contract_checks_catch_a_violation(tmp_path: Path) -> None:
    """The checks above fail on a workflow that breaks the contract (they can fail)."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\non: push\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v5\n"
        "      - run: uv run invoke release.all && git push\n",
        encoding="utf-8",
    )
    for check in (
        test_run_steps_are_one_nox_or_invoke_call,
        test_actions_are_pinned_to_commit_shas_with_versions,
        test_permissions_are_empty_at_the_top_and_declared_per_job,
    ):
        with pytest.raises(AssertionError):
            check(bad)


@pytest.mark.parametrize("name", ["promote.yml", "rollback.yml"])
def test_example_promotion_and_rollback_are_dispatched_into_a_github_environment(
    name: str,
) -> None:
    path = EXAMPLE_WORKFLOWS / name
    # ruamel's safe loader reads the key `on` as the boolean True (YAML 1.1).
    doc: dict[Any, Any] = load(path)
    triggers: dict[str, Any] = doc["on"] if "on" in doc else doc[True]
    assert set(triggers) == {"workflow_dispatch"}
    (choice,) = [
        i for i in triggers["workflow_dispatch"]["inputs"].values() if i["type"] == "choice"
    ]
    assert set(choice["options"]) <= set(example_config()["environments"])
    for job in jobs(path).values():
        # The environment of the input's name: its protection rules can require reviewers.
        assert job["environment"]["name"].startswith("${{ inputs.")


def test_example_cd_never_writes_a_promotion_only_environment() -> None:
    envs = example_config()["environments"]
    assert envs["prod"].get("promotion-only") is True
    assert not envs["stage"].get("promotion-only")
    updates = [c for c in calls(EXAMPLE_WORKFLOWS / "cd.yml") if c.task == "deploy.update"]
    # Every environment of the branch but the promotion-only ones: no --env picks prod back.
    assert updates
    assert all("--env" not in c.args for c in updates)


@pytest.mark.parametrize("path", sorted(EXAMPLE_WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_example_steps_run_locked(path: Path) -> None:
    # The adopter's uv.lock is the tested set of versions, dexops included: never re-resolved.
    for job, step in run_steps(path):
        command = command_of(step)
        assert command.startswith("uv run --locked "), f"{path.name}:{job}: {command}"

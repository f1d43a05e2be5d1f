"""dexops uses invoke through its public API only: nothing of invoke's is patched."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dexops.errors import ExitCode
from tests.conftest import Cli
from tests.gitrepo import GitRepo

SRC = Path(__file__).resolve().parents[1] / "src" / "dexops"


def _invoke_names(tree: ast.Module) -> set[str]:
    """The names a module binds to invoke or to something imported from it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name == "invoke"}
            names |= {a.asname for a in node.names if a.name.startswith("invoke.") and a.asname}
            if any(a.name.startswith("invoke.") and not a.asname for a in node.names):
                names.add("invoke")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "invoke":
            names |= {a.asname or a.name for a in node.names}
    return names


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _patches(text: str) -> list[int]:
    """Each line of `text` that assigns to (or deletes) an attribute of an invoke object."""
    tree = ast.parse(text)
    invoke = _invoke_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt | ast.expr):
            continue
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"setattr", "delattr"}
            and node.args
        ):
            targets = [ast.Attribute(value=node.args[0], attr="?", ctx=ast.Store())]
        for target in targets:
            if isinstance(target, ast.Attribute) and _root(target) in invoke:
                found.append(node.lineno)
    return found


def test_nothing_in_src_assigns_to_an_attribute_of_invoke() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 50
    found = {
        str(path.relative_to(SRC)): lines
        for path in modules
        if (lines := _patches(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_scan_sees_a_patch() -> None:
    text = (
        "from invoke.program import Program\n"
        "import invoke.parser\n"
        "Program.parse_tasks = None\n"
        "setattr(Program, '_make_parser', None)\n"
        "invoke.parser.Parser.x = 1\n"
        "def f(program):\n    program.x = 1\n"
    )
    assert sorted(_patches(text)) == [3, 4, 5]


# Every class and function of every invoke module, before and after dexops runs tasks.
SNAPSHOT = """
import sys, types
import invoke

def snapshot():
    seen = {}
    for name, module in list(sys.modules.items()):
        if name != "invoke" and not name.startswith("invoke."):
            continue
        for key, value in list(vars(module).items()):
            seen[(name, key)] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for attr, member in list(vars(value).items()):
                    seen[(name, key, attr)] = id(member)
    return seen

before = snapshot()
from dexops.__main__ import program
from dexops.tasks import namespace
namespace(["version.show"])
for argv in (["version.show"], ["--list"], ["version.show", "--bogus"], ["promot"]):
    program(argv).run(["dexops", *argv], exit=False)
after = snapshot()
changed = sorted(str(k) for k in before if after.get(k) != before[k])
print("changed:", changed)
"""


def test_running_dexops_leaves_invoke_as_it_was(dex_repo: GitRepo) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SNAPSHOT],
        cwd=dex_repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "changed: []"


def test_a_task_the_command_line_does_not_name_is_only_listed(
    dex_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexops.tasks import tasks_for

    monkeypatch.chdir(dex_repo.path)
    # invoke deep-copies a parser context per task on every parse: `--list` needs none.
    listing = tasks_for(["--list"])
    assert len(listing.task_names) > 20
    assert all(listing[name].get_arguments() == [] for name in listing.task_names)
    bump = tasks_for(["version.bump", "dataenginex"])
    assert [a.name for a in bump["version.bump"].get_arguments()][:1] == ["component"]
    assert bump["version.show"].get_arguments() == []
    assert tasks_for(["version.show", "--repo=version.bump"])["version.bump"].get_arguments()
    completing = tasks_for(["--complete", "--", "dexops", "version.show", "--"])
    assert all(completing[name].get_arguments() for name in ("version.show", "version.bump"))


def test_a_tasks_py_may_add_tasks_of_its_own(dex_repo: GitRepo) -> None:
    dex_repo.write(
        "tasks.py",
        "import sys\n"
        "from invoke import task\n"
        "from dexops.tasks import namespace\n\n"
        "@task\n"
        "def hello(c):\n    print('hello')\n\n"
        "ns = namespace(sys.argv[1:])\n"
        "ns.add_task(hello)\n",
    )

    def invoke(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "invoke", *argv],
            cwd=dex_repo.path,
            capture_output=True,
            text=True,
            check=False,
        )

    own = invoke("hello")
    assert (own.returncode, own.stdout, own.stderr) == (0, "hello\n", "")
    mistyped = invoke("rollback", "--env", "dev", "--steps", "abc")
    assert mistyped.returncode == ExitCode.USAGE
    assert mistyped.stderr.splitlines() == [
        "error: bad flag value: invalid literal for int() with base 10: 'abc'"
    ]


def test_a_core_flag_given_a_bad_value_is_one_usage_line(dex_repo: GitRepo, cli: Cli) -> None:
    result = cli("--list-depth", "deep", cwd=dex_repo.path)
    assert result.code == ExitCode.USAGE
    assert result.err == "error: bad flag value: invalid literal for int() with base 10: 'deep'\n"

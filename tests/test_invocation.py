"""Messages name the program the user ran: `dexops …` from its script, `invoke …` from tasks.py."""

from __future__ import annotations

from dexops import invocation
from dexops.__main__ import program
from dexops.tasks import namespace


def test_the_dexops_script_names_itself() -> None:
    program(["status"])
    assert invocation.command("hold.release --env prod") == "dexops hold.release --env prod"


def test_a_tasks_py_under_invoke_names_invoke() -> None:
    program(["status"])
    namespace(["status"])  # what a tasks.py does when invoke loads it
    assert invocation.command("hold.release --env prod") == "invoke hold.release --env prod"

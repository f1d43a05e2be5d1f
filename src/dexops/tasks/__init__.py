"""The dexops invoke namespace, built from the target repository's configuration."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence

from invoke.collection import Collection
from invoke.tasks import Task

from dexops.invocation import set_program
from dexops.tasks import _edge
from dexops.tasks.command_line import check_command_line, named_words, repo_from_argv

# Each top-level name of the namespace: the module under dexops.tasks that holds it, and what
# it provides there (a collection factory or a task).
_SOURCES: dict[str, tuple[str, str]] = {
    "version": ("version", "collection"),
    "deploy": ("deploy", "collection"),
    "promote": ("promote", "promote"),
    "rollback": ("rollback", "rollback"),
    "status": ("status", "status"),
    "history": ("history", "history"),
    "hold": ("hold", "collection"),
    "image": ("image", "collection"),
    "argocd": ("argocd", "collection"),
    "release": ("release", "collection"),
    "package": ("package", "collection"),
    "publish": ("publish", "collection"),
    "pipeline": ("pipeline", "collection"),
    "demo": ("demo", "demo"),
    "notify": ("notify", "notify"),
    "metrics": ("metrics", "metrics"),
    "verify": ("verify", "collection"),
    "doctor": ("doctor", "doctor"),
    "init": ("init", "init"),
    "report": ("report", "report"),
}
# The collections whose tasks come from the configuration: the factory takes the repository
# the command line names (`--repo`), before invoke parses it.
_FROM_CONFIG = frozenset({"release", "publish"})


def named_sources(argv: Sequence[str], offered: Iterable[str] = _SOURCES) -> set[str]:
    """The top-level names a command line's words name (task names and flag values alike)."""
    if "--complete" in argv:
        # Shell completion offers what comes next: any task may.
        return set()
    return {word.split(".")[0] for word in argv if not word.startswith("-")} & set(offered)


def namespace(argv: Sequence[str] | None = None, *, demo: bool = False) -> Collection:
    """The dexops namespace for a tasks.py; per-component tasks come from `[tool.dexops]`.

    Given the command line (`argv`, the words after the program's name), it holds just the
    tasks it names (`tasks_for`), and a usage mistake with them ends here in one `error:`
    line with exit code USAGE: the `invoke` binary imports tasks.py before it parses, and
    would otherwise print its own message (exit code 1) or a traceback. The demo needs a
    dexops checkout's examples/: only its tasks.py offers it (`demo=True`).
    """
    set_program("invoke")
    ns = tasks_for(argv, demo=demo)
    if argv is not None:
        check_command_line(argv, ns, offered=_offered(demo=demo))
    return ns


def tasks_for(argv: Sequence[str] | None = None, *, demo: bool = False) -> Collection:
    """The dexops tasks a command line needs, each as the command line will use it.

    Only the modules of the tasks it names are imported, so a task starts with its own module
    rather than all of them (benchmarks/bench_tasks.py). A command line that names none
    (`--list`, a typo) gets every task, and with it invoke's own listing or "no idea what …
    is"; a task it does not name is only listed, without the flags invoke would parse.
    """
    offered = _offered(demo=demo)
    named = named_sources(argv, offered) if argv is not None else set()
    repo = repo_from_argv(argv) if argv is not None else None
    ns = Collection()
    for module_name, member_name in dict.fromkeys(_SOURCES[n] for n in (named or offered)):
        member = getattr(importlib.import_module(f"dexops.tasks.{module_name}"), member_name)
        if isinstance(member, Task):
            ns.add_task(member)
        else:
            ns.add_collection(member(repo) if module_name in _FROM_CONFIG else member())
    if argv is None:
        return ns
    if {"-h", "--help"} & set(argv):
        # A positional slot would take `--help` for its value: asked for help, none has one.
        _each_task(ns, lambda _, member: member.without_positionals())
    if "--complete" not in argv:
        words = named_words(argv)
        _each_task(ns, lambda names, member: member if words & names else member.only_listed())
    return ns


def _offered(*, demo: bool) -> list[str]:
    return [name for name in _SOURCES if demo or name != "demo"]


def _each_task(
    collection: Collection,
    change: Callable[[set[str], _edge.DexopsTask], _edge.DexopsTask],
    prefix: str = "",
) -> None:
    """Replace each dexops task by `change(its full names, task)`, in every sub-collection."""
    for name, member in collection.tasks.items():
        if isinstance(member, _edge.DexopsTask):
            names = {prefix + n for n in (name, *map(collection.transform, member.aliases))}
            collection.tasks[name] = change(names, member)
    for sub_name, sub in collection.collections.items():
        _each_task(sub, change, f"{prefix}{sub_name}.")

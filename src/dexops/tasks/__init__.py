"""The dexops invoke namespace, built from the target repository's configuration."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType

from invoke.collection import Collection
from invoke.exceptions import ParseError
from invoke.tasks import Task

from dexops.invocation import set_program
from dexops.tasks import _edge
from dexops.tasks.command_line import (
    check_command_line,
    completed_words,
    given_repos,
    named_words,
)

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
# The collections whose tasks come from the configuration: the module of each reads a
# repository's components (`component_names`) and builds the collection from names
# (`named_collection`), first from those a command line gives, to find its `--repo`.
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
    ns = tasks_for(argv, demo=demo, bundled=False)
    if argv is not None:
        check_command_line(argv, ns, offered=_offered(demo=demo))
    return ns


def tasks_for(
    argv: Sequence[str] | None = None, *, demo: bool = False, bundled: bool = True
) -> Collection:
    """The dexops tasks a command line needs, each as the command line will use it.

    Only the modules of the tasks it names are imported, so a task starts with its own module
    rather than all of them (benchmarks/bench_tasks.py). A command line that names none
    (`--list`, a typo) gets every task, and with it invoke's own listing or "no idea what …
    is"; a task it does not name is only listed, without the flags invoke would parse.
    `bundled` is False for the `invoke` binary (a tasks.py), whose core flags are not dexops'.
    """
    offered = _offered(demo=demo)
    named = named_sources(argv, offered) if argv is not None else set()
    ns = Collection()
    from_config: dict[str, ModuleType] = {}
    for module_name, member_name in dict.fromkeys(_SOURCES[n] for n in (named or offered)):
        module = importlib.import_module(f"dexops.tasks.{module_name}")
        member = getattr(module, member_name)
        if module_name in _FROM_CONFIG:
            from_config[module_name] = module
        elif isinstance(member, Task):
            ns.add_task(member)
        else:
            ns.add_collection(member())
    if argv is None:
        for module in from_config.values():
            ns.add_collection(module.collection())
        return ns
    _as_parsed(ns, argv)
    if from_config:
        _add_from_config(ns, from_config, argv, bundled=bundled)
    return ns


def _as_parsed(collection: Collection, argv: Sequence[str], prefix: str = "") -> Collection:
    """`collection`'s tasks as `argv` will parse them (`prefix`: the collection's place in ns)."""
    if {"-h", "--help"} & set(argv):
        # A positional slot would take `--help` for its value: asked for help, none has one.
        _each_task(collection, lambda _, member: member.without_positionals(), prefix)
    if "--complete" not in argv:
        words = named_words(argv)
        _each_task(
            collection,
            lambda names, member: member if words & names else member.only_listed(),
            prefix,
        )
    return collection


def _add_from_config(
    ns: Collection, modules: dict[str, ModuleType], argv: Sequence[str], *, bundled: bool
) -> None:
    """Add the collections of `modules`, read from the repositories `argv` gives their tasks.

    Which repository that is depends on how invoke parses `argv` (`given_repos`), and that on
    the tasks: a first parse gives each collection the tasks `argv` names, as it names them.
    """
    words = named_words(argv)
    typed_by: dict[str, list[str]] = {}
    for name, module in modules.items():
        typed = [w.removeprefix(f"{name}.") for w in words if w.startswith(f"{name}.")]
        typed_by[name] = [t for t in typed if t]
        ns.add_collection(_as_parsed(module.named_collection(typed_by[name]), argv, name + "."))
    completing = "--complete" in argv
    repos: set[str | None] = set()
    # A word naming none of their tasks (`--list`) gives none of them a repository.
    if any(word.startswith(f"{name}.") for word in words for name in modules):
        try:
            repos = given_repos(
                completed_words(argv) if completing else argv,
                ns,
                bundled=bundled,
                read_from=modules,
            )
        except (ParseError, ValueError):
            if not completing:
                # invoke stops at this mistake whatever the repository: with the tasks as
                # typed, it says so (`-r` without a value) rather than that a task is unknown.
                return
            # A line half typed: complete with the working directory's tasks.
    for name, module in modules.items():
        components = dict.fromkeys(
            c for repo in repos or {None} for c in module.component_names(repo)
        )
        if not components:
            # No component read (`-r /no/such/dir`, no [tool.dexops]): the tasks stay as
            # typed, and the one run says why rather than that no such task exists.
            components = dict.fromkeys(typed_by[name])
        ns.collections[name] = _as_parsed(module.named_collection(components), argv, name + ".")


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

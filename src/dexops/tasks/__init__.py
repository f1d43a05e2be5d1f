"""The dexops invoke namespace, built from the target repository's configuration."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence

from invoke.collection import Collection
from invoke.tasks import Task

from dexops.invocation import set_program
from dexops.tasks import _edge

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


def named_sources(argv: Sequence[str], offered: Iterable[str] = _SOURCES) -> set[str]:
    """The top-level names a command line's words name (task names and flag values alike)."""
    if "--complete" in argv:
        # Shell completion offers what comes next: any task may.
        return set()
    return {word.split(".")[0] for word in argv if not word.startswith("-")} & set(offered)


def namespace(argv: Sequence[str] | None = None, *, demo: bool = False) -> Collection:
    """The dexops namespace; per-component tasks come from `[tool.dexops]`.

    Given a command line (`argv`, the words after the program's name), only the modules of
    the tasks it names are imported, so a task starts with its own module rather than all of
    them (benchmarks/bench_tasks.py). A command line that names none (`--list`, a typo)
    gets every task, and with it invoke's own listing or "no idea what … is". The demo
    needs a dexops checkout's examples/: only its tasks.py offers it (`demo=True`).
    """
    # tasks.py runs under invoke; the dexops entry point says otherwise after this.
    set_program("invoke")
    _edge.install_usage_errors()
    offered = [name for name in _SOURCES if demo or name != "demo"]
    named = named_sources(argv, offered) if argv is not None else set()
    ns = Collection()
    for module_name, member_name in dict.fromkeys(_SOURCES[n] for n in (named or offered)):
        member = getattr(importlib.import_module(f"dexops.tasks.{module_name}"), member_name)
        if isinstance(member, Task):
            ns.add_task(member)
        else:
            ns.add_collection(member())
    if argv is not None and {"-h", "--help"} & set(argv):
        # A positional slot would take `--help` for its value: asked for help, none has one.
        _without_positionals(ns)
    return ns


def _without_positionals(collection: Collection) -> None:
    for name, member in collection.tasks.items():
        if isinstance(member, _edge.DexopsTask):
            collection.tasks[name] = member.without_positionals()
    for sub in collection.collections.values():
        _without_positionals(sub)

"""The dexops invoke namespace, built from the target repository's configuration."""

from __future__ import annotations

from invoke.collection import Collection

from dexops.tasks import demo, version


def namespace() -> Collection:
    """Every dexops collection; per-component tasks come from `[tool.dexops]`."""
    ns = Collection()
    ns.add_collection(version.collection())
    ns.add_task(demo.demo)
    return ns

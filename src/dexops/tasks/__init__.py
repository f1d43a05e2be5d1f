"""The dexops invoke namespace, built from the target repository's configuration."""

from __future__ import annotations

from invoke.collection import Collection

from dexops.tasks import argocd as argocd_tasks
from dexops.tasks import demo, version
from dexops.tasks import image as image_tasks
from dexops.tasks import notify as notify_tasks
from dexops.tasks import release as release_tasks


def namespace() -> Collection:
    """Every dexops collection; per-component tasks come from `[tool.dexops]`."""
    ns = Collection()
    ns.add_collection(version.collection())
    ns.add_collection(image_tasks.collection())
    ns.add_collection(argocd_tasks.collection())
    ns.add_collection(release_tasks.collection())
    ns.add_task(demo.demo)
    ns.add_task(notify_tasks.notify)
    return ns

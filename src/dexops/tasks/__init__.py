"""The dexops invoke namespace, built from the target repository's configuration."""

from __future__ import annotations

from invoke.collection import Collection

from dexops.tasks import _edge, demo, gitops, version
from dexops.tasks import argocd as argocd_tasks
from dexops.tasks import deploy as deploy_tasks
from dexops.tasks import image as image_tasks
from dexops.tasks import metrics as metrics_tasks
from dexops.tasks import notify as notify_tasks
from dexops.tasks import package as package_tasks
from dexops.tasks import pipeline as pipeline_tasks
from dexops.tasks import publish as publish_tasks
from dexops.tasks import release as release_tasks
from dexops.tasks import supply_chain as supply_chain_tasks


def namespace() -> Collection:
    """Every dexops collection; per-component tasks come from `[tool.dexops]`."""
    _edge.install_usage_errors()
    ns = Collection()
    ns.add_collection(version.collection())
    ns.add_collection(deploy_tasks.collection())
    gitops.install(ns)
    ns.add_collection(image_tasks.collection())
    ns.add_collection(argocd_tasks.collection())
    ns.add_collection(release_tasks.collection())
    ns.add_collection(package_tasks.collection())
    ns.add_collection(publish_tasks.collection())
    ns.add_collection(pipeline_tasks.collection())
    ns.add_task(demo.demo)
    ns.add_task(notify_tasks.notify)
    ns.add_task(metrics_tasks.metrics)
    ns.add_collection(supply_chain_tasks.collection())
    return ns

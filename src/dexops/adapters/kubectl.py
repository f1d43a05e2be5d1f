"""The Kubernetes CLIs: render overlays (`kubectl kustomize` / `kustomize build`), set images."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from dexops.adapters.tool import failure_line, run_checked, run_tool
from dexops.errors import DexopsError, ToolMissingError

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
_TIMEOUT = 120


class KubeError(DexopsError):
    """kubectl or kustomize failed, or the render does not run the expected image."""


@dataclass(frozen=True)
class Container:
    """A container of a rendered workload."""

    kind: str
    workload: str
    namespace: str | None
    name: str
    image: str


def renderer() -> list[str] | None:
    """The command that renders an overlay directory, or None when neither tool exists."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    kustomize = shutil.which("kustomize")
    if kustomize:
        return [kustomize, "build"]
    return None


def render(overlay_dir: Path, command: Sequence[str]) -> str:
    """The rendered manifests of an overlay; a failure is a `KubeError` with its message."""
    what = f"{' '.join(command[-1:])} of {overlay_dir}"
    proc = run_tool([*command, str(overlay_dir)], what=what, timeout=_TIMEOUT, error=KubeError)
    if proc.returncode != 0:
        # kubectl prefixes a klog header; the message is after `err=`.
        detail = failure_line(proc).split("err=", 1)[-1].strip('"')
        raise KubeError(f"rendering {overlay_dir.name} failed: {detail}")
    return proc.stdout


def _pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec") or {}
    kind = doc.get("kind")
    if kind == "Pod":
        yield spec
    elif kind == "CronJob":
        yield ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get(
            "spec"
        ) or {}
    else:
        yield (spec.get("template") or {}).get("spec") or {}


def containers(manifests: str) -> list[Container]:
    """Every container (init containers too) of the workloads in rendered manifests."""
    found = []
    for doc in YAML(typ="safe", pure=True).load_all(manifests):
        if not isinstance(doc, dict) or doc.get("kind") not in WORKLOAD_KINDS:
            continue
        meta = doc.get("metadata") or {}
        for pod in _pod_specs(doc):
            for item in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                found.append(
                    Container(
                        kind=str(doc["kind"]),
                        workload=str(meta.get("name", "")),
                        namespace=meta.get("namespace"),
                        name=str(item.get("name", "")),
                        image=str(item.get("image", "")),
                    )
                )
    return found


def image_repository(image: str) -> str:
    """An image reference without its tag and digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def check_images(manifests: str, repository: str, expected: str, source: str) -> list[Container]:
    """The containers running `repository`; an error unless some do and all run `expected`."""
    using = [c for c in containers(manifests) if image_repository(c.image) == repository]
    if not using:
        raise KubeError(f"{source}: no workload in the render uses image {repository}")
    wrong = [c for c in using if c.image != expected]
    if wrong:
        shown = (
            f"{wrong[0].kind}/{wrong[0].workload} container {wrong[0].name} runs {wrong[0].image}"
        )
        raise KubeError(f"{source}: render does not use {expected}: {shown}")
    return using


def set_image_command(
    deployment: str, container: str, image: str, namespace: str | None
) -> list[str]:
    """The `kubectl set image` command that points a deployment's container at `image`."""
    command = ["kubectl", "set", "image", f"deployment/{deployment}", f"{container}={image}"]
    if namespace:
        command += ["-n", namespace]
    return command


def rollout_status_command(deployment: str, namespace: str | None, timeout_s: int) -> list[str]:
    """The `kubectl rollout status` command that waits for the new pods."""
    command = [
        "kubectl",
        "rollout",
        "status",
        f"deployment/{deployment}",
        f"--timeout={timeout_s}s",
    ]
    if namespace:
        command += ["-n", namespace]
    return command


def require_kubectl() -> None:
    """Fail before anything changes when kubectl is missing (needed for --emergency)."""
    if shutil.which("kubectl") is None:
        raise ToolMissingError("kubectl is not installed (needed for --emergency)")


def run_kubectl(command: Sequence[str]) -> str:
    """Run a kubectl command against the current context; failures become `KubeError`."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ToolMissingError("kubectl is not installed (needed for --emergency)")
    return run_checked(
        [kubectl, *command[1:]], what=" ".join(command[:3]), timeout=_TIMEOUT, error=KubeError
    )

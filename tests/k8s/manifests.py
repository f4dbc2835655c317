"""Reading rendered manifests: the pods' containers, their environment, the objects by kind.

What the checks in test_manifests.py need from a list of rendered documents, without a cluster:
a container's environment as the kubelet would give it (ConfigMap values looked up, Secret
values replaced by placeholders of the right shape), and the workloads with their pod templates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})

# Secrets are referenced, never rendered: what the settings get in their place. URL-shaped ones
# must parse as the URLs they stand for; every other one is an opaque string.
_SECRET_PLACEHOLDERS = {
    "database-url": "postgresql://sightline:placeholder@postgres:5432/sightline",
    "celery-broker-url": "redis://:placeholder@redis:6379/0",
}
# What the downward API would give a pod (its node's name, its own name).
_FIELD_PLACEHOLDERS = {"spec.nodeName": "jetson-node-1", "metadata.name": "pod-0"}


@dataclass(frozen=True)
class Container:
    """One container (or init container) of a workload's pod template."""

    workload: Manifest
    spec: Mapping[str, Any]

    @property
    def pod(self) -> Mapping[str, Any]:
        """The pod template's spec."""
        spec: Mapping[str, Any] = self.workload["spec"]["template"]["spec"]
        return spec

    @property
    def where(self) -> str:
        """`Kind/name[container]`, for messages."""
        return f"{self.workload['kind']}/{self.workload['metadata']['name']}[{self.spec['name']}]"

    @property
    def image_name(self) -> str:
        """The image without registry folders or tag: `sightline-cloud`."""
        image: str = self.spec["image"]
        return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """The documents of one kind."""
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one document of `kind` called `name`; KeyError names what is missing."""
    for manifest in of_kind(manifests, kind):
        if manifest["metadata"]["name"] == name:
            return manifest
    raise KeyError(f"no {kind}/{name} in the rendered manifests")


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    """Deployments, StatefulSets and DaemonSets."""
    return [m for m in manifests if m["kind"] in WORKLOAD_KINDS]


def containers(manifests: list[Manifest]) -> Iterator[Container]:
    """Every container and init container of every workload."""
    for workload in workloads(manifests):
        pod = workload["spec"]["template"]["spec"]
        for spec in [*pod.get("initContainers", []), *pod["containers"]]:
            yield Container(workload, spec)


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a non-empty equality selector selects `labels`."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def environment(container: Container, manifests: list[Manifest]) -> dict[str, str]:
    """The container's variables as the kubelet sets them, Secrets replaced by placeholders.

    `envFrom` ConfigMaps first, then `env` (which wins, as in Kubernetes). Raises KeyError for a
    ConfigMap or key the rendered manifests lack.
    """
    result: dict[str, str] = {}
    for source in container.spec.get("envFrom", []):
        config_map = named(manifests, "ConfigMap", source["configMapRef"]["name"])
        prefix = source.get("prefix", "")
        result.update({prefix + k: v for k, v in config_map.get("data", {}).items()})
    for variable in container.spec.get("env", []):
        result[variable["name"]] = _value(variable, manifests)
    return result


def _value(variable: Mapping[str, Any], manifests: list[Manifest]) -> str:
    if "value" in variable:
        value: str = variable["value"]
        return value
    source = variable["valueFrom"]
    if "secretKeyRef" in source:
        key: str = source["secretKeyRef"]["key"]
        return _SECRET_PLACEHOLDERS.get(key, f"placeholder-{key}-0123456789abcdef0123456789")
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        data: dict[str, str] = named(manifests, "ConfigMap", ref["name"])["data"]
        return data[ref["key"]]
    if "fieldRef" in source:
        return _FIELD_PLACEHOLDERS[source["fieldRef"]["fieldPath"]]
    raise ValueError(f"{variable['name']}: unhandled valueFrom {sorted(source)}")


def secret_references(manifests: list[Manifest]) -> set[tuple[str, str | None]]:
    """Every (Secret, key) the manifests use; key None where a whole Secret is mounted."""
    found: set[tuple[str, str | None]] = set()
    for container in containers(manifests):
        for variable in container.spec.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                found.add((ref["name"], ref["key"]))
    for workload in workloads(manifests):
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            secret = volume.get("secret")
            if secret is None:
                continue
            items = secret.get("items")
            if items:
                found.update((secret["secretName"], item["key"]) for item in items)
            else:
                found.add((secret["secretName"], None))
    for ingress in of_kind(manifests, "Ingress"):
        found.update((tls["secretName"], None) for tls in ingress["spec"].get("tls", []))
    return found

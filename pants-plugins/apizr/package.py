"""Package step: a PEX that serves the API with gunicorn managing uvicorn workers, the container
image when a base image is configured, and the Helm chart that runs it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.backend.python.target_types import EntryPoint, PexLayout
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.backend.python.util_rules.pex_from_targets import (
    InterpreterConstraintsRequest,
    PexFromTargetsRequest,
)
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    OutputPathField,
    PackageFieldSet,
)
from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior, RunRequest
from pants.engine.fs import AddPrefix, Digest, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from apizr.generate import ServiceLayout, ServiceLayoutRequest
from apizr.helm import ImageReference, ServiceChart, ServiceChartRequest
from apizr.image import MaybeServiceImage, ServiceImageRequest, repository_name
from apizr.publish import ImageRegistriesField, ImageTagsField
from apizr.target_types import ApiVersionField, NotebookSourceField


@dataclass(frozen=True)
class NotebookApiFieldSet(PackageFieldSet, RunFieldSet):
    required_fields = (NotebookSourceField,)
    run_in_sandbox_behavior = RunInSandboxBehavior.RUN_REQUEST_HERMETIC

    source: NotebookSourceField
    output_path: OutputPathField


@dataclass(frozen=True)
class ServicePexRequest:
    field_set: NotebookApiFieldSet


@rule(level=LogLevel.DEBUG)
async def service_pex_request(request: ServicePexRequest) -> PexFromTargetsRequest:
    field_set = request.field_set
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(field_set.address, description_of_origin="apizr package"),
    )
    layout = await Get(ServiceLayout, ServiceLayoutRequest(wrapped.target))
    return PexFromTargetsRequest(
        addresses=[field_set.address],
        output_filename=field_set.output_path.value_or_default(file_ending="pex"),
        internal_only=False,
        main=EntryPoint(layout.app_module, "main"),
        layout=PexLayout.ZIPAPP,
        # A venv under PEX_ROOT: later starts skip unpacking, and module files have real paths.
        additional_args=("--venv", "prepend"),
        include_requirements=True,
        include_source_files=True,
    )


def chart_image(target: Target, image: MaybeServiceImage) -> ImageReference:
    """The image the chart runs: as `pants publish` pushes it, pinned by digest when built."""
    repository = repository_name(target.address.target_name)
    registries = target[ImageRegistriesField].value
    if registries:
        repository = f"{registries[0].rstrip('/')}/{repository}"
    tag = (target[ImageTagsField].value or (target[ApiVersionField].value,))[0]
    return ImageReference(repository, tag, image.image_digest)


@rule(desc="Package a notebook API", level=LogLevel.DEBUG)
async def package_notebook_api(field_set: NotebookApiFieldSet) -> BuiltPackage:
    pex_request, wrapped = await MultiGet(
        Get(PexFromTargetsRequest, ServicePexRequest(field_set)),
        Get(
            WrappedTarget,
            WrappedTargetRequest(field_set.address, description_of_origin="apizr package"),
        ),
    )
    pex = await Get(Pex, PexFromTargetsRequest, pex_request)
    # The container image, when a base image is configured.
    image = await Get(MaybeServiceImage, ServiceImageRequest(field_set.address, pex_request, pex))
    chart = await Get(
        ServiceChart, ServiceChartRequest(field_set.address, chart_image(wrapped.target, image))
    )
    output_dir = os.path.dirname(pex_request.output_filename)
    chart_digest = await Get(Digest, AddPrefix(chart.digest, output_dir))
    digest = await Get(Digest, MergeDigests([pex.digest, image.digest, chart_digest]))
    artifacts = (
        BuiltPackageArtifact(pex_request.output_filename),
        *image.artifacts,
        BuiltPackageArtifact(os.path.join(output_dir, chart.filename)),
    )
    return BuiltPackage(digest, artifacts)


@rule(level=LogLevel.DEBUG)
async def run_notebook_api(field_set: NotebookApiFieldSet) -> RunRequest:
    pex_request = await Get(PexFromTargetsRequest, ServicePexRequest(field_set))
    pex, python = await MultiGet(
        Get(Pex, PexFromTargetsRequest, pex_request),
        Get(
            PythonExecutable,
            InterpreterConstraintsRequest,
            pex_request.to_interpreter_constraints_request(),
        ),
    )
    return RunRequest(
        digest=pex.digest,
        args=[python.path, os.path.join("{chroot}", pex_request.output_filename)],
    )


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, NotebookApiFieldSet),
        *NotebookApiFieldSet.rules(),
    ]

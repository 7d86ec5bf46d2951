"""Package step: a PEX that serves the API with gunicorn managing uvicorn workers."""

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
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from apizr.generate import ServiceLayout, ServiceLayoutRequest
from apizr.target_types import NotebookSourceField


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


@rule(desc="Package a notebook API as a PEX", level=LogLevel.DEBUG)
async def package_notebook_api(field_set: NotebookApiFieldSet) -> BuiltPackage:
    pex_request = await Get(PexFromTargetsRequest, ServicePexRequest(field_set))
    pex = await Get(Pex, PexFromTargetsRequest, pex_request)
    return BuiltPackage(pex.digest, (BuiltPackageArtifact(pex_request.output_filename),))


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

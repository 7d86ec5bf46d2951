"""Dependency inference for notebook_api: what the source imports, plus the serving stack."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pants.backend.python.dependency_inference.module_mapper import (
    PythonModuleOwners,
    PythonModuleOwnersRequest,
)
from pants.backend.python.dependency_inference.subsystem import (
    PythonInferSubsystem,
    UnownedDependencyUsage,
)
from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PythonResolveField
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    ExplicitlyProvidedDependencies,
    FieldSet,
    InferDependenciesRequest,
    InferredDependencies,
)
from pants.engine.unions import UnionRule

from apizr.analyze import AnalyzeModuleRequest, ApiSpec
from apizr.convert import ConvertedModule, ConvertNotebookRequest
from apizr.target_types import NotebookApiDependenciesField, NotebookSourceField
from apizr.tools import NotebookApiError

logger = logging.getLogger(__name__)

# What the generated app and the runtime library import; the resolve must provide them.
SERVING_MODULES = {
    "fastapi": "fastapi",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic-core",
    "starlette": "starlette",
    "gunicorn": "gunicorn",
    "uvicorn": "uvicorn",
    "uvicorn_worker": "uvicorn-worker",
}
# uvicorn's fast event loop and HTTP parser: used when the resolve provides them.
OPTIONAL_SERVING_MODULES = ("uvloop", "httptools")


@dataclass(frozen=True)
class NotebookApiInferenceFieldSet(FieldSet):
    required_fields = (NotebookSourceField, NotebookApiDependenciesField)

    source: NotebookSourceField
    dependencies: NotebookApiDependenciesField
    resolve: PythonResolveField


class InferNotebookApiDependencies(InferDependenciesRequest):
    infer_from = NotebookApiInferenceFieldSet


@rule(desc="Infer a notebook's dependencies")
async def infer_notebook_api_dependencies(
    request: InferNotebookApiDependencies,
    python_setup: PythonSetup,
    python_infer: PythonInferSubsystem,
) -> InferredDependencies:
    field_set = request.field_set
    converted = await Get(ConvertedModule, ConvertNotebookRequest(field_set.source))
    spec = await Get(ApiSpec, AnalyzeModuleRequest(converted, imports_only=True))
    resolve = field_set.resolve.normalized_value(python_setup)
    modules = (*SERVING_MODULES, *OPTIONAL_SERVING_MODULES, *spec.imports)
    owners = await MultiGet(
        Get(
            PythonModuleOwners,
            PythonModuleOwnersRequest(module, resolve, locality=field_set.address.spec_path),
        )
        for module in modules
    )

    missing_serving = [
        SERVING_MODULES[module]
        for module, owner in zip(modules, owners)
        if module in SERVING_MODULES and not (owner.unambiguous or owner.ambiguous)
    ]
    if missing_serving:
        raise NotebookApiError(
            f"{field_set.address}: the resolve `{resolve}` must provide the serving stack; add "
            f"{', '.join(missing_serving)} to its requirements and regenerate its lockfile."
        )
    unowned = [
        module
        for module, owner in zip(modules, owners)
        if not owner.unambiguous and not owner.ambiguous and module not in OPTIONAL_SERVING_MODULES
    ]
    if unowned:
        message = (
            f"{converted.source_path} imports {', '.join(f'`{m}`' for m in unowned)}, which no "
            f"target in the resolve `{resolve}` provides: add a requirement or a first-party "
            "target for it."
        )
        if python_infer.unowned_dependency_behavior == UnownedDependencyUsage.RaiseError:
            raise NotebookApiError(message)
        if python_infer.unowned_dependency_behavior == UnownedDependencyUsage.LogWarning:
            logger.warning(message)

    # As Pants' Python inference does: several providers need the user's choice in
    # `dependencies` (an address, or `!` ignores); until then, warn and infer none of them.
    explicitly_provided = await Get(
        ExplicitlyProvidedDependencies, DependenciesRequest(field_set.dependencies)
    )
    inferred = [address for owner in owners for address in owner.unambiguous]
    for module, owner in zip(modules, owners):
        if owner.ambiguous:
            explicitly_provided.maybe_warn_of_ambiguous_dependency_inference(
                owner.ambiguous,
                field_set.address,
                import_reference="module",
                context=f"The notebook_api {field_set.address} imports `{module}`",
            )
            chosen = explicitly_provided.disambiguated(owner.ambiguous)
            if chosen:
                inferred.append(chosen)
    return InferredDependencies(inferred)


def rules():
    return [
        *collect_rules(),
        UnionRule(InferDependenciesRequest, InferNotebookApiDependencies),
    ]

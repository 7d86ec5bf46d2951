"""Analyze step: the API spec of a module, by static analysis only (no user code runs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pants.engine.fs import Digest, DigestContents, MergeDigests
from pants.engine.rules import Get, collect_rules, rule

from apizr.convert import ConvertedModule
from apizr.tools import ApizrToolRequest, ApizrToolResult

SPEC_FILE = "__apizr_spec.json"


@dataclass(frozen=True)
class AnalyzeModuleRequest:
    module: ConvertedModule
    endpoints: tuple[str, ...] = ()
    # Paths (relative to the module's directory) of the files packaged with the service, to
    # check the files the module reads against; None when they are not known yet.
    resources: tuple[str, ...] | None = None
    # Only list imports (for dependency inference), without judging the endpoints.
    imports_only: bool = False


@dataclass(frozen=True)
class ApiSpec:
    content: bytes

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.content)

    @property
    def imports(self) -> tuple[str, ...]:
        return tuple(self.data["imports"])


@rule(desc="Analyze a notebook's functions")
async def analyze_module(request: AnalyzeModuleRequest) -> ApiSpec:
    module = request.module
    argv = [module.path, "--display-name", module.source_path, "--output", SPEC_FILE]
    if module.cells_path:
        argv += ["--cells", module.cells_path]
    for endpoint in request.endpoints:
        argv += ["--endpoint", endpoint]
    if request.resources is not None:
        argv.append("--check-resources")
        for resource in request.resources:
            argv += ["--resource", resource]
    if request.imports_only:
        argv.append("--imports-only")
    input_digest = await Get(Digest, MergeDigests([module.digest, module.cells_digest]))
    result = await Get(
        ApizrToolResult,
        ApizrToolRequest(
            script="analyze_module.py",
            argv=tuple(argv),
            input_digest=input_digest,
            output_files=(SPEC_FILE,),
            description=f"Analyze {module.source_path}",
        ),
    )
    contents = await Get(DigestContents, Digest, result.output_digest)
    return ApiSpec(contents[0].content)


def rules():
    return collect_rules()

"""Convert step: a notebook becomes a clean, black-formatted Python module."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.engine.fs import Digest
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import HydratedSources, HydrateSourcesRequest

from apizr.subsystems import Apizr
from apizr.target_types import NotebookSourceField
from apizr.tools import ApizrToolRequest, ApizrToolResult


@dataclass(frozen=True)
class ConvertNotebookRequest:
    source: NotebookSourceField


@dataclass(frozen=True)
class ConvertedModule:
    """The module to serve, at `path` (next to the source) in `digest`.

    `source_digest` holds the source itself, for the steps that report locations in it; it never
    joins the service's files (a notebook carries its outputs).
    """

    digest: Digest
    path: str
    source_digest: Digest
    source_path: str

    @property
    def is_notebook(self) -> bool:
        return self.source_path.endswith(".ipynb")


@rule(desc="Convert a notebook to Python")
async def convert_notebook(request: ConvertNotebookRequest, apizr: Apizr) -> ConvertedModule:
    sources = await Get(HydratedSources, HydrateSourcesRequest(request.source))
    (source_path,) = sources.snapshot.files
    if source_path.endswith(".py"):
        return ConvertedModule(
            sources.snapshot.digest, source_path, sources.snapshot.digest, source_path
        )

    module_path = os.path.splitext(source_path)[0] + ".py"
    result = await Get(
        ApizrToolResult,
        ApizrToolRequest(
            script="convert_notebook.py",
            argv=(
                source_path,
                module_path,
                "--display-name",
                source_path,
                "--skip-tag",
                apizr.skip_tag,
            ),
            input_digest=sources.snapshot.digest,
            output_files=(module_path,),
            description=f"Convert {source_path} to Python",
        ),
    )
    return ConvertedModule(result.output_digest, module_path, sources.snapshot.digest, source_path)


def rules():
    return collect_rules()

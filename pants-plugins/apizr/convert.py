"""Convert step: a notebook becomes a clean, black-formatted Python module."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.engine.fs import EMPTY_DIGEST, Digest, DigestSubset, PathGlobs
from pants.engine.rules import Get, MultiGet, collect_rules, rule
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

    For a notebook, `cells_digest` holds `cells_path`: the code cells' own lines, so that later
    steps report locations in the notebook. It never joins the service's files.
    """

    digest: Digest
    path: str
    source_path: str
    cells_digest: Digest = EMPTY_DIGEST
    cells_path: str | None = None

    @property
    def is_notebook(self) -> bool:
        return self.source_path.endswith(".ipynb")


@rule(desc="Convert a notebook to Python")
async def convert_notebook(request: ConvertNotebookRequest, apizr: Apizr) -> ConvertedModule:
    sources = await Get(HydratedSources, HydrateSourcesRequest(request.source))
    (source_path,) = sources.snapshot.files
    if source_path.endswith(".py"):
        return ConvertedModule(sources.snapshot.digest, source_path, source_path)

    module_path = os.path.splitext(source_path)[0] + ".py"
    cells_path = os.path.splitext(source_path)[0] + ".cells.json"
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
                "--cells-output",
                cells_path,
            ),
            input_digest=sources.snapshot.digest,
            output_files=(module_path, cells_path),
            description=f"Convert {source_path} to Python",
        ),
    )
    module, cells = await MultiGet(
        Get(Digest, DigestSubset(result.output_digest, PathGlobs([module_path]))),
        Get(Digest, DigestSubset(result.output_digest, PathGlobs([cells_path]))),
    )
    return ConvertedModule(module, module_path, source_path, cells, cells_path)


def rules():
    return collect_rules()

"""Running apizr's own scripts (convert, analyze) as sandboxed, cacheable processes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.resources import read_resource

from apizr.subsystems import ApizrTools

# Exit code with which the scripts report a problem in the user's input (the message is theirs).
USER_ERROR_EXIT_CODE = 2
SCRIPTS_DIR = "__apizr_scripts"
MISSING_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([\w.]+)'$", re.MULTILINE)


class NotebookApiError(Exception):
    """A problem in a notebook_api's input, reported with its file, cell and line."""


@dataclass(frozen=True)
class ApizrToolRequest:
    script: str
    argv: tuple[str, ...]
    input_digest: Digest
    output_files: tuple[str, ...]
    description: str
    output_directories: tuple[str, ...] = ()
    # The process's environment variables (a registry client's credentials file).
    env: FrozenDict[str, str] = FrozenDict()


@dataclass(frozen=True)
class ApizrToolResult:
    output_digest: Digest
    stderr: str


@rule
async def apizr_tool_process(request: ApizrToolRequest, tools: ApizrTools) -> Process:
    """The process running a script; also run interactively (e.g. by `pants publish`)."""
    if not tools.install_from_resolve:
        raise NotebookApiError(
            "Set `[apizr-tools].install_from_resolve` to a resolve that provides "
            f"{', '.join(tools.default_requirements)} (apizr ships no lockfile of its own)."
        )
    tool_pex, script = await MultiGet(
        Get(VenvPex, PexRequest, tools.to_pex_request()),
        Get(
            Digest,
            CreateDigest(
                [
                    FileContent(
                        f"{SCRIPTS_DIR}/{request.script}",
                        read_resource("apizr.scripts", request.script),
                    )
                ]
            ),
        ),
    )
    input_digest = await Get(Digest, MergeDigests([script, request.input_digest]))
    return await Get(
        Process,
        VenvPexProcess(
            tool_pex,
            argv=(f"{SCRIPTS_DIR}/{request.script}", *request.argv),
            input_digest=input_digest,
            output_files=request.output_files,
            output_directories=request.output_directories,
            extra_env=request.env,
            description=request.description,
            level=LogLevel.DEBUG,
        ),
    )


@rule
async def run_apizr_tool(request: ApizrToolRequest) -> ApizrToolResult:
    process = await Get(Process, ApizrToolRequest, request)
    result = await Get(FallibleProcessResult, Process, process)
    stderr = result.stderr.decode(errors="replace").strip()
    if result.exit_code == USER_ERROR_EXIT_CODE:
        raise NotebookApiError(stderr)
    missing = MISSING_MODULE.search(stderr)
    if missing:
        # The resolve behind [apizr-tools] lacks a tool: a configuration problem, not a bug.
        raise NotebookApiError(
            f"{request.description}: the `[apizr-tools]` resolve does not provide the module "
            f"`{missing[1]}`; add its distribution to that resolve's requirements (and to "
            "`[apizr-tools].requirements` if you set it) and regenerate its lockfile."
        )
    if result.exit_code != 0:
        # A bug in apizr, not in the user's input: show everything the script said.
        raise NotebookApiError(
            f"{request.description} failed unexpectedly (exit code {result.exit_code}):\n{stderr}"
        )
    return ApizrToolResult(result.output_digest, stderr)


def rules():
    return collect_rules()

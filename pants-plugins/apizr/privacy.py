"""Privacy check: no secret or personal data in a notebook reaches an API.

`pants package`, `run` and `export-codegen` check a notebook_api's notebook (cells, outputs,
metadata), its converted module and its data files before generating the service, and fail on
findings (`privacy_check`); `pants lint` reports them as the `apizr-privacy` linter.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

from pants.base.glob_match_error_behavior import GlobMatchErrorBehavior
from pants.core.goals.lint import LintResult, LintTargetsRequest
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.core.util_rules.partitions import PartitionerType
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents, MergeDigests, PathGlobs, Snapshot
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    InvalidFieldException,
    SourcesField,
    StringField,
    Target,
    TransitiveTargets,
    TransitiveTargetsRequest,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.option.option_types import SkipOption
from pants.option.subsystem import Subsystem
from pants.util.logging import LogLevel
from pants.util.strutil import help_text, pluralize

from apizr.convert import ConvertedModule, ConvertNotebookRequest
from apizr.target_types import NotebookApiTarget, NotebookSourceField
from apizr.tools import ApizrToolRequest, ApizrToolResult, NotebookApiError

logger = logging.getLogger(__name__)

FINDINGS_FILE = "__apizr_privacy.json"
# Must match scan_privacy.py's PRAGMA.
PRAGMA = "apizr: ignore-privacy"
# Where a pragma can be written: lines of a source, the module, a data file (not outputs).
PRAGMA_PARTS = ("source", "module", "data")


class PrivacyCheckField(StringField):
    alias = "privacy_check"
    valid_choices = ("error", "warn", "off")
    default = "error"
    help = help_text(f"""
        What a privacy finding does to `package`, `run` and `export-codegen`: `error` fails the
        build, `warn` logs the findings, `off` skips the check (and `lint` skips the target).

        The check scans the notebook (code and markdown cells, every output, cell and notebook
        metadata), the converted module and the text data files among the dependencies for
        secrets (cloud keys, tokens, private keys, passwords, ...) and personal data (e-mail
        addresses, phone numbers, IBANs, card numbers, public IPv4 addresses). Silence a finding
        with a `{PRAGMA}` comment on its line, or accept it in `privacy_baseline`.
        """)


# Not a SourcesField: Pants sorts a target's fields by alias, so `tgt.get(SourcesField)`, which
# codegen and packaging use, would find `privacy_baseline` before `source`.
class PrivacyBaselineField(StringField):
    alias = "privacy_baseline"
    help = help_text("""
        A JSON file (relative to the BUILD file) of accepted privacy findings:
        `{"accepted": [{"file": ..., "detector": ..., "fingerprint": ...}]}`; a failing build
        prints the entries of its findings. Entries match by file, detector and the value's
        fingerprint, not by cell or line, so re-running the notebook keeps them valid.
        """)

    @classmethod
    def compute_value(cls, raw_value: str | None, address: Address) -> str | None:
        value = super().compute_value(raw_value, address)
        if value is not None and (not value.endswith(".json") or ".." in value.split("/")):
            raise InvalidFieldException(
                f"{address}: `privacy_baseline` must name a .json file in or below the BUILD "
                f"file's directory, got {value!r}"
            )
        return value


class ApizrPrivacy(Subsystem):
    options_scope = "apizr-privacy"
    name = "apizr-privacy"
    help = "The privacy check of `notebook_api` targets, as a linter (see `privacy_check`)."

    skip = SkipOption("lint")


@dataclass(frozen=True)
class PrivacyCheckRequest:
    address: Address


@dataclass(frozen=True)
class PrivacyFinding:
    file: str
    part: str  # source, output, metadata, module or data
    cell: int | None
    output: int | None
    line: int | None
    detector: str
    excerpt: str
    fingerprint: str

    @property
    def location(self) -> str:
        parts = [
            self.file,
            f"cell {self.cell}" if self.cell else None,
            f"output {self.output}" if self.output else None,
            "metadata" if self.part == "metadata" else None,
            f"line {self.line}" if self.line else None,
        ]
        return ", ".join(part for part in parts if part)

    @property
    def how_to_suppress(self) -> str:
        if self.part in PRAGMA_PARTS:
            return f"`# {PRAGMA}` on the line, or the baseline"
        return "the baseline"

    def baseline_entry(self) -> dict[str, str]:
        return {
            "file": self.file,
            "detector": self.detector,
            "fingerprint": self.fingerprint,
            "where": self.location,
        }


@dataclass(frozen=True)
class PrivacyFindings:
    address: Address
    findings: tuple[PrivacyFinding, ...]
    suppressed: int

    def report(self) -> str:
        lines = [f"{self.address}: {pluralize(len(self.findings), 'privacy finding')}"]
        lines += [
            f"  {f.location}: {f.detector}: {f.excerpt}  (suppress: {f.how_to_suppress})"
            for f in self.findings
        ]
        baseline = {"accepted": [f.baseline_entry() for f in self.findings]}
        lines += [
            "To accept them, put these entries in the JSON file named by the target's "
            "`privacy_baseline` field:",
            json.dumps(baseline, indent=1),
        ]
        return "\n".join(lines)


def data_file_fields(transitive: TransitiveTargets) -> list[SourcesField]:
    return [
        tgt[SourcesField]
        for tgt in transitive.dependencies
        if tgt.has_field(ResourceSourceField) or tgt.has_field(FileSourceField)
    ]


def baseline_globs(address: Address, field: PrivacyBaselineField) -> PathGlobs:
    return PathGlobs(
        [os.path.join(address.spec_path, field.value)] if field.value else [],
        glob_match_error_behavior=GlobMatchErrorBehavior.error,
        description_of_origin=f"the `privacy_baseline` field of {address}",
    )


@rule(desc="Check a notebook for secrets and personal data")
async def check_privacy(request: PrivacyCheckRequest) -> PrivacyFindings:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(request.address, description_of_origin="apizr privacy check"),
    )
    target: Target = wrapped.target
    source, converted, baseline, transitive = await MultiGet(
        Get(HydratedSources, HydrateSourcesRequest(target[NotebookSourceField])),
        Get(ConvertedModule, ConvertNotebookRequest(target[NotebookSourceField])),
        Get(Snapshot, PathGlobs, baseline_globs(request.address, target[PrivacyBaselineField])),
        Get(TransitiveTargets, TransitiveTargetsRequest([request.address])),
    )
    data = await Get(
        SourceFiles,
        SourceFilesRequest(
            data_file_fields(transitive), for_sources_types=(ResourceSourceField, FileSourceField)
        ),
    )
    argv = [converted.source_path, "--output", FINDINGS_FILE]
    if converted.is_notebook:
        argv += ["--module", converted.path]
    for path in data.files:
        argv += ["--data", path]
    for path in baseline.files:
        argv += ["--baseline", path]
    input_digest = await Get(
        Digest,
        MergeDigests(
            [
                source.snapshot.digest,
                converted.digest,
                data.snapshot.digest,
                baseline.digest,
            ]
        ),
    )
    result = await Get(
        ApizrToolResult,
        ApizrToolRequest(
            script="scan_privacy.py",
            argv=tuple(argv),
            input_digest=input_digest,
            output_files=(FINDINGS_FILE,),
            description=f"Check {converted.source_path} for secrets and personal data",
        ),
    )
    (contents,) = await Get(DigestContents, Digest, result.output_digest)
    scanned = json.loads(contents.content)
    return PrivacyFindings(
        request.address,
        tuple(PrivacyFinding(**finding) for finding in scanned["findings"]),
        scanned["suppressed"],
    )


def enforce_privacy_check(findings: PrivacyFindings, privacy_check: str) -> None:
    """Fail (`error`) or warn (`warn`) on findings, as the target's `privacy_check` says."""
    if not findings.findings:
        return
    if privacy_check == "error":
        raise NotebookApiError(
            f'{findings.report()}\nOr set `privacy_check="warn"` on the target to only warn.'
        )
    logger.warning(findings.report())


@dataclass(frozen=True)
class PrivacyFieldSet(FieldSet):
    required_fields = (NotebookSourceField,)

    source: NotebookSourceField
    privacy_check: PrivacyCheckField

    @classmethod
    def opt_out(cls, tgt: Target) -> bool:
        return tgt[PrivacyCheckField].value == "off"


class PrivacyLintRequest(LintTargetsRequest):
    field_set_type = PrivacyFieldSet
    tool_subsystem = ApizrPrivacy
    partitioner_type = PartitionerType.DEFAULT_SINGLE_PARTITION


@rule(desc="Check notebook APIs for secrets and personal data", level=LogLevel.DEBUG)
async def lint_privacy(request: PrivacyLintRequest.Batch) -> LintResult:
    results = await MultiGet(
        Get(PrivacyFindings, PrivacyCheckRequest(field_set.address))
        for field_set in request.elements
    )
    reported = [findings for findings in results if findings.findings]
    # Findings of `warn` targets are shown without failing, as `package` does.
    failing = [
        findings
        for findings, field_set in zip(results, request.elements)
        if findings.findings and field_set.privacy_check.value == "error"
    ]
    return LintResult(
        exit_code=1 if failing else 0,
        stdout="\n\n".join(findings.report() for findings in reported),
        stderr="",
        linter_name=request.tool_name,
    )


def rules():
    return [
        *collect_rules(),
        *PrivacyLintRequest.rules(),
        NotebookApiTarget.register_plugin_field(PrivacyCheckField),
        NotebookApiTarget.register_plugin_field(PrivacyBaselineField),
    ]

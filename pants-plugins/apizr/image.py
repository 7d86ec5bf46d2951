"""Container images of notebook APIs, built from the service PEX without a container engine.

When a base image is configured (`base_image` field, or `[apizr].base_image`), `pants package`
also writes `<name>.image.tar` next to the PEX: an OCI image layout and a docker-archive in one
file, and `<name>.image.digest`, the image manifest's digest. The image is a pure function of the
base image, the PEX (so the lockfile and the sources) and the target's fields: the work is done
by `scripts/build_image.py` in a sandbox, where the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PythonResolveField
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_from_targets import (
    InterpreterConstraintsRequest,
    PexFromTargetsRequest,
)
from pants.core.goals.package import BuiltPackageArtifact
from pants.engine.addresses import Address
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    EMPTY_DIGEST,
    Digest,
    DigestContents,
    DigestSubset,
    GlobExpansionConjunction,
    GlobMatchErrorBehavior,
    MergeDigests,
    PathGlobs,
)
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import StringField, WrappedTarget, WrappedTargetRequest
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import help_text
from pants.vcs.git import GitWorktreeRequest, MaybeGitWorktree

from apizr.generate import ServiceLayout, ServiceLayoutRequest
from apizr.subsystems import Apizr
from apizr.target_types import ApiVersionField, NotebookApiTarget, NotebookSourceField, PortField
from apizr.tools import ApizrToolRequest, ApizrToolResult, NotebookApiError

# The version recorded in images' `io.apizr.version` label.
APIZR_VERSION = "0.1.0"
PULLED_BASE = "__apizr_base/base.oci.tar"


class BaseImageField(StringField):
    alias = "base_image"
    help = help_text("""
        The image the service's image is built on: either a registry reference pinned by
        digest (`registry.example.com/python@sha256:...`), which apizr pulls itself (the
        linux/amd64 image of a manifest list), or a path relative to the build root of a local
        OCI image layout (a directory holding `index.json`), OCI archive
        (`skopeo copy ... oci-archive:...`) or docker-archive (`docker save`). Its interpreter
        must satisfy the target's interpreter constraints. Defaults to `[apizr].base_image`;
        with neither, `pants package` builds only the PEX.
        """)


@dataclass(frozen=True)
class ServiceImageRequest:
    address: Address
    pex_request: PexFromTargetsRequest
    pex: Pex


@dataclass(frozen=True)
class MaybeServiceImage:
    """The image archive and its digest file, or nothing when no base image is configured."""

    digest: Digest
    artifacts: tuple[BuiltPackageArtifact, ...]
    image_digest: str | None = None


@dataclass(frozen=True)
class BaseImageRequest:
    """A `base_image` value: a registry reference (it has an `@`) or a path in the repository."""

    value: str
    address: Address


@dataclass(frozen=True)
class BaseImage:
    digest: Digest
    path: str
    labels: FrozenDict[str, str]


@rule(desc="Get a base image", level=LogLevel.DEBUG)
async def get_base_image(request: BaseImageRequest) -> BaseImage:
    if "@" not in request.value:
        path = os.path.normpath(request.value)
        digest = await Get(
            Digest,
            PathGlobs(
                [path, f"{path}/**"],
                glob_match_error_behavior=GlobMatchErrorBehavior.error,
                conjunction=GlobExpansionConjunction.any_match,
                description_of_origin=f"the `base_image` of {request.address}",
            ),
        )
        return BaseImage(digest, path, FrozenDict())
    # Pinned by digest, so the pulled bytes are known in advance and Pants caches them.
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(("HOME", "DOCKER_CONFIG")))
    pulled = await Get(
        ApizrToolResult,
        ApizrToolRequest(
            script="oci_registry.py",
            argv=("pull", request.value, PULLED_BASE),
            input_digest=EMPTY_DIGEST,
            output_files=(PULLED_BASE,),
            description=f"Pull the base image {request.value}",
            env=FrozenDict(env),
        ),
    )
    name, _, digest = request.value.partition("@")
    labels = {
        "org.opencontainers.image.base.name": name,
        "org.opencontainers.image.base.digest": digest,
    }
    return BaseImage(pulled.output_digest, PULLED_BASE, FrozenDict(labels))


def repository_name(target_name: str) -> str:
    """A valid image repository name: lower case, `[a-z0-9._-]`."""
    return re.sub(r"[^a-z0-9._-]+", "-", target_name.lower()).strip("._-") or "service"


async def _lockfile_digest(resolve: str, python_setup: PythonSetup) -> str | None:
    lockfile = python_setup.resolves.get(resolve)
    if not lockfile:
        return None
    contents = await Get(
        DigestContents,
        PathGlobs([lockfile], glob_match_error_behavior=GlobMatchErrorBehavior.ignore),
    )
    return "sha256:" + hashlib.sha256(contents[0].content).hexdigest() if contents else None


@rule(desc="Build a notebook API's container image", level=LogLevel.DEBUG)
async def build_service_image(
    request: ServiceImageRequest, apizr: Apizr, python_setup: PythonSetup
) -> MaybeServiceImage:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(request.address, description_of_origin="apizr image"),
    )
    target = wrapped.target
    base = target[BaseImageField].value or apizr.base_image
    if not base:
        return MaybeServiceImage(EMPTY_DIGEST, ())
    base_image, constraints, layout, worktree = await MultiGet(
        Get(BaseImage, BaseImageRequest(base, request.address)),
        Get(
            InterpreterConstraints,
            InterpreterConstraintsRequest,
            request.pex_request.to_interpreter_constraints_request(),
        ),
        Get(ServiceLayout, ServiceLayoutRequest(target)),
        Get(MaybeGitWorktree, GitWorktreeRequest()),
    )
    versions = constraints.enumerate_python_versions(python_setup.interpreter_versions_universe)
    major_minors = sorted({f"{major}.{minor}" for major, minor, _ in versions}, reverse=True)
    if not major_minors:
        raise NotebookApiError(f"{request.address}: its interpreter constraints allow no Python")

    labels = {
        "org.opencontainers.image.title": target.address.target_name,
        "org.opencontainers.image.version": target[ApiVersionField].value,
        "io.apizr.source": target[NotebookSourceField].file_path,
        "io.apizr.version": APIZR_VERSION,
        **base_image.labels,
    }
    lockfile = await _lockfile_digest(
        target[PythonResolveField].normalized_value(python_setup), python_setup
    )
    if lockfile:
        labels["io.apizr.lockfile.digest"] = lockfile
    if worktree.git_worktree:
        labels["org.opencontainers.image.revision"] = worktree.git_worktree.commit_id

    stem = request.pex_request.output_filename.removesuffix(".pex")
    image_path, digest_path = f"{stem}.image.tar", f"{stem}.image.digest"
    input_digest = await Get(Digest, MergeDigests([request.pex.digest, base_image.digest]))
    built = await Get(
        ApizrToolResult,
        ApizrToolRequest(
            script="build_image.py",
            argv=(
                f"--pex={request.pex_request.output_filename}",
                f"--base={base_image.path}",
                f"--base-name={base}",
                *(f"--python-version={v}" for v in major_minors),
                f"--constraints={constraints}",
                f"--app-module={layout.app_module}",
                f"--port={target[PortField].value}",
                *(f"--label={key}={value}" for key, value in sorted(labels.items())),
                f"--repo-tag={repository_name(target.address.target_name)}:"
                f"{target[ApiVersionField].value}",
                f"--output={image_path}",
                f"--digest-output={digest_path}",
            ),
            input_digest=input_digest,
            output_files=(image_path, digest_path),
            description=f"Build the container image of {request.address}",
        ),
    )
    digest_file = await Get(
        DigestContents, DigestSubset(built.output_digest, PathGlobs([digest_path]))
    )
    image_digest = digest_file[0].content.decode().strip()
    return MaybeServiceImage(
        built.output_digest,
        (
            BuiltPackageArtifact(image_path, extra_log_lines=(f"Image digest: {image_digest}",)),
            BuiltPackageArtifact(digest_path),
        ),
        image_digest,
    )


def rules():
    return [*collect_rules(), NotebookApiTarget.register_plugin_field(BaseImageField)]

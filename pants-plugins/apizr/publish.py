"""`pants publish` of notebook APIs' container images, with apizr's own registry client."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, MergeDigests
from pants.engine.process import InteractiveProcess, Process
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import StringSequenceField
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text

from apizr.image import repository_name
from apizr.target_types import ApiVersionField, NotebookApiTarget
from apizr.tools import ApizrToolRequest


class ImageRegistriesField(StringSequenceField):
    alias = "registries"
    help = help_text("""
        The registries `pants publish` pushes the container image to, as `host[:port]` with an
        optional path prefix (`registry.example.com/team`). The image's repository is the
        target's name under each of them. Credentials come from the Docker credentials file
        (`docker login`); registries on localhost are spoken to over plain HTTP.
        """)


class ImageTagsField(StringSequenceField):
    alias = "image_tags"
    help = help_text("""
        The tags `pants publish` gives the image in each registry. Defaults to the target's
        `version`.
        """)


class PublishImageRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class PublishImageFieldSet(PublishFieldSet):
    publish_request_type = PublishImageRequest
    required_fields = (ImageRegistriesField,)

    registries: ImageRegistriesField
    image_tags: ImageTagsField
    version: ApiVersionField

    def references(self) -> tuple[str, ...]:
        repository = repository_name(self.address.target_name)
        tags = self.image_tags.value or (self.version.value,)
        return tuple(
            f"{registry.rstrip('/')}/{repository}:{tag}"
            for registry in self.registries.value or ()
            for tag in tags
        )

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData(
            {
                "publisher": "apizr",
                "registries": self.registries.value or (),
                **super().get_output_data(),
            }
        )


@rule(desc="Push a notebook API's container image")
async def publish_image(request: PublishImageRequest) -> PublishProcesses:
    field_set = request.field_set
    references = field_set.references()
    archives = [
        artifact.relpath
        for package in request.packages
        for artifact in package.artifacts
        if artifact.relpath and artifact.relpath.endswith(".image.tar")
    ]
    if not archives or not references:
        reason = "no `base_image`: no image was built" if not archives else "no `registries`"
        return PublishProcesses(
            [PublishPackages(names=references, description=f"({reason} for {field_set.address})")]
        )
    (archive,) = archives
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(("HOME", "DOCKER_CONFIG")))
    input_digest = await Get(Digest, MergeDigests([p.digest for p in request.packages]))
    process = await Get(
        Process,
        ApizrToolRequest(
            script="oci_registry.py",
            argv=("push", archive, *references),
            input_digest=input_digest,
            output_files=(),
            description=f"Push {os.path.basename(archive)}",
            env=FrozenDict(env),
        ),
    )
    return PublishProcesses(
        [PublishPackages(names=references, process=InteractiveProcess.from_process(process))]
    )


def rules():
    return [
        *collect_rules(),
        *PublishImageFieldSet.rules(),
        NotebookApiTarget.register_plugin_field(ImageRegistriesField),
        NotebookApiTarget.register_plugin_field(ImageTagsField),
    ]

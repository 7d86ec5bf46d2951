"""The apizr backend: `notebook_api` targets turn notebooks into HTTP API services."""

from apizr import (
    analyze,
    convert,
    dependencies,
    generate,
    helm,
    image,
    package,
    privacy,
    publish,
    subsystems,
    tools,
)
from apizr.target_types import NotebookApiTarget


def target_types():
    return [NotebookApiTarget]


def rules():
    return [
        *subsystems.rules(),
        *tools.rules(),
        *convert.rules(),
        *analyze.rules(),
        *generate.rules(),
        *dependencies.rules(),
        *privacy.rules(),
        *package.rules(),
        *image.rules(),
        *publish.rules(),
        *helm.rules(),
    ]

"""Options of the apizr backend and of the tools its rules run."""

from __future__ import annotations

from pants.backend.python.subsystems.python_tool_base import PythonToolRequirementsBase
from pants.option.option_types import StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class Apizr(Subsystem):
    options_scope = "apizr"
    help = "Options for `notebook_api` targets: notebooks served as HTTP APIs."

    skip_tag = StrOption(
        default="skip-api",
        help=softwrap("""
            Notebook cells carrying this tag (cell metadata `tags`) are removed before serving,
            so that training, exploration and plotting cells can stay in the notebook.
            """),
    )
    base_image = StrOption(
        default=None,
        help=softwrap("""
            The base image of `notebook_api` targets without a `base_image` field: a registry
            reference pinned by digest (`host/repository@sha256:...`), or the path, relative to
            the build root, of a local OCI image layout, OCI archive or docker-archive. Without
            one, `pants package` builds only the PEX, not the `.image.tar`.
            """),
    )


class ApizrTools(PythonToolRequirementsBase):
    options_scope = "apizr-tools"
    help = softwrap("""
        The Python tools that convert, analyze and scan notebooks: nbconvert, nbformat, black,
        docstring-parser and detect-secrets, run on the services' interpreter (CPython 3.11) in a
        sandbox.

        Install them from one of your resolves with `install_from_resolve`: apizr ships no
        lockfile of its own, so that no package index address is baked into your repository.
        """)

    default_version = "nbconvert>=7.16"
    default_extra_requirements = [
        "nbformat>=5.10",
        "black>=24.1",
        "docstring-parser>=0.16",
        "detect-secrets>=1.5",
    ]
    default_requirements = [default_version, *default_extra_requirements]
    # They parse the services' code, so they run on the services' interpreter; by default the
    # constraints of the resolve named by `install_from_resolve`.
    register_interpreter_constraints = True
    default_interpreter_constraints = ["CPython==3.11.*"]
    # Never read: `install_from_resolve` is required (checked where the tool is built).
    default_lockfile_resource = ("apizr", "tools.lock")


def rules():
    return [*Apizr.rules(), *ApizrTools.rules()]

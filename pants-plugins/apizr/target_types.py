"""The `notebook_api` target: a notebook (or Python module) served as an HTTP API."""

from __future__ import annotations

from typing import Optional

from pants.backend.python.target_types import InterpreterConstraintsField, PythonResolveField
from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    BoolField,
    Dependencies,
    IntField,
    InvalidFieldException,
    SingleSourceField,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.strutil import help_text


class NotebookSourceField(SingleSourceField):
    alias = "source"
    expected_file_extensions = (".ipynb", ".py")
    help = help_text("""
        The Jupyter notebook (`.ipynb`) or plain Python module (`.py`) to serve.

        A notebook is converted to a Python module first: markdown, outputs, IPython magics,
        shell escapes, display-only trailing expressions and cells tagged with
        `[apizr].skip_tag` (default `skip-api`) are removed. A `.py` source is served as it is.
        """)


class NotebookApiDependenciesField(Dependencies):
    help = help_text("""
        Addresses of what the service needs besides what is inferred from the source's
        imports: typically `resource()` targets holding model artifacts or data files, which are
        packaged beside the module so that the relative paths the notebook used keep working.
        """)


class EndpointsField(StringSequenceField):
    alias = "endpoints"
    help = help_text("""
        The functions to serve, each as `POST /<name>`. By default every public top-level
        function defined in the source is served (not imported names, not names starting with
        `_`). Naming a function that does not exist is an error.
        """)


class ApiVersionField(StringField):
    alias = "version"
    default = "0.1.0"
    help = "The API version shown in the OpenAPI document."


class PortField(IntField):
    alias = "port"
    default = 8080
    help = "The port the server binds to; `$PORT` overrides it at run time."

    @classmethod
    def compute_value(cls, raw_value: Optional[int], address: Address) -> int:
        value = super().compute_value(raw_value, address)
        if not 0 < value < 65536:
            raise InvalidFieldException(f"{address}: `port` must be in 1..65535, got {value}")
        return value


class PositiveIntField(IntField):
    @classmethod
    def compute_value(cls, raw_value: Optional[int], address: Address) -> int:
        value = super().compute_value(raw_value, address)
        if value < 1:
            raise InvalidFieldException(f"{address}: `{cls.alias}` must be >= 1, got {value}")
        return value


class WorkersField(PositiveIntField):
    alias = "workers"
    default = 2
    help = help_text("""
        How many uvicorn worker processes gunicorn runs. `$WEB_CONCURRENCY` overrides it at run
        time. Each worker loads the module (and so the model) once.
        """)


class TimeoutField(PositiveIntField):
    alias = "timeout"
    default = 60
    help = help_text("""
        Seconds a worker may be silent before gunicorn kills and restarts it.
        `$APIZR_TIMEOUT` overrides it at run time.
        """)


class GracefulTimeoutField(PositiveIntField):
    alias = "graceful_timeout"
    default = 30
    help = help_text("""
        Seconds workers get to finish in-flight requests after SIGTERM before they are killed.
        `$APIZR_GRACEFUL_TIMEOUT` overrides it at run time.
        """)


class KeepaliveField(PositiveIntField):
    alias = "keepalive"
    default = 5
    help = help_text("""
        Seconds an idle HTTP keep-alive connection stays open. `$APIZR_KEEPALIVE` overrides it
        at run time.
        """)


class PreloadField(BoolField):
    alias = "preload"
    default = False
    help = help_text("""
        Load the module once in gunicorn's master before forking the workers, instead of once
        in each worker. Saves memory with large models (copy-on-write), but a slow load then
        delays the whole server and `/readyz` has no loading phase. `$APIZR_PRELOAD` overrides
        it at run time.
        """)


class NotebookApiTarget(Target):
    alias = "notebook_api"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        NotebookSourceField,
        NotebookApiDependenciesField,
        EndpointsField,
        ApiVersionField,
        PortField,
        WorkersField,
        TimeoutField,
        GracefulTimeoutField,
        KeepaliveField,
        PreloadField,
        PythonResolveField,
        InterpreterConstraintsField,
        OutputPathField,
    )
    help = help_text("""
        A Jupyter notebook or Python module served as an HTTP API.

        `pants package` writes a PEX that serves every endpoint with gunicorn managing uvicorn
        workers (`POST /<function>` with a JSON object of its parameters; OpenAPI at `/docs`;
        `/healthz` and `/readyz` probes). `pants run` serves it locally; `pants export-codegen`
        writes the converted module and the generated app. Third-party and first-party
        dependencies are inferred from the source's imports.
        """)

"""Shared set-up and helpers of the apizr backend's RuleRunner tests.

`RuleRunner` ignores pants.toml, so everything the backend needs to build its tools' PEX offline
is passed as options here: the local pex CLI and wheelhouse of the real checkout (found through
`APIZR_BUILDROOT`, which `[test].extra_env_vars` sets), and the checkout's lockfiles, copied into
the RuleRunner's build root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pytest
from pants.backend.python import target_types_rules
from pants.backend.python.dependency_inference import module_mapper
from pants.backend.python.target_types import (
    PythonRequirementTarget,
    PythonSourcesGeneratorTarget,
    PythonSourceTarget,
)
from pants.backend.python.util_rules import pex, pex_from_targets, python_sources
from pants.core.goals import package as package_goal
from pants.core.goals import run as run_goal
from pants.core.target_types import FileTarget, ResourcesGeneratorTarget, ResourceTarget
from pants.core.util_rules import source_files, stripped_source_files
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import Digest, DigestContents, FileContent
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import (
    DependenciesRequest,
    GeneratedSources,
    HydratedSources,
    HydrateSourcesRequest,
    InferredDependencies,
    Target,
)
from pants.option.config import Config
from pants.testutil.rule_runner import QueryRule, RuleRunner

from apizr import register
from apizr.analyze import AnalyzeModuleRequest, ApiSpec
from apizr.convert import ConvertedModule, ConvertNotebookRequest
from apizr.dependencies import InferNotebookApiDependencies
from apizr.generate import GenerateApiFromNotebookRequest
from apizr.target_types import NotebookSourceField
from apizr.tools import NotebookApiError

# What the serving stack needs from a resolve (apizr.dependencies.SERVING_MODULES), and a
# third-party library for the notebooks to import.
SERVING_REQUIREMENTS = (
    "fastapi",
    "pydantic",
    "pydantic-core",
    "starlette",
    "gunicorn",
    "uvicorn",
    "uvicorn-worker",
)
SERVICES_BUILD = "\n".join(
    f'python_requirement(name="{name}", requirements=["{name}"], resolve="services")'
    # uvloop: an optional part of the serving stack (httptools, the other one, is left out).
    for name in (*SERVING_REQUIREMENTS, "uvloop", "numpy")
) + (
    # A resolve that has a library but not the serving stack.
    '\npython_requirement(name="numpy-bare", requirements=["numpy"], resolve="bare")\n'
)


def apizr_buildroot() -> Path:
    root = os.environ.get("APIZR_BUILDROOT")
    if not root:
        pytest.fail("APIZR_BUILDROOT is not set: run these tests with `./pants test`")
    return Path(root)


def workspace_options(root: Path) -> list[str]:
    """The options of the checkout's pants.toml that these tests need, read with Pants' parser."""
    config = Config.load(
        [FileContent("pants.toml", (root / "pants.toml").read_bytes())],
        seed_values={"buildroot": str(root)},
    )

    def value(section: str, option: str) -> str:
        values = config.get(section, option)
        assert values, f"pants.toml has no [{section}].{option}"
        return values[-1]

    # The pex CLI as pinned there, and the wheelhouse instead of any package index: with
    # %(buildroot)s interpolated, they are absolute paths into the checkout.
    url_template = value("pex-cli", "url_template")
    assert url_template == f"file://{root}/.bootstrap/pex", url_template
    assert (root / ".bootstrap" / "pex").is_file(), "run ./pants once to bootstrap the pex CLI"
    assert (root / ".bootstrap" / "wheelhouse").is_dir(), "run ./pants once to fill the wheelhouse"
    assert value("python-repos", "indexes") == "[]"
    return [
        f"--pex-cli-version={value('pex-cli', 'version')}",
        f"--pex-cli-known-versions={value('pex-cli', 'known_versions')}",
        f"--pex-cli-url-template={url_template}",
        "--python-repos-indexes=[]",
        f"--python-repos-find-links={value('python-repos', 'find_links')}",
        f"--python-repos-path-mappings={value('python-repos', 'path_mappings')}",
        "--apizr-tools-install-from-resolve=tools",
        f"--apizr-tools-requirements={value('apizr-tools', 'requirements')}",
    ]


def rule_runner_options(root: Path) -> list[str]:
    resolves = {
        "services": "3rdparty/python/services.lock",
        "tools": "3rdparty/python/tools.lock",
        "bare": "3rdparty/python/bare.lock",
    }
    constraints = {name: ["CPython==3.11.*"] for name in resolves}
    return [
        *workspace_options(root),
        "--python-interpreter-constraints=['CPython==3.11.*']",
        "--python-enable-resolves",
        "--python-default-resolve=services",
        f"--python-resolves={resolves!r}",
        f"--python-resolves-to-interpreter-constraints={constraints!r}",
        "--python-infer-unowned-dependency-behavior=error",
        "--source-root-patterns=['/src', '/3rdparty']",
    ]


def make_rule_runner(extra_options: Iterable[str] = (), extra_rules: Iterable = ()) -> RuleRunner:
    rule_runner = RuleRunner(
        rules=[
            *register.rules(),
            *extra_rules,
            *pex.rules(),
            *python_sources.rules(),
            *target_types_rules.rules(),
            *module_mapper.rules(),
            *pex_from_targets.rules(),
            *package_goal.rules(),
            *run_goal.rules(),
            *source_files.rules(),
            *stripped_source_files.rules(),
            QueryRule(ConvertedModule, [ConvertNotebookRequest]),
            QueryRule(ApiSpec, [AnalyzeModuleRequest]),
            QueryRule(GeneratedSources, [GenerateApiFromNotebookRequest]),
            QueryRule(HydratedSources, [HydrateSourcesRequest]),
            QueryRule(InferredDependencies, [InferNotebookApiDependencies]),
            QueryRule(DigestContents, [Digest]),
            QueryRule(Addresses, [DependenciesRequest]),
        ],
        target_types=[
            *register.target_types(),
            PythonRequirementTarget,
            PythonSourcesGeneratorTarget,
            PythonSourceTarget,
            ResourceTarget,
            ResourcesGeneratorTarget,
            FileTarget,
        ],
    )
    root = apizr_buildroot()
    lockfiles = root / "3rdparty" / "python"
    services_lock = (lockfiles / "services.lock").read_text()
    rule_runner.write_files(
        {
            "3rdparty/python/tools.lock": (lockfiles / "tools.lock").read_text(),
            "3rdparty/python/services.lock": services_lock,
            # Never read: dependency inference only needs the resolve's targets.
            "3rdparty/python/bare.lock": services_lock,
            "3rdparty/python/BUILD": SERVICES_BUILD,
        }
    )
    # An extra option replaces the default one of the same name.
    options = {arg.split("=", 1)[0]: arg for arg in (*rule_runner_options(root), *extra_options)}
    rule_runner.set_options(options.values(), env_inherit={"PATH", "PYENV_ROOT", "HOME"})
    return rule_runner


def notebook_json(*cells: Mapping, language: str = "python") -> str:
    """An nbformat 4.5 notebook with the given cells (see `code` and `markdown`)."""
    notebook = {
        "cells": [{"id": f"cell-{index}", **cell} for index, cell in enumerate(cells, start=1)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": language, "name": "python3"},
            "language_info": {"name": language},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def code(source: str, *, tags: Iterable[str] = (), outputs: Iterable[Mapping] = (), count=None):
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": {"tags": list(tags)} if tags else {},
        "outputs": list(outputs),
        "source": source.splitlines(keepends=True),
    }


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source.splitlines(keepends=True)}


def stream_output(text: str) -> dict:
    return {"name": "stdout", "output_type": "stream", "text": [text]}


def get_target(rule_runner: RuleRunner, spec_path: str, name: str) -> Target:
    return rule_runner.get_target(Address(spec_path, target_name=name))


def convert(rule_runner: RuleRunner, spec_path: str, name: str) -> ConvertedModule:
    target = get_target(rule_runner, spec_path, name)
    return rule_runner.request(
        ConvertedModule, [ConvertNotebookRequest(target[NotebookSourceField])]
    )


def digest_files(rule_runner: RuleRunner, digest: Digest) -> dict[str, str]:
    contents = rule_runner.request(DigestContents, [digest])
    return {entry.path: entry.content.decode("utf-8") for entry in contents}


def engine_failure(run: Callable[[], object]) -> tuple[ExecutionError, str]:
    """Run `run()`, which must fail with a NotebookApiError; return it and its message."""
    with pytest.raises(ExecutionError) as excinfo:
        run()
    error = excinfo.value
    wrapped = [e for e in error.wrapped_exceptions if isinstance(e, NotebookApiError)]
    assert wrapped, f"expected a NotebookApiError, got: {error.wrapped_exceptions!r}\n{error}"
    return error, str(wrapped[0])


def assert_no_script_traceback(error: ExecutionError, message: str) -> None:
    """The user sees apizr's own message, not a Python traceback of the convert/analyze script."""
    assert "Traceback" not in message, message
    for script in ("convert_notebook.py", "analyze_module.py"):
        assert script not in message, message
        assert script not in str(error), str(error)
    assert "failed unexpectedly" not in message, message

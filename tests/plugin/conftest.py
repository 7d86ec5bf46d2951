"""Shared set-up of the apizr backend's RuleRunner tests.

`RuleRunner` ignores pants.toml, so everything the backend needs to build its tools' PEX offline
is passed as options here: the local pex CLI and wheelhouse of the real checkout (found through
`APIZR_BUILDROOT`, which `[test].extra_env_vars` sets), and the checkout's lockfiles, copied into
the RuleRunner's build root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pants.backend.python import target_types_rules
from pants.backend.python.dependency_inference import module_mapper
from pants.backend.python.target_types import (
    PythonRequirementTarget,
    PythonSourcesGeneratorTarget,
    PythonSourceTarget,
)
from pants.backend.python.util_rules import pex, pex_from_targets, python_sources
from pants.core.target_types import (
    FileTarget,
    ResourcesGeneratorTarget,
    ResourceTarget,
)
from pants.core.goals import package, run
from pants.core.util_rules import source_files, stripped_source_files
from pants.engine.fs import Digest, DigestContents, FileContent
from pants.engine.target import (
    GeneratedSources,
    HydratedSources,
    HydrateSourcesRequest,
    InferredDependencies,
)
from pants.option.config import Config
from pants.testutil.rule_runner import QueryRule, RuleRunner

from apizr import register
from apizr.analyze import AnalyzeModuleRequest, ApiSpec
from apizr.convert import ConvertedModule, ConvertNotebookRequest
from apizr.dependencies import InferNotebookApiDependencies
from apizr.generate import GenerateApiFromNotebookRequest

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
    for name in (*SERVING_REQUIREMENTS, "numpy")
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

    # The pex CLI as pinned there, but from an absolute path (no %(buildroot)s here).
    url_template = value("pex-cli", "url_template")
    assert url_template.startswith("file:///"), url_template
    wheelhouse = root / ".bootstrap" / "wheelhouse"
    assert (root / ".bootstrap" / "pex").is_file(), "run ./pants once to bootstrap the pex CLI"
    assert wheelhouse.is_dir(), "run ./pants once to fill the wheelhouse"
    return [
        f"--pex-cli-version={value('pex-cli', 'version')}",
        f"--pex-cli-known-versions={value('pex-cli', 'known_versions')}",
        f"--pex-cli-url-template={url_template}",
        "--python-repos-indexes=[]",
        f"--python-repos-find-links=['file://{wheelhouse}']",
        f"--python-repos-path-mappings=['WHEELHOUSE|{wheelhouse}']",
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


def make_rule_runner() -> RuleRunner:
    rule_runner = RuleRunner(
        rules=[
            *register.rules(),
            *pex.rules(),
            *python_sources.rules(),
            *target_types_rules.rules(),
            *module_mapper.rules(),
            *pex_from_targets.rules(),
            *package.rules(),
            *run.rules(),
            *source_files.rules(),
            *stripped_source_files.rules(),
            QueryRule(ConvertedModule, [ConvertNotebookRequest]),
            QueryRule(ApiSpec, [AnalyzeModuleRequest]),
            QueryRule(GeneratedSources, [GenerateApiFromNotebookRequest]),
            QueryRule(HydratedSources, [HydrateSourcesRequest]),
            QueryRule(InferredDependencies, [InferNotebookApiDependencies]),
            QueryRule(DigestContents, [Digest]),
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
    rule_runner.set_options(
        rule_runner_options(root), env_inherit={"PATH", "PYENV_ROOT", "HOME"}
    )
    return rule_runner


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    """One RuleRunner per test module: the tools' PEX is built once and its results memoized."""
    return make_rule_runner()

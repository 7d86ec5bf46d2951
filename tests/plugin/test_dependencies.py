"""Dependency inference for `notebook_api`: the source's imports and the serving stack."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address, Addresses
from pants.engine.target import DependenciesRequest, InferredDependencies
from pants.testutil.rule_runner import RuleRunner

from apizr.dependencies import InferNotebookApiDependencies, NotebookApiInferenceFieldSet
from apizr.target_types import NotebookApiDependenciesField
from plugin.helpers import (
    SERVING_REQUIREMENTS,
    assert_no_script_traceback,
    code,
    engine_failure,
    get_target,
    make_rule_runner,
    notebook_json,
)

DIR = "src/deps"


def requirement(name: str) -> Address:
    return Address("3rdparty/python", target_name=name)


# Serving stack of the `services` resolve, uvloop included (optional, present), httptools not.
SERVING = {requirement(name) for name in (*SERVING_REQUIREMENTS, "uvloop")}
HELPERS = Address("src/lib", target_name="lib", relative_file_path="helpers.py")

BUILD = """\
notebook_api(name="numpy_user", source="numpy_user.ipynb")
notebook_api(name="plain", source="plain.py")
notebook_api(name="first_party", source="first_party.ipynb")
notebook_api(name="unowned", source="unowned.ipynb")
notebook_api(name="bare", source="numpy_user.ipynb", resolve="bare")
resource(name="weights", source="weights.csv")
notebook_api(name="explicit", source="numpy_user.ipynb", dependencies=[":weights"])
"""


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            f"{DIR}/BUILD": BUILD,
            f"{DIR}/numpy_user.ipynb": notebook_json(
                code("import os\nimport numpy as np"),
                code("def total(values: list[float]) -> float:\n    return float(np.sum(values))"),
            ),
            f"{DIR}/plain.py": "import json\n\nimport numpy\n\n\ndef f(x: int) -> int:\n    return x\n",
            f"{DIR}/first_party.ipynb": notebook_json(
                code(
                    "from lib.helpers import scale\n\n\ndef f(x: float) -> float:\n    return scale(x)"
                )
            ),
            f"{DIR}/unowned.ipynb": notebook_json(
                code("import numpy\nimport not_a_package\nfrom sklearn.linear_model import Ridge"),
                code("def f(x: int) -> int:\n    return x"),
            ),
            f"{DIR}/weights.csv": "w\n1\n",
            "src/lib/BUILD": "python_sources()\n",
            "src/lib/helpers.py": "def scale(x: float) -> float:\n    return 2 * x\n",
        }
    )
    return rule_runner


def infer(rule_runner: RuleRunner, spec_path: str, name: str) -> set[Address]:
    target = get_target(rule_runner, spec_path, name)
    inferred = rule_runner.request(
        InferredDependencies,
        [InferNotebookApiDependencies(NotebookApiInferenceFieldSet.create(target))],
    )
    assert not inferred.exclude
    return set(inferred.include)


def test_third_party_import(rule_runner: RuleRunner) -> None:
    assert infer(rule_runner, DIR, "numpy_user") == {*SERVING, requirement("numpy")}


def test_python_source(rule_runner: RuleRunner) -> None:
    assert infer(rule_runner, DIR, "plain") == {*SERVING, requirement("numpy")}


def test_first_party_import(rule_runner: RuleRunner) -> None:
    assert infer(rule_runner, DIR, "first_party") == {*SERVING, HELPERS}


def test_dependencies_of_the_target(rule_runner: RuleRunner) -> None:
    """What Pants itself sees (`pants dependencies`): explicit and inferred dependencies."""
    target = get_target(rule_runner, DIR, "explicit")
    addresses = rule_runner.request(
        Addresses, [DependenciesRequest(target[NotebookApiDependenciesField])]
    )
    assert set(addresses) == {
        *SERVING,
        requirement("numpy"),
        Address(DIR, target_name="weights"),
    }


def test_unowned_import(rule_runner: RuleRunner) -> None:
    error, message = engine_failure(lambda: infer(rule_runner, DIR, "unowned"))
    assert_no_script_traceback(error, message)
    assert message == (
        f"{DIR}/unowned.ipynb imports `not_a_package`, `sklearn.linear_model.Ridge`, which no"
        " target in the resolve `services` provides: add a requirement or a first-party target"
        " for it."
    )


def test_unowned_import_when_allowed() -> None:
    rule_runner = make_rule_runner(
        extra_options=["--python-infer-unowned-dependency-behavior=ignore"]
    )
    rule_runner.write_files(
        {
            f"{DIR}/BUILD": 'notebook_api(name="unowned", source="unowned.ipynb")\n',
            f"{DIR}/unowned.ipynb": notebook_json(
                code("import numpy\nimport not_a_package\n\n\ndef f(x: int) -> int:\n    return x")
            ),
        }
    )
    assert infer(rule_runner, DIR, "unowned") == {*SERVING, requirement("numpy")}


def test_missing_serving_requirements(rule_runner: RuleRunner) -> None:
    error, message = engine_failure(lambda: infer(rule_runner, DIR, "bare"))
    assert_no_script_traceback(error, message)
    assert message == (
        f"{DIR}:bare: the resolve `bare` must provide the serving stack; add fastapi, pydantic,"
        " pydantic-core, starlette, gunicorn, uvicorn, uvicorn-worker to its requirements and"
        " regenerate its lockfile."
    )


def test_one_missing_serving_requirement() -> None:
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            "3rdparty/python/BUILD": "\n".join(
                f'python_requirement(name="{name}", requirements=["{name}"])'
                for name in SERVING_REQUIREMENTS
                if name != "uvicorn-worker"
            ),
            f"{DIR}/BUILD": 'notebook_api(name="api", source="api.py")\n',
            f"{DIR}/api.py": "def f(x: int) -> int:\n    return x\n",
        }
    )
    error, message = engine_failure(lambda: infer(rule_runner, DIR, "api"))
    assert message == (
        f"{DIR}:api: the resolve `services` must provide the serving stack; add uvicorn-worker to"
        " its requirements and regenerate its lockfile."
    )


def test_ambiguous_serving_requirement_disambiguated_by_dependencies() -> None:
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            "src/amb/BUILD": (
                'python_requirement(name="fastapi-a", requirements=["fastapi"])\n'
                'python_requirement(name="fastapi-b", requirements=["fastapi"])\n'
                'notebook_api(name="api", source="api.py", dependencies=[":fastapi-a"])\n'
            ),
            "src/amb/api.py": "def f(x: int) -> int:\n    return x\n",
        }
    )
    target = get_target(rule_runner, "src/amb", "api")
    addresses = rule_runner.request(
        Addresses, [DependenciesRequest(target[NotebookApiDependenciesField])]
    )
    assert Address("src/amb", target_name="fastapi-a") in set(addresses)

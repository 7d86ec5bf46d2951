"""The analyze step through the backend's `ApiSpec` rule: specs of notebooks and modules, refusals."""

from __future__ import annotations

import pytest
from pants.testutil.rule_runner import RuleRunner

from apizr.analyze import AnalyzeModuleRequest, ApiSpec
from plugin.helpers import (
    assert_no_script_traceback,
    code,
    convert,
    engine_failure,
    make_rule_runner,
    markdown,
    notebook_json,
)

DIR = "src/analyze"

CHURN = notebook_json(
    markdown("# Churn\nScores customers."),
    code(
        "import json\n"
        "import os.path\n"
        "from collections import OrderedDict\n"
        "from typing import Optional\n"
        "\n"
        "import numpy as np\n"
        "from pydantic import BaseModel, Field\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "\n"
        "from . import sibling"
    ),
    code(
        "class Customer(BaseModel):\n"
        "    tenure: int = Field(..., ge=0)\n"
        "    plan: Optional[str] = None\n"
        "\n"
        "\n"
        "def _helper(x):\n"
        "    return x"
    ),
    code(
        "def predict(\n"
        "    customer: Customer, threshold: float = 0.5, *, explain: bool = False\n"
        ") -> float:\n"
        '    """Predict the churn probability.\n'
        "\n"
        "    Scores one customer with the model.\n"
        "\n"
        "    Lower the threshold to catch more churners.\n"
        "\n"
        "    Args:\n"
        "        customer: The customer to score.\n"
        "        threshold: Decision threshold.\n"
        "\n"
        "    Returns:\n"
        "        Probability between 0 and 1.\n"
        '    """\n'
        "    import pandas as pd\n"
        "\n"
        "    return 0.5"
    ),
    code("x = 1", tags=["skip-api"]),
    code(
        "from math import sqrt\n"
        "\n"
        "\n"
        "async def health(verbose=False):\n"
        "    return {'ok': True, 'root': sqrt(4)}"
    ),
)

TEXTSTATS = '''\
"""Text statistics, served from a plain module."""
import re
import numpy

WORD = re.compile(r"\\w+")


def count_words(text: str, minimum: int = 1) -> dict[str, int]:
    """Count the words of a text.

    :param text: The text to split.
    :param minimum: Leave out words seen fewer times.
    :returns: Each word with its count.
    """
    return {}


def _private() -> None:
    pass


def shout(text):
    return text.upper()
'''

REFUSED = {
    "varargs": notebook_json(
        code("import math"),
        code(
            "def predict(\n" "    x: int,\n" "    *args,\n" "    **options,\n" "):\n" "    return x"
        ),
    ),
    "no_endpoints": notebook_json(
        code("import math\n\n\ndef _private(x):\n    return x\n\n\nclass Model:\n    pass"),
        code("from os.path import join"),
    ),
    "blocking": notebook_json(
        markdown("Asks at import time."),
        code("def greet(name: str) -> str:\n    return name"),
        code(
            "if True:\n"
            "    name = input('Who?')\n"
            "\n"
            "\n"
            "def later() -> str:\n"
            "    return input('fine inside a function')\n"
            "\n"
            "\n"
            "if __name__ == '__main__':\n"
            "    input('fine under the main guard')"
        ),
    ),
    # The converted module is reformatted (magics removed, black), which must not move the
    # locations reported to the user away from the notebook's own lines.
    "shifted_error": notebook_json(
        code("%load_ext autoreload\n%autoreload 2\n\ndef predict(*args):\n    return 1"),
    ),
    "shifted_endpoint": notebook_json(
        code("%matplotlib inline\nimport math\ndef predict(x: int) -> int:\n    return x"),
    ),
}


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner()
    notebooks = {"churn": CHURN, **REFUSED}
    rule_runner.write_files(
        {
            f"{DIR}/BUILD": "".join(
                f'notebook_api(name="{name}", source="{name}.ipynb")\n' for name in notebooks
            )
            + 'notebook_api(name="textstats", source="textstats.py")\n',
            f"{DIR}/textstats.py": TEXTSTATS,
            **{f"{DIR}/{name}.ipynb": content for name, content in notebooks.items()},
        }
    )
    return rule_runner


def analyze(rule_runner: RuleRunner, name: str, **kwargs) -> dict:
    module = convert(rule_runner, DIR, name)
    return rule_runner.request(ApiSpec, [AnalyzeModuleRequest(module, **kwargs)]).data


def refusal(rule_runner: RuleRunner, name: str, **kwargs) -> list[str]:
    error, message = engine_failure(lambda: analyze(rule_runner, name, **kwargs))
    assert_no_script_traceback(error, message)
    return message.splitlines()


def test_spec_of_a_notebook(rule_runner: RuleRunner) -> None:
    assert analyze(rule_runner, "churn") == {
        "apizr_spec_version": 1,
        "source": f"{DIR}/churn.ipynb",
        "endpoints": [
            {
                "name": "predict",
                "is_async": False,
                "summary": "Predict the churn probability.",
                "description": (
                    "Scores one customer with the model.\n\n"
                    "Lower the threshold to catch more churners."
                ),
                "parameters": [
                    {
                        "name": "customer",
                        "annotation": "Customer",
                        "has_default": False,
                        "default": None,
                        "description": "The customer to score.",
                    },
                    {
                        "name": "threshold",
                        "annotation": "float",
                        "has_default": True,
                        "default": "0.5",
                        "description": "Decision threshold.",
                    },
                    {
                        "name": "explain",
                        "annotation": "bool",
                        "has_default": True,
                        "default": "False",
                        "description": None,
                    },
                ],
                "returns": "float",
                "returns_description": "Probability between 0 and 1.",
                "location": {"cell": 4, "line": 1},
            },
            {
                "name": "health",
                "is_async": True,
                "summary": None,
                "description": None,
                "parameters": [
                    {
                        "name": "verbose",
                        "annotation": None,
                        "has_default": True,
                        "default": "False",
                        "description": None,
                    }
                ],
                "returns": None,
                "returns_description": None,
                "location": {"cell": 6, "line": 4},
            },
        ],
        # No standard library (json, os.path, collections, typing, math), no relative import;
        # imports inside functions count.
        "imports": [
            "numpy",
            "pandas",
            "pydantic.BaseModel",
            "pydantic.Field",
            "sklearn.linear_model.LogisticRegression",
        ],
        "file_references": [],
    }


def test_spec_of_a_python_module(rule_runner: RuleRunner) -> None:
    module = convert(rule_runner, DIR, "textstats")
    assert (module.path, module.source_path, module.is_notebook) == (
        f"{DIR}/textstats.py",
        f"{DIR}/textstats.py",
        False,
    )
    spec = analyze(rule_runner, "textstats")
    assert spec["source"] == f"{DIR}/textstats.py"
    assert spec["imports"] == ["numpy"]
    assert [endpoint["name"] for endpoint in spec["endpoints"]] == ["count_words", "shout"]
    count_words, shout = spec["endpoints"]
    assert count_words["location"] == {"cell": None, "line": 8}
    assert count_words["summary"] == "Count the words of a text."
    assert count_words["returns"] == "dict[str, int]"
    assert count_words["returns_description"] == "Each word with its count."
    assert [
        (p["name"], p["annotation"], p["default"], p["description"])
        for p in count_words["parameters"]
    ] == [
        ("text", "str", None, "The text to split."),
        ("minimum", "int", "1", "Leave out words seen fewer times."),
    ]
    assert shout["location"] == {"cell": None, "line": 22}
    assert (shout["summary"], shout["parameters"][0]["annotation"], shout["returns"]) == (
        None,
        None,
        None,
    )


def test_endpoints_selects_functions(rule_runner: RuleRunner) -> None:
    spec = analyze(rule_runner, "churn", endpoints=("health",))
    assert [endpoint["name"] for endpoint in spec["endpoints"]] == ["health"]
    # Private functions can be served when named.
    spec = analyze(rule_runner, "no_endpoints", endpoints=("_private",))
    assert [endpoint["name"] for endpoint in spec["endpoints"]] == ["_private"]


def test_imports_only_does_not_judge_endpoints(rule_runner: RuleRunner) -> None:
    spec = analyze(rule_runner, "blocking", imports_only=True)
    assert "endpoints" not in spec
    assert spec["imports"] == []
    assert analyze(rule_runner, "no_endpoints", imports_only=True)["imports"] == []


def test_varargs_are_refused(rule_runner: RuleRunner) -> None:
    supported = "is not supported: an endpoint needs a fixed set of named parameters"
    assert refusal(rule_runner, "varargs") == [
        f"apizr: {DIR}/varargs.ipynb, cell 2, line 3: endpoint predict(): '*args' {supported}",
        f"apizr: {DIR}/varargs.ipynb, cell 2, line 4: endpoint predict(): '**options' {supported}",
    ]


def test_no_endpoints(rule_runner: RuleRunner) -> None:
    assert refusal(rule_runner, "no_endpoints") == [
        f"apizr: {DIR}/no_endpoints.ipynb: no endpoints: define a public top-level function (its"
        " name not starting with '_'), or name the functions to serve in the target's"
        " `endpoints` field"
    ]


def test_unknown_endpoint_name(rule_runner: RuleRunner) -> None:
    assert refusal(rule_runner, "churn", endpoints=("predict", "predcit", "Customer")) == [
        f"apizr: {DIR}/churn.ipynb: endpoint 'predcit' is not a top-level function of the module",
        f"apizr: {DIR}/churn.ipynb: endpoint 'Customer' is not a top-level function of the module",
    ]


def test_top_level_input_is_refused(rule_runner: RuleRunner) -> None:
    assert refusal(rule_runner, "blocking") == [
        f"apizr: {DIR}/blocking.ipynb, cell 3, line 2: input() at the top level waits for"
        " keyboard input, which blocks the server at start-up: remove it or move it into a"
        " function"
    ]


def test_refusal_line_is_the_notebook_line(rule_runner: RuleRunner) -> None:
    # `def predict(*args):` is line 4 of the cell as the user sees it.
    (line,) = refusal(rule_runner, "shifted_error")
    assert line.startswith(f"apizr: {DIR}/shifted_error.ipynb, cell 1, line 4: "), line


def test_endpoint_location_is_the_notebook_line(rule_runner: RuleRunner) -> None:
    (endpoint,) = analyze(rule_runner, "shifted_endpoint")["endpoints"]
    assert endpoint["location"] == {"cell": 1, "line": 3}

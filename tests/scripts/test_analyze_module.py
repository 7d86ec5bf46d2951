"""Tests of analyze_module.py: the spec it writes and the modules it refuses."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from apizr.scripts import analyze_module, convert_notebook

NOTEBOOKS = Path(__file__).parent / "notebooks"
DISPLAY_NAME = "src/app.py"


class Analyzer:
    """Runs the CLI in-process on a module written from source text."""

    def __init__(self, directory: Path, capsys: pytest.CaptureFixture) -> None:
        self.module, self.output = directory / "app.py", directory / "spec.json"
        self.capsys = capsys

    def run(self, source: str, *options: str) -> tuple[int, list[str], dict | None]:
        """(exit code, stderr lines, spec or None)."""
        self.module.write_text(textwrap.dedent(source), encoding="utf-8")
        self.output.unlink(missing_ok=True)
        argv = [str(self.module), "--display-name", DISPLAY_NAME, "--output", str(self.output)]
        code = analyze_module.main([*argv, *options])
        errors = self.capsys.readouterr().err.splitlines()
        spec = json.loads(self.output.read_text("utf-8")) if self.output.exists() else None
        return code, errors, spec

    def spec(self, source: str, *options: str) -> dict:
        code, errors, spec = self.run(source, *options)
        assert (code, errors) == (0, [])
        return spec

    def problems(self, source: str, *options: str) -> list[str]:
        code, errors, spec = self.run(source, *options)
        assert (code, spec) == (2, None)
        return errors


@pytest.fixture
def analyzer(tmp_path: Path, capsys: pytest.CaptureFixture) -> Analyzer:
    return Analyzer(tmp_path, capsys)


def endpoint(spec: dict, name: str) -> dict:
    (found,) = [endpoint for endpoint in spec["endpoints"] if endpoint["name"] == name]
    return found


def test_spec_of_a_plain_module(analyzer: Analyzer) -> None:
    spec = analyzer.spec(
        '''\
        import joblib

        model = joblib.load("model.joblib")


        def predict(x: float, threshold: float = 0.5) -> float:
            """Predict the thing."""
            return model.predict([[x]])[0]
        ''',
    )
    assert spec == {
        "apizr_spec_version": 1,
        "source": DISPLAY_NAME,
        "endpoints": [
            {
                "name": "predict",
                "is_async": False,
                "summary": "Predict the thing.",
                "description": None,
                "parameters": [
                    {
                        "name": "x",
                        "annotation": "float",
                        "has_default": False,
                        "default": None,
                        "description": None,
                    },
                    {
                        "name": "threshold",
                        "annotation": "float",
                        "has_default": True,
                        "default": "0.5",
                        "description": None,
                    },
                ],
                "returns": "float",
                "returns_description": None,
                "location": {"cell": None, "line": 6},
            }
        ],
        "imports": ["joblib"],
        "file_references": [{"path": "model.joblib", "location": {"cell": None, "line": 3}}],
    }
    text = analyzer.output.read_text()
    assert text == json.dumps(spec, indent=2, sort_keys=True) + "\n"


def test_which_functions_are_endpoints(analyzer: Analyzer) -> None:
    spec = analyzer.spec(
        """\
        from os.path import join
        import json as dumps


        def second(): ...
        def _private(): ...
        async def third(): ...
        class Model:
            def method(self): ...
        def first():
            def nested(): ...
        def second(x: int): ...  # redefined, as when a notebook cell is run again
        """,
    )
    assert [endpoint["name"] for endpoint in spec["endpoints"]] == ["third", "first", "second"]
    assert endpoint(spec, "second")["parameters"][0]["name"] == "x"
    assert endpoint(spec, "third")["is_async"] is True
    assert endpoint(spec, "first")["is_async"] is False


def test_endpoint_option(analyzer: Analyzer) -> None:
    source = "def a(): ...\ndef b(): ...\ndef _c(): ...\nclass D: ...\n"
    spec = analyzer.spec(source, "--endpoint", "_c", "--endpoint", "a")
    assert [endpoint["name"] for endpoint in spec["endpoints"]] == ["_c", "a"]
    assert analyzer.problems(source, "--endpoint", "a", "--endpoint", "D", "--endpoint", "x") == [
        "apizr: src/app.py: endpoint 'D' is not a top-level function of the module",
        "apizr: src/app.py: endpoint 'x' is not a top-level function of the module",
    ]


GOOGLE = '''
    """Predict the churn
    probability of a customer.

    Uses the logistic model.

    Second paragraph.

    Args:
        customer: The customer to score.
        threshold: Decision threshold,
            between 0 and 1.

    Returns:
        Probability between 0 and 1.

    Raises:
        ValueError: On a bad threshold.
    """
'''
NUMPY = '''
    """Predict the churn
    probability of a customer.

    Uses the logistic model.

    Second paragraph.

    Parameters
    ----------
    customer : Customer
        The customer to score.
    threshold : float, optional
        Decision threshold,
        between 0 and 1.

    Returns
    -------
    float
        Probability between 0 and 1.

    Raises
    ------
    ValueError
        On a bad threshold.
    """
'''
REST = '''
    """Predict the churn
    probability of a customer.

    Uses the logistic model.

    Second paragraph.

    :param customer: The customer to score.
    :param threshold: Decision threshold,
        between 0 and 1.
    :returns: Probability between 0 and 1.
    :raises ValueError: On a bad threshold.
    """
'''


@pytest.mark.parametrize("docstring", [GOOGLE, NUMPY, REST], ids=["google", "numpy", "rest"])
def test_docstring_styles(analyzer: Analyzer, docstring: str) -> None:
    source = f"def predict(customer, threshold=0.5):{textwrap.indent(docstring, '    ')}"
    predict = endpoint(analyzer.spec(source), "predict")
    assert predict["summary"] == "Predict the churn probability of a customer."
    assert predict["description"] == "Uses the logistic model.\n\nSecond paragraph."
    assert [parameter["description"] for parameter in predict["parameters"]] == [
        "The customer to score.",
        "Decision threshold,\nbetween 0 and 1.",
    ]
    assert predict["returns_description"] == "Probability between 0 and 1."


def test_annotations_and_defaults(analyzer: Analyzer) -> None:
    spec = analyzer.spec(
        """\
        from enum import Enum
        from typing import Annotated, Literal, Optional

        class Color(Enum):
            RED = "red"

        def paint(
            color: Color = Color.RED,
            finish: Literal["matte", "gloss"] = "matte",
            layers: dict[str, list[Optional[int]]] | None = None,
            ratio: Annotated[float, "0..1"] = 1 / 3,
            untyped=(1, 2),
            *,
            note: "Note",
            size,
        ) -> tuple[Color, int]: ...
        """,
    )
    parameters = endpoint(spec, "paint")["parameters"]
    assert [(p["name"], p["annotation"], p["has_default"], p["default"]) for p in parameters] == [
        ("color", "Color", True, "Color.RED"),
        ("finish", "Literal['matte', 'gloss']", True, "'matte'"),
        ("layers", "dict[str, list[Optional[int]]] | None", True, "None"),
        ("ratio", "Annotated[float, '0..1']", True, "1 / 3"),
        ("untyped", None, True, "(1, 2)"),
        ("note", "'Note'", False, None),
        ("size", None, False, None),
    ]
    assert endpoint(spec, "paint")["returns"] == "tuple[Color, int]"


def test_signature_refusals(analyzer: Analyzer) -> None:
    problems = analyzer.problems(
        """\
        def a(x, /, y): ...
        def b(*args): ...
        def c(**options): ...
        def d(json, _secret, model_config, fine): ...
        def _e(*ignored): ...  # not an endpoint
        """,
    )
    reserved = (
        "is reserved (names starting with '_' or 'model_' and pydantic BaseModel attributes"
        " cannot be request fields): rename it"
    )
    assert problems == [
        "apizr: src/app.py, line 1: endpoint a(): positional-only parameter 'x' (before '/') is"
        " not supported: requests pass parameters by name",
        "apizr: src/app.py, line 2: endpoint b(): '*args' is not supported: an endpoint needs a"
        " fixed set of named parameters",
        "apizr: src/app.py, line 3: endpoint c(): '**options' is not supported: an endpoint needs"
        " a fixed set of named parameters",
        f"apizr: src/app.py, line 4: endpoint d(): parameter name 'json' {reserved}",
        f"apizr: src/app.py, line 4: endpoint d(): parameter name '_secret' {reserved}",
        f"apizr: src/app.py, line 4: endpoint d(): parameter name 'model_config' {reserved}",
    ]


def test_no_endpoints(analyzer: Analyzer) -> None:
    assert analyzer.problems("from x import predict\ndef _helper(): ...\n") == [
        "apizr: src/app.py: no endpoints: define a public top-level function (its name not"
        " starting with '_'), or name the functions to serve in the target's `endpoints` field"
    ]


def test_blocking_calls_at_start_up(analyzer: Analyzer) -> None:
    problems = analyzer.problems(
        """\
        import getpass, pdb

        name = input("Name? ")
        if name:
            breakpoint()
        class Settings:
            password = getpass.getpass()
        for _ in range(1):
            pdb.set_trace()

        def serve(x: int) -> int:
            return int(input()) + x  # runs per request, not at start-up

        if __name__ == "__main__":
            input("Press enter")
        """,
    )
    blocks = "which blocks the server at start-up: remove it or move it into a function"
    assert problems == [
        f"apizr: src/app.py, line 3: input() at the top level waits for keyboard input, {blocks}",
        f"apizr: src/app.py, line 5: breakpoint() at the top level starts the debugger, {blocks}",
        "apizr: src/app.py, line 7: getpass.getpass() at the top level waits for a password,"
        f" {blocks}",
        f"apizr: src/app.py, line 9: pdb.set_trace() at the top level starts the debugger, {blocks}",
    ]


def test_all_problems_are_reported_together(analyzer: Analyzer) -> None:
    source = 'import joblib\ninput()\ndef f(*a): ...\njoblib.load("m.pkl")\n'
    problems = analyzer.problems(source, "--endpoint", "f", "--endpoint", "g", "--check-resources")
    assert [problem.split(": ")[1] for problem in problems] == [
        "src/app.py",
        "src/app.py, line 2",
        "src/app.py, line 3",
        "src/app.py, line 4",
    ]


def test_imports(analyzer: Analyzer) -> None:
    spec = analyzer.spec(
        """\
        from __future__ import annotations
        import os, sklearn.linear_model
        import numpy as np
        from pandas import DataFrame, read_csv as load
        from . import sibling
        from .helpers import util
        from pydantic import *

        def predict():
            import joblib
            from torch.nn import functional
            import os
        """,
    )
    # The standard library (`os`, `__future__`) needs no dependency and is left out.
    assert spec["imports"] == [
        "joblib",
        "numpy",
        "pandas.DataFrame",
        "pandas.read_csv",
        "pydantic",
        "sklearn.linear_model",
        "torch.nn.functional",
    ]


def test_file_references(analyzer: Analyzer) -> None:
    spec = analyzer.spec(
        """\
        import json, pickle, joblib, torch, yaml
        import numpy as np, pandas as pd
        from pathlib import Path

        model = joblib.load("models/model.joblib")
        frame = pd.read_csv("./data/../data/train.csv", sep=";")
        table = pd.read_parquet(path="table.parquet")
        weights = np.load(file="weights.npy")
        config = yaml.safe_load(open("config.yaml"))
        labels = json.load(open("labels.json", encoding="utf-8"))
        text = Path("notes.txt").read_text()
        with Path("raw.bin").open("rb") as stream:
            pickle.load(stream)

        def predict():
            return torch.load("net.pt")

        # Not files the module reads:
        open("out.csv", "w")
        pd.read_csv("https://example.com/data.csv")
        np.loadtxt("/etc/absolute.txt")
        open(Path("x.txt"))
        joblib.load(variable)
        yaml.load("no path here")
        """,
    )
    assert [(ref["path"], ref["location"]["line"]) for ref in spec["file_references"]] == [
        ("models/model.joblib", 5),
        ("data/train.csv", 6),
        ("table.parquet", 7),
        ("weights.npy", 8),
        ("config.yaml", 9),
        ("labels.json", 10),
        ("notes.txt", 11),
        ("raw.bin", 12),
        ("net.pt", 16),
    ]


RESOURCES_SOURCE = 'import joblib\nmodel = joblib.load("model.joblib")\ndef f(): ...\n'
MISSING_MODEL = (
    "apizr: src/app.py, line 2: reads 'model.joblib', which is not among the target's"
    " dependencies: add it as a resource() dependency"
)


@pytest.mark.parametrize(
    "options, problems",
    [
        ((), []),
        (("--resource", "./model.joblib"), []),
        (("--resource", "other.csv"), [MISSING_MODEL]),
        (("--check-resources",), [MISSING_MODEL]),
        (("--check-resources", "--resource", "model.joblib"), []),
    ],
)
def test_resources(analyzer: Analyzer, options: tuple[str, ...], problems: list[str]) -> None:
    code, errors, _ = analyzer.run(RESOURCES_SOURCE, *options)
    assert (code, errors) == (2 if problems else 0, problems)


def test_imports_only_does_not_judge_endpoints(analyzer: Analyzer) -> None:
    spec = analyzer.spec("import numpy\ninput()\n", "--imports-only", "--check-resources")
    assert spec == {
        "apizr_spec_version": 1,
        "source": DISPLAY_NAME,
        "imports": ["numpy"],
        "file_references": [],
    }


def test_syntax_error(analyzer: Analyzer) -> None:
    assert analyzer.problems("import os\n\ndef f(:\n    pass\n") == [
        "apizr: src/app.py, line 3: syntax error: invalid syntax: def f(:"
    ]


CONVERTED = """\
# Generated by apizr from src/nb.ipynb. Do not edit: edit the notebook.

# %% [cell 2]
import joblib

model = joblib.load("m.joblib")


# %% [cell 4]
def predict(x: int) -> int:
    return x


# %% [cell 5]
def bad(*args):
    pass
"""


def test_locations_in_a_converted_notebook(analyzer: Analyzer) -> None:
    assert analyzer.problems(CONVERTED, "--resource", "other.joblib") == [
        "apizr: src/app.py, cell 2, line 3: reads 'm.joblib', which is not among the target's"
        " dependencies: add it as a resource() dependency",
        "apizr: src/app.py, cell 5, line 1: endpoint bad(): '*args' is not supported: an"
        " endpoint needs a fixed set of named parameters",
    ]
    spec = analyzer.spec(CONVERTED, "--endpoint", "predict")
    assert endpoint(spec, "predict")["location"] == {"cell": 4, "line": 1}
    assert spec["file_references"] == [{"path": "m.joblib", "location": {"cell": 2, "line": 3}}]


def test_converted_notebook(analyzer: Analyzer) -> None:
    notebook = NOTEBOOKS / "async_and_classes.ipynb"
    spec = analyzer.spec(convert_notebook.convert(notebook, "async_and_classes.ipynb"))
    assert [(e["name"], e["is_async"], e["location"]) for e in spec["endpoints"]] == [
        ("fetch_color", True, {"cell": 3, "line": 1}),
        ("perimeter", False, {"cell": 3, "line": 7}),
    ]
    assert spec["imports"] == ["pydantic.BaseModel"]


def test_cli(run_script, tmp_path: Path) -> None:
    module, output = tmp_path / "café.py", tmp_path / "spec.json"
    module.write_text('def grüß(name: str = "Zoë") -> str:\n    """Grüße 👋."""\n', "utf-8")
    result = run_script(analyze_module, module, "--display-name", "src/café.py", "--output", output)
    assert (result.returncode, result.stderr) == (0, "")
    spec = json.loads(output.read_text(encoding="utf-8"))
    assert endpoint(spec, "grüß")["summary"] == "Grüße 👋."

    module.write_text("def f(:\n")
    result = run_script(analyze_module, module, "--display-name", "src/café.py", "--output", output)
    assert result.returncode == 2
    assert result.stderr == "apizr: src/café.py, line 1: syntax error: invalid syntax: def f(:\n"

"""The convert step through the backend's `ConvertedModule` rule: golden files and errors.

Regenerate the golden files with
`APIZR_UPDATE_GOLDEN=1 ./pants --no-pantsd test tests/plugin/test_convert.py`, then review their
diff: they are written into the checkout (`$APIZR_BUILDROOT/tests/plugin/golden/`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from pants.testutil.rule_runner import RuleRunner

from plugin.helpers import (
    assert_no_script_traceback,
    code,
    convert,
    digest_files,
    engine_failure,
    make_rule_runner,
    markdown,
    notebook_json,
    stream_output,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("APIZR_UPDATE_GOLDEN") == "1"
DIR = "src/notebooks"
SECRET = "SECRET-OUTPUT-7f3a"
CELL_MARKER = re.compile(r"# %% \[cell \d+\]")

GOLDEN_NOTEBOOKS = {
    "magics": notebook_json(
        markdown("# Magics\nEvery kind of IPython syntax that has no meaning in a module."),
        code("%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n\nimport json\nimport os"),
        code(
            "%time total = sum(range(10))\n"
            "%timeit -n 3 -r 1 sorted([3, 1, 2])\n"
            "os.path?\n"
            "?json.dumps\n"
            "remainder = 10 % 3\n"
            "ratio = (10\n"
            "    % 3)"
        ),
        code("%%time\nresult = total * 2\nresult"),
        code("%%timeit -n 1 base = 3\nsquares = [i * base for i in range(5)]"),
        code("%%bash\necho this is not Python\nexit 1"),
        code("%%capture captured\nprint('noisy')"),
        code(
            "def double(x: int) -> int:\n"
            "    %time y = x * 2\n"
            "    return y\n"
            "\n"
            "text = '''\n"
            "%not a magic inside a string\n"
            "!nor a shell escape?\n"
            "'''"
        ),
    ),
    "shell": notebook_json(
        code("!pip install -q numpy\n!!ls -l\nimport subprocess"),
        code("for name in ['a', 'b']:\n    !echo {name}\n\nif True:\n    !date\n    done = True"),
        code(
            "def run(cmd: str) -> str:\n    return subprocess.check_output(cmd, shell=True, text=True)"
        ),
    ),
    "tags": notebook_json(
        code("import math"),
        code("training = list(range(1000))\nlen(training)", tags=["skip-api"]),
        markdown("The next cell is kept: only `skip-api` removes a cell."),
        code("SCALE = math.pi", tags=["parameters", "keep"]),
        code("import matplotlib.pyplot as plt\nplt.plot(training)", tags=["skip-api", "plot"]),
        code("def scale(x: float) -> float:\n    return x * SCALE"),
    ),
    "unicode": notebook_json(
        markdown("# Ünïcödé ✨\nNon-ASCII everywhere: 日本語, emoji 🚀."),
        code('GREETING = "héllo wörld — 你好 🚀"\ncafé = 1\ngreeting = GREETING; greeting'),
        code(
            'def grüß(name: str = "Zoë") -> str:\n'
            '    """Grüße 👋 to someone (ça va ?)."""\n'
            '    return f"{GREETING}, {name} ☕"  # ☕ stays in the comment'
        ),
    ),
    "async_and_classes": notebook_json(
        code("import asyncio\nfrom dataclasses import dataclass\nfrom enum import Enum"),
        code(
            "class Color(str, Enum):\n"
            "    RED = 'red'\n"
            "    BLUE = 'blue'\n"
            "\n"
            "@dataclass\n"
            "class Point:\n"
            "    x: float\n"
            "    y: float\n"
            "    def norm(self) -> float:\n"
            "        return (self.x ** 2 + self.y ** 2) ** 0.5"
        ),
        code(
            "async def fetch_color(name: str) -> Color:\n"
            '    """Look a color up."""\n'
            "    await asyncio.sleep(0)\n"
            "    return Color(name)\n"
            "\n"
            "class Shape:\n"
            "    def __init__(self, *points: Point):\n"
            "        self.points = list(points)\n"
            "\n"
            "    async def perimeter(self) -> float:\n"
            "        async def gap(a, b):\n"
            "            return Point(a.x - b.x, a.y - b.y).norm()\n"
            "        pts = self.points\n"
            "        return sum([await gap(a, b) for a, b in zip(pts, pts[1:] + pts[:1])])"
        ),
    ),
    "display": notebook_json(
        code("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\ndf.head()"),
        code("display(df)\nprint(df.shape)\ndf['a'].describe()"),
        code("summary = df.describe()\nsummary"),
        code("df.shape, len(df)"),
        code("df.to_csv('out.csv')"),
    ),
    "outputs": notebook_json(
        code(
            "value = 41 + 1\nprint(value)",
            count=3,
            outputs=[stream_output(f"{SECRET}\n")],
        ),
        code(
            "def answer() -> int:\n    return value",
            count=4,
            outputs=[
                {
                    "data": {"text/plain": [f"'{SECRET}'"]},
                    "execution_count": 4,
                    "metadata": {},
                    "output_type": "execute_result",
                }
            ],
        ),
    ),
    "empty": notebook_json(),
    "markdown_only": notebook_json(markdown("# Nothing to serve\nOnly prose.")),
}

BROKEN_NOTEBOOKS = {
    "syntax_error": notebook_json(
        markdown("A typo in the third cell."),
        code("x = 1"),
        code("y = 2\nz = = 3\nw = 4"),
    ),
    "not_json": "This is not a notebook, {not even JSON}.\n",
    "not_a_notebook": json.dumps({"cells": [], "hello": "world"}),
    "magic_assignment": notebook_json(
        code("import os"),
        markdown("Shell output cannot be assigned in plain Python."),
        code("x = 1\nfiles = !ls\nx += 1"),
    ),
    "two_problems": notebook_json(
        code("def f(:\n    pass"),
        code("ok = True"),
        code("if ok:\n    lines = %sx ls"),
    ),
    "r_kernel": notebook_json(code("x <- c(1, 2, 3)"), language="R"),
}

NOTEBOOKS = {**GOLDEN_NOTEBOOKS, **BROKEN_NOTEBOOKS}


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            f"{DIR}/BUILD": "".join(
                f'notebook_api(name="{name}", source="{name}.ipynb")\n' for name in NOTEBOOKS
            ),
            **{f"{DIR}/{name}.ipynb": content for name, content in NOTEBOOKS.items()},
        }
    )
    return rule_runner


def converted_text(rule_runner: RuleRunner, name: str) -> str:
    module = convert(rule_runner, DIR, name)
    assert (module.path, module.source_path) == (f"{DIR}/{name}.py", f"{DIR}/{name}.ipynb")
    assert module.is_notebook
    files = digest_files(rule_runner, module.digest)
    assert list(files) == [module.path], "the digest holds the module only"
    return files[module.path]


@pytest.mark.parametrize("name", sorted(GOLDEN_NOTEBOOKS))
def test_golden(rule_runner: RuleRunner, name: str) -> None:
    text = converted_text(rule_runner, name)
    golden = GOLDEN / f"{name}.py"
    if UPDATE_GOLDEN:
        # The test sandbox holds a copy: write into the checkout.
        checkout_golden = Path(os.environ["APIZR_BUILDROOT"]) / "tests/plugin/golden" / golden.name
        checkout_golden.write_text(text, encoding="utf-8")
        return
    assert golden.is_file(), f"no golden file {golden.name}: run with APIZR_UPDATE_GOLDEN=1"
    expected = golden.read_text(encoding="utf-8")
    assert text == expected, "if the change is intended: APIZR_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", sorted(GOLDEN_NOTEBOOKS))
def test_converted_module_is_valid_python(rule_runner: RuleRunner, name: str) -> None:
    text = converted_text(rule_runner, name)
    header = f"# Generated by apizr from {DIR}/{name}.ipynb. Do not edit: edit the notebook.\n"
    assert text.startswith(header)
    compile(text, f"{name}.py", "exec")
    body = "\n".join(line for line in text.splitlines() if not CELL_MARKER.fullmatch(line))
    for forbidden in ("%matplotlib", "%time", "%%", "!pip", "!!ls", "?json", "skip-api", SECRET):
        assert forbidden not in body


def test_cell_markers_count_every_cell(rule_runner: RuleRunner) -> None:
    # tags: code, skipped code, markdown, code, skipped code, code.
    markers = [line for line in converted_text(rule_runner, "tags").splitlines() if "# %%" in line]
    assert markers == ["# %% [cell 1]", "# %% [cell 4]", "# %% [cell 6]"]


def test_empty_notebooks_are_just_the_header(rule_runner: RuleRunner) -> None:
    for name in ("empty", "markdown_only"):
        assert converted_text(rule_runner, name) == (
            f"# Generated by apizr from {DIR}/{name}.ipynb. Do not edit: edit the notebook.\n"
        )


def test_outputs_never_leak(rule_runner: RuleRunner) -> None:
    assert SECRET in NOTEBOOKS["outputs"]
    text = converted_text(rule_runner, "outputs")
    assert SECRET not in text
    assert "value = 41 + 1\nprint(value)\n" in text


def failure(rule_runner: RuleRunner, name: str) -> str:
    error, message = engine_failure(lambda: convert(rule_runner, DIR, name))
    assert_no_script_traceback(error, message)
    return message


def test_syntax_error_names_file_cell_and_line(rule_runner: RuleRunner) -> None:
    assert failure(rule_runner, "syntax_error") == (
        f"apizr: {DIR}/syntax_error.ipynb, cell 3, line 2: syntax error: invalid syntax: z = = 3"
    )


def test_not_json(rule_runner: RuleRunner) -> None:
    message = failure(rule_runner, "not_json")
    assert message.startswith(
        f"apizr: {DIR}/not_json.ipynb: not a Jupyter notebook: invalid JSON"
    ), message
    assert len(message.splitlines()) == 1


def test_json_that_is_not_a_notebook(rule_runner: RuleRunner) -> None:
    assert failure(rule_runner, "not_a_notebook") == (
        f"apizr: {DIR}/not_a_notebook.ipynb: not a Jupyter notebook: it has no supported"
        " 'nbformat' version field"
    )


def test_assigning_shell_output_is_refused(rule_runner: RuleRunner) -> None:
    message = failure(rule_runner, "magic_assignment")
    assert message.startswith(f"apizr: {DIR}/magic_assignment.ipynb, cell 3, line 2: "), message
    assert "'files = !ls'" in message and "subprocess" in message


def test_every_problem_is_reported_once(rule_runner: RuleRunner) -> None:
    lines = failure(rule_runner, "two_problems").splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"apizr: {DIR}/two_problems.ipynb, cell 1, line 1: syntax error")
    assert lines[1].startswith(f"apizr: {DIR}/two_problems.ipynb, cell 3, line 2: cannot convert")


def test_other_kernel_languages_are_refused(rule_runner: RuleRunner) -> None:
    assert failure(rule_runner, "r_kernel") == (
        f"apizr: {DIR}/r_kernel.ipynb: the notebook's kernel language is 'R': only Python"
        " notebooks convert"
    )


def test_only_code_changes_change_the_module(rule_runner: RuleRunner) -> None:
    """Edits to markdown, outputs, counts, ids and metadata give the very same digest."""
    cells = [
        markdown("# Model\nFirst version of the prose."),
        code("import math\nRATE = 0.5", count=1, outputs=[stream_output("one\n")]),
        code("def rate() -> float:\n    return RATE", count=2),
    ]
    rule_runner.write_files(
        {
            f"{DIR}/stable/BUILD": 'notebook_api(name="stable", source="stable.ipynb")\n',
            f"{DIR}/stable/stable.ipynb": notebook_json(*cells),
        }
    )
    first = convert(rule_runner, f"{DIR}/stable", "stable")

    edited = json.loads(notebook_json(*cells))
    edited["metadata"]["celltoolbar"] = "Tags"
    edited["cells"][0]["source"] = ["# Model ✨\n", "Rewritten prose, with a table:\n", "| a |"]
    for index, cell in enumerate(edited["cells"]):
        cell["id"] = f"renamed-{index}"
        cell["metadata"] = {"collapsed": True, "scrolled": False}
        if cell["cell_type"] == "code":
            cell["execution_count"] = 100 + index
            cell["outputs"] = [stream_output(f"{SECRET} {index}\n")]
    rule_runner.write_files({f"{DIR}/stable/stable.ipynb": json.dumps(edited, indent=2)})
    second = convert(rule_runner, f"{DIR}/stable", "stable")
    assert second.digest == first.digest

    # ...while a code change does change it (the comparison above can fail).
    edited["cells"][1]["source"] = ["import math\n", "RATE = 0.25"]
    rule_runner.write_files({f"{DIR}/stable/stable.ipynb": json.dumps(edited, indent=2)})
    third = convert(rule_runner, f"{DIR}/stable", "stable")
    assert third.digest != first.digest
    assert "RATE = 0.25" in digest_files(rule_runner, third.digest)[f"{DIR}/stable/stable.py"]


def test_skip_tag_option() -> None:
    """`[apizr].skip_tag` reaches the converter."""
    rule_runner = make_rule_runner(extra_options=["--apizr-skip-tag=dev-only"])
    rule_runner.write_files(
        {
            f"{DIR}/BUILD": 'notebook_api(name="tags", source="tags.ipynb")\n',
            f"{DIR}/tags.ipynb": notebook_json(
                code("import math"),
                code("training = list(range(3))", tags=["skip-api"]),
                code("SCALE = math.pi", tags=["dev-only"]),
            ),
        }
    )
    module = convert(rule_runner, DIR, "tags")
    text = digest_files(rule_runner, module.digest)[module.path]
    assert "# %% [cell 2]\ntraining = list(range(3))\n" in text
    assert "SCALE" not in text and "[cell 3]" not in text

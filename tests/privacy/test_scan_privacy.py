"""Tests of scan_privacy.py over the corpus: every planted item found, clean files silent.

The corpus (corpus/) holds notebooks, a module and data files with fake secrets and personal data
planted in sources, outputs, metadata, escaped and multi-line strings; `expected.json` lists each
planted item, where it is and which detector must report it. README.md states the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from apizr.scripts import convert_notebook, scan_privacy

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
LEAKY_NOTEBOOKS = ["leaky_sources.ipynb", "leaky_outputs.ipynb", "leaky_metadata.ipynb"]
DATA_FILES = ["customers.csv", "settings.json", "notes.txt"]


@pytest.fixture
def in_corpus(monkeypatch, tmp_path) -> Path:
    """Scan from the corpus directory, so that findings name files as expected.json does; the
    converted modules are written beside the notebooks, in a copy."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in CORPUS.iterdir():
        (corpus / path.name).write_bytes(path.read_bytes())
    monkeypatch.chdir(corpus)
    return corpus


def converted(notebook: str) -> Path:
    module = Path(notebook).with_suffix(".py")
    module.write_text(convert_notebook.convert(Path(notebook), notebook), encoding="utf-8")
    return module


def scan_corpus() -> list[dict]:
    found = []
    for notebook in [*LEAKY_NOTEBOOKS, *EXPECTED["clean"]]:
        found += scan_privacy.scan_inputs(Path(notebook), converted(notebook))
    found += scan_privacy.scan_inputs(
        Path("leaky_module.py"), data=tuple(Path(path) for path in DATA_FILES)
    )
    return found


def is_reported(planted: dict, finding: dict) -> bool:
    where = ("file", "part", "cell", "output", "line", "detector")
    return all(finding[key] == planted[key] for key in where) and finding[
        "fingerprint"
    ] == scan_privacy.fingerprint(planted["value"])


def corpus_figures(found: list[dict]) -> str:
    planted = EXPECTED["planted"]
    recalled = [p for p in planted if any(is_reported(p, f) for f in found)]
    planted_values = {(p["file"], scan_privacy.fingerprint(p["value"])) for p in planted}
    clean = [f for f in found if f["file"] in EXPECTED["clean"]]
    unplanted = [f for f in found if (f["file"], f["fingerprint"]) not in planted_values]
    return (
        f"Recall: {len(recalled)}/{len(planted)} planted items found. "
        f"False positives: {len(clean)} findings in the clean notebooks, "
        f"{len(unplanted)} findings of anything not planted in the whole corpus."
    )


def test_every_planted_item_is_found(in_corpus):
    found = scan_corpus()
    missed = [p for p in EXPECTED["planted"] if not any(is_reported(p, f) for f in found)]
    assert missed == []


def test_clean_notebooks_and_unplanted_text_give_no_findings(in_corpus):
    planted_values = {
        (p["file"], scan_privacy.fingerprint(p["value"])) for p in EXPECTED["planted"]
    }
    found = scan_corpus()
    assert [f for f in found if (f["file"], f["fingerprint"]) not in planted_values] == []
    assert [f for f in found if f["file"] in EXPECTED["clean"]] == []


def test_readme_states_the_measured_figures(in_corpus):
    figures = corpus_figures(scan_corpus())
    assert figures in (HERE / "README.md").read_text(), f"update README.md with: {figures}"


def test_every_kind_of_place_is_planted():
    wheres = {p["where"] for p in EXPECTED["planted"]}
    for kind in [
        "source",
        "markdown",
        "stream output",
        "error traceback",
        "cell metadata",
        "notebook metadata",
        "multi-line string",
        "CSV data file",
        "JSON data file",
    ]:
        assert kind in wheres
    assert any(where.startswith("escaped string") for where in wheres)


def test_excerpts_mask_every_value(in_corpus):
    values = [p["value"] for p in EXPECTED["planted"]]
    for finding in scan_corpus():
        for value in values:
            assert value not in finding["excerpt"], finding


def test_findings_are_sorted_and_stable(in_corpus):
    first = scan_privacy.scan_inputs(Path("leaky_outputs.ipynb"))
    assert first == sorted(first, key=scan_privacy.sort_key)
    assert scan_privacy.scan_inputs(Path("leaky_outputs.ipynb")) == first


def test_module_findings_are_reported_once_at_their_cell(in_corpus):
    module = converted("leaky_sources.ipynb")
    assert [f for f in scan_privacy.scan_inputs(Path("leaky_sources.ipynb"), module)
            if f["part"] == "module"] == []  # fmt: skip
    # A secret that only the module holds is reported in the module, at its cell.
    text = module.read_text()
    marker = "# %% [cell 8]\n"
    module.write_text(text.replace(marker, marker + 'extra = "AKIAJ7EXAMPLEFAKE123"\n'))
    (finding,) = [f for f in scan_privacy.scan_inputs(Path("leaky_sources.ipynb"), module)
                  if f["part"] == "module"]  # fmt: skip
    assert (finding["file"], finding["cell"], finding["detector"]) == (
        "leaky_sources.py",
        8,
        "aws-access-key",
    )
    assert text.splitlines()[finding["line"] - 2] == marker.strip()


def write_notebook(path: Path, *cells) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), path)
    return path


def test_pragma_silences_its_line_only(tmp_path):
    notebook = write_notebook(
        tmp_path / "n.ipynb",
        nbformat.v4.new_code_cell(
            'password = "not-a-real-one-42"  # apizr: ignore-privacy\npassword = "but-this-1s"\n'
            'KEY_ID = "AKIA\\x49OSFODNN7EXAMPLE"  # apizr: ignore-privacy'
        ),
        nbformat.v4.new_markdown_cell(
            "Mail jane.roe@acme-fake-clients.com <!-- apizr: ignore-privacy -->"
        ),
    )
    found = scan_privacy.scan_inputs(notebook)
    assert [(f["cell"], f["line"], f["detector"]) for f in found] == [(1, 2, "secret-keyword")]


def baseline_of(findings: list[dict]) -> dict:
    return {"accepted": [{k: f[k] for k in ("file", "detector", "fingerprint")} for f in findings]}


def test_baseline_survives_reexecution(in_corpus, tmp_path):
    found = scan_privacy.scan_inputs(Path("leaky_outputs.ipynb"))
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(baseline_of(found)))

    # Re-executed: new ids and execution counts, a new cell first, outputs in another order.
    notebook = nbformat.read("leaky_outputs.ipynb", as_version=4)
    for count, cell in enumerate(notebook.cells, start=40):
        cell.id = f"new-{count}"
        if cell.cell_type == "code":
            cell.execution_count = count
            cell.outputs.reverse()
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = count
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import time", execution_count=1))
    nbformat.write(notebook, "leaky_outputs.ipynb")

    result = run_cli("leaky_outputs.ipynb", "--baseline", baseline, "--output", tmp_path / "o.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o.json").read_text()) == {
        "findings": [],
        "suppressed": len(found),
    }


def run_cli(*args: object) -> subprocess.CompletedProcess:
    """The script's real CLI, as the plugin runs it: a copy alone, without PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, scan_privacy.__file__, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_writes_findings_and_exits_0(in_corpus, tmp_path):
    output = tmp_path / "findings.json"
    result = run_cli("leaky_module.py", "--data", "notes.txt", "--output", output)
    assert (result.returncode, result.stderr) == (0, "")
    findings = json.loads(output.read_text())["findings"]
    assert [(f["file"], f["line"], f["detector"]) for f in findings] == [
        ("leaky_module.py", 3, "github-token"),
        ("notes.txt", 2, "slack-token"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "baseline.json: not a privacy baseline"),
        ('{"accepted": [{"file": "x"}]}', "baseline.json: not a privacy baseline"),
    ],
)
def test_cli_rejects_a_bad_baseline(in_corpus, content, message):
    Path("baseline.json").write_text(content)
    result = run_cli("leaky_module.py", "--baseline", "baseline.json", "--output", "o.json")
    assert result.returncode == 2
    assert result.stderr.startswith(f"apizr: {message}"), result.stderr
    assert not Path("o.json").exists()


def test_cli_rejects_a_broken_notebook(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("this is not a notebook\n")
    result = run_cli(broken, "--output", tmp_path / "o.json")
    assert result.returncode == 2
    assert result.stderr.startswith(f"apizr: {broken}: not a Jupyter notebook"), result.stderr


@pytest.mark.parametrize(
    ("text", "detectors"),
    [
        ("card 4111-1111-1111-1111 paid", ["credit-card"]),
        ("card 4111-1111-1111-1112 declined", []),  # fails the Luhn check
        ("order 1701700000123 shipped", []),
        ("IBAN GB82WEST12345698765432", ["iban"]),
        ("IBAN GB83WEST12345698765432", []),  # wrong check digits
        ("from 8.8.8.8 and 10.1.2.3, docs at 198.51.100.4, lib 1.2.3.4.5", ["ipv4"]),
        ("mail anna@acme-fake-clients.org or demo@example.com or x@host.test", ["email"]),
        ("call +33 1 09 75 83 51 on 2024-03-01, build 20240301", ["phone"]),
    ],
)
def test_personal_data_detectors(tmp_path, text, detectors):
    data = tmp_path / "data.txt"
    data.write_text(text + "\n")
    found = scan_privacy.scan_inputs(write_notebook(tmp_path / "n.ipynb"), data=(data,))
    assert [f["detector"] for f in found] == detectors

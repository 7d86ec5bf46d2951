"""The bundled examples, packaged by the real `pants package` and served over real HTTP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from e2e.harness import buildroot, http, private_distdir, run_pants, serve_pex, wait_until

EXAMPLES = {
    "churn": "src/examples/churn:churn_api",
    "pricing": "src/examples/pricing:pricing_api",
    "sales": "src/examples/sales:sales_api",
    "textstats": "src/examples/textstats:textstats_api",
}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict[str, Path]:
    """All examples, from one `pants package` run, copied out of a private dist dir."""
    with private_distdir(buildroot()) as dist:
        result = run_pants(buildroot(), f"--pants-distdir={dist}", "package", *EXAMPLES.values())
        assert result.returncode == 0, result.stderr
        pexes = {}
        copies = tmp_path_factory.mktemp("dist")
        for example, address in EXAMPLES.items():
            path, name = address.split(":")
            pex = dist / path.replace("/", ".") / f"{name}.pex"
            assert pex.is_file(), f"{pex} missing; dist holds {sorted(dist.rglob('*'))}"
            pexes[example] = Path(shutil.copy2(pex, copies / pex.name))
    return pexes


def sample_requests(example: str) -> dict:
    return json.loads((buildroot() / "src/examples" / example / "sample_requests.json").read_text())


def check_sample(base_url: str, endpoint: str, sample: dict) -> None:
    response = http("POST", f"{base_url}/{endpoint}", sample["request"])
    assert response.status == 200, (endpoint, response.body)
    body = response.body
    if "expect" in sample:
        assert (
            body == pytest.approx(sample["expect"])
            if isinstance(body, (int, float))
            else body == sample["expect"]
        ), (endpoint, body)
    if "expect_keys" in sample:
        assert sorted(body) == sorted(sample["expect_keys"]), (endpoint, body)
    if "expect_subset" in sample:
        assert {k: body[k] for k in sample["expect_subset"]} == sample["expect_subset"], body
    if "expect_length" in sample:
        assert len(body) == sample["expect_length"], (endpoint, body)
    if "error_request" in sample:
        error = http("POST", f"{base_url}/{endpoint}", sample["error_request"])
        assert error.status == sample["error_status"], (endpoint, error.body)
        assert set(error.body["error"]) == {"type", "message"}, error.body
        assert "Traceback" not in json.dumps(error.body)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_serves_its_sample_requests(example, packaged, tmp_path):
    with serve_pex(packaged[example], tmp_path) as server:
        wait_until(lambda: server.status_of("/readyz") == 200, 120, "/readyz to become 200")
        for endpoint, sample in sample_requests(example).items():
            check_sample(server.base_url, endpoint, sample)

        openapi = http("GET", server.base_url + "/openapi.json").body
        assert sorted(openapi["paths"]) == sorted(f"/{e}" for e in sample_requests(example))
        assert http("GET", server.base_url + "/docs").status == 200

        invalid = http(
            "POST", server.base_url + f"/{next(iter(sample_requests(example)))}", {"x": []}
        )
        assert invalid.status == 422
        assert invalid.body["detail"][0]["loc"], invalid.body


def test_churn_openapi_carries_docstrings_and_models(packaged, tmp_path):
    with serve_pex(packaged["churn"], tmp_path) as server:
        wait_until(lambda: server.status_of("/readyz") == 200, 120, "/readyz to become 200")
        openapi = http("GET", server.base_url + "/openapi.json").body
        predict = openapi["paths"]["/predict"]["post"]
        assert predict["summary"]
        schemas = openapi["components"]["schemas"]
        assert "Customer" in schemas and "ChurnPrediction" in schemas
        contract = schemas["Customer"]["properties"]["contract"]
        assert contract.get("enum") == ["month-to-month", "one-year", "two-year"], contract


def test_pex_holds_no_notebook_outputs(packaged):
    """Outputs stored in the notebooks never reach the artifact."""
    import zipfile

    churn = buildroot() / "src/examples/churn/churn.ipynb"
    outputs = [
        "".join(output.get("data", {}).get("text/plain", []))
        for cell in json.loads(churn.read_text())["cells"]
        for output in cell.get("outputs", [])
    ]
    outputs = [text for text in outputs if len(text) > 20]
    assert outputs, "the churn example is expected to store outputs"
    with zipfile.ZipFile(packaged["churn"]) as pex:
        contents = b"".join(pex.read(name) for name in pex.namelist() if not name.endswith("/"))
    for text in outputs:
        assert text.encode() not in contents


def test_web_concurrency_sets_the_worker_count(packaged, tmp_path):
    with serve_pex(packaged["textstats"], tmp_path, WEB_CONCURRENCY="3") as server:
        wait_until(lambda: server.log().count("Booting worker") >= 3, 60, "3 workers")
        assert "uvicorn" in server.log().lower()


def test_copy_of_pex_runs_elsewhere(packaged, tmp_path):
    """The PEX is self-contained: it serves from another directory, with its resources."""
    moved = tmp_path / "elsewhere" / "churn_api.pex"
    moved.parent.mkdir()
    shutil.copy2(packaged["churn"], moved)
    with serve_pex(moved, tmp_path) as server:
        wait_until(lambda: server.status_of("/readyz") == 200, 120, "/readyz to become 200")
        sample = sample_requests("churn")["predict"]
        assert http("POST", server.base_url + "/predict", sample["request"]).status == 200

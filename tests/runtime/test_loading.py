"""Importing the user module: in the background, up front (preload), or failing."""

import logging
import os
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from apizr_runtime import LoadedModule, create_app, load_user_module

from specs import endpoint_spec, make_spec, sample_spec, wait_until_loaded
from user_modules import gate

USER_MODULES_DIR = Path(__file__).parent / "user_modules"


@pytest.fixture
def slow_app():
    """An app for user_modules.slow, whose import waits for gate.release_import."""
    sys.modules.pop("user_modules.slow", None)
    gate.import_started.clear()
    gate.release_import.clear()
    yield create_app(make_spec("user_modules.slow", [endpoint_spec("ping")]))
    gate.release_import.set()  # never leave the loader thread waiting


def test_answers_503_while_loading_then_serves(slow_app):
    with TestClient(slow_app) as client:
        assert gate.import_started.wait(timeout=5)
        readyz = client.get("/readyz")
        assert (readyz.status_code, readyz.json()) == (503, {"status": "loading"})
        healthz = client.get("/healthz")
        assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
        for method, path in [("POST", "/ping"), ("GET", "/docs"), ("GET", "/openapi.json")]:
            response = client.request(method, path)
            assert response.status_code == 503, path
            assert response.json() == {"status": "loading"}
            assert int(response.headers["Retry-After"]) > 0

        gate.release_import.set()
        wait_until_loaded(client)
        assert client.get("/readyz").status_code == 200
        assert client.post("/ping").json() == "pong"
        assert "/ping" in client.get("/openapi.json").json()["paths"]


def test_openapi_schema_built_while_loading_is_not_kept(slow_app):
    with TestClient(slow_app) as client:
        assert "/ping" not in slow_app.openapi()["paths"]
        gate.release_import.set()
        wait_until_loaded(client)
        assert "/ping" in client.get("/openapi.json").json()["paths"]


def test_a_second_lifespan_does_not_load_again(slow_app):
    with TestClient(slow_app):
        assert gate.import_started.wait(timeout=5)
    with TestClient(slow_app) as client:
        gate.release_import.set()
        wait_until_loaded(client)
        assert client.post("/ping").json() == "pong"
    assert [route.path for route in slow_app.routes].count("/ping") == 1


def test_import_failure_fails_the_probes_and_logs_the_traceback(caplog):
    app = create_app(make_spec("user_modules.broken", [endpoint_spec("predict")]))
    with caplog.at_level(logging.ERROR, logger="apizr"), TestClient(app) as client:
        wait_until_loaded(client)
        readyz = client.get("/readyz")
        healthz = client.get("/healthz")
        predict = client.post("/predict", json={"x": 1})
    failed = {"status": "failed", "error": "FileNotFoundError: churn_model.joblib is missing"}
    assert (readyz.status_code, readyz.json()) == (503, failed)
    assert (healthz.status_code, healthz.json()) == (500, failed)
    assert (predict.status_code, predict.json()) == (503, failed)
    assert "Retry-After" not in predict.headers
    [record] = [r for r in caplog.records if r.name == "apizr"]
    assert record.exc_info[0] is FileNotFoundError


@pytest.mark.parametrize(
    ("module", "endpoint", "error"),
    [
        ("user_modules.missing", "predict", "ModuleNotFoundError: "),
        ("user_modules.sample", "not_defined", "AttributeError: "),
    ],
)
def test_unknown_module_or_function_fails_loading(module, endpoint, error):
    with TestClient(create_app(make_spec(module, [endpoint_spec(endpoint)]))) as client:
        wait_until_loaded(client)
        assert client.get("/readyz").json()["error"].startswith(error)


def test_module_runs_from_its_directory_as_in_jupyter():
    with TestClient(create_app(sample_spec())) as client:
        wait_until_loaded(client)
        assert Path.cwd() == USER_MODULES_DIR  # for relative paths
        assert sys.path[-1] == str(USER_MODULES_DIR)  # for imports of sibling files


def test_preloaded_module_is_ready_without_a_lifespan():
    loaded = load_user_module(sample_spec())
    assert isinstance(loaded, LoadedModule)
    assert loaded.module is sys.modules["user_modules.sample"]
    assert Path.cwd() == USER_MODULES_DIR
    client = TestClient(create_app(sample_spec(), loaded=loaded))  # no `with`: no lifespan
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.post("/add", json={"a": 2, "b": 3}).json() == 5
    assert client.post("/pids").json()["imported_in"] == os.getpid()


def test_preload_raises_what_the_import_raises():
    with pytest.raises(FileNotFoundError, match="churn_model.joblib"):
        load_user_module(make_spec("user_modules.broken", [endpoint_spec("predict")]))

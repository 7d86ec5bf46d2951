"""Calling the sample user module's functions over HTTP (TestClient)."""

import logging
import sys
import threading

import pytest

from specs import SAMPLE_ENDPOINTS


def test_readyz_reports_ready(client):
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_int_parameters_and_real_default(client):
    assert client.post("/add", json={"a": 1, "b": 2}).json() == 3
    # The default comes from the live function (read from sample_config.json), not the spec.
    assert client.post("/add", json={"a": 1}).json() == 11


def test_async_function_with_literal(client):
    assert client.post("/greet", json={"name": "Ada"}).json() == "Hello, Ada!"
    assert client.post("/greet", json={"name": "Ada", "punctuation": "?"}).json() == "Hello, Ada?"
    response = client.post("/greet", json={"name": "Ada", "punctuation": "."})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "punctuation"]


def test_body_may_be_left_out_when_every_parameter_has_a_default(client):
    assert client.post("/measure").json() == "1.0 m"
    assert client.post("/measure", json={"unit": "km"}).json() == "1.0 km"


def test_positional_only_parameter(client):
    assert client.post("/power", json={"base": 3, "exponent": 3}).json() == 27.0
    assert client.post("/power", json={"base": 3}).json() == 9.0


def test_enum_and_dates(client):
    body = {"color": "green", "day": "2024-05-01", "at": "2024-05-01T12:30:00"}
    assert client.post("/paint", json=body).json() == {
        "color": "green",
        "weekday": "Wednesday",
        "at": "2024-05-01T12:30:00",
        "is_enum": True,
    }
    assert client.post("/paint", json={"color": "red", "day": "2024-05-02"}).json()["at"] is None
    assert client.post("/paint", json={"color": "blue", "day": "2024-05-02"}).status_code == 422


def test_nested_pydantic_models(client):
    customer = {
        "name": "Ada",
        "age": 36,
        "address": {"city": "Paris", "zip_code": "75001"},
        "tags": ["vip", "vip"],
    }
    response = client.post("/score", json={"customer": customer})
    assert response.status_code == 200
    assert response.json() == {"customer": "Ada", "probability": 0.75, "tags": ["vip"]}


def test_nested_model_errors_name_the_field(client):
    customer = {"name": "Ada", "age": -1, "address": {"city": "Paris", "zip_code": "7500"}}
    response = client.post("/score", json={"customer": customer})
    assert response.status_code == 422
    locations = sorted(tuple(error["loc"]) for error in response.json()["detail"])
    assert locations == [
        ("body", "customer", "address", "zip_code"),
        ("body", "customer", "age"),
    ]


def test_dataclasses_in_and_out(client):
    body = {"a": {"x": 0, "y": 0}, "b": {"x": 2, "y": 3}}
    assert client.post("/midpoint", json=body).json() == {"x": 1.0, "y": 1.5}


def test_typeddicts_in_and_out(client):
    orders = [{"item": "tea", "quantity": 2}, {"item": "cake", "quantity": 1, "note": "big"}]
    response = client.post("/checkout", json={"orders": orders, "prices": {"tea": 1.5, "cake": 4}})
    assert response.json() == {"total": 7.0, "items": orders}
    response = client.post("/checkout", json={"orders": [{"item": "tea"}], "prices": {}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "orders", 0, "quantity"]


def test_tuple_and_set(client):
    assert client.post("/span", json={"values": [3, 1, 2], "labels": ["a", "a"]}).json() == [1, 3]


def test_dataframe_from_records_and_columns(client):
    records = [{"name": "a", "value": 1.0}, {"name": "b", "value": None}]
    expected = [
        {"name": "a", "value": 1.0, "scaled": 3.0},
        {"name": "b", "value": None, "scaled": None},
    ]
    assert client.post("/scale", json={"frame": records, "factor": 3}).json() == expected
    columns = {"name": ["a", "b"], "value": [1.0, None]}
    assert client.post("/scale", json={"frame": columns, "factor": 3}).json() == expected


def test_malformed_dataframe_is_a_422(client):
    response = client.post("/scale", json={"frame": {"name": ["a"], "value": [1, 2]}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "frame"]
    assert client.post("/scale", json={"frame": 3}).status_code == 422


def test_series_out_as_object(client):
    frame = [{"x": 1, "y": 2, "label": "a"}, {"x": 3, "y": 6, "label": "b"}]
    assert client.post("/column_means", json={"frame": frame}).json() == {"x": 2.0, "y": 4.0}


def test_series_in_and_converted_for_typed_dict_return(client):
    assert client.post("/cumulative", json={"values": [1, 2, 3]}).json() == {"0": 1, "1": 3, "2": 6}
    assert client.post("/cumulative", json={"values": {"a": 1, "b": 2}}).status_code == 500


def test_ndarray_in_and_out(client):
    body = {"a": [[1, 2], [3, 4]], "b": [[1, 0], [0, 1]]}
    assert client.post("/matmul", json=body).json() == [[1, 2], [3, 4]]
    response = client.post("/matmul", json={"a": [[1, 2], [3]], "b": [[1]]})
    assert response.status_code == 422


def test_unannotated_numpy_scalar_return(client):
    assert client.post("/norm", json={"vector": [3, 4]}).json() == 5.0


def test_unannotated_parameters_accept_any_json(client):
    value = {"nested": [1, "two", None]}
    assert client.post("/echo", json={"value": value, "times": 2}).json() == [value, value]
    assert client.post("/echo", json={"value": None}).json() == [None]


def test_unknown_parameter_is_a_422(client):
    response = client.post("/add", json={"a": 1, "bee": 2})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "bee"]


def test_missing_and_wrongly_typed_parameters_are_422(client):
    response = client.post("/add", json={"a": "one"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "a"]
    assert client.post("/add", json={}).json()["detail"][0]["type"] == "missing"
    assert client.post("/add").status_code == 422


def test_untyped_return_shapes(client):
    assert client.post("/report").json() == {
        "array": [[1.5, None], [None, 2.0]],
        "count": 3,
        "flag": True,
        "frame": [{"when": "2024-05-01T00:00:00", "n": 1.0}, {"when": None, "n": None}],
        "series": {"a": 1, "b": 2},
        "point": {"x": 1.0, "y": None},
        "color": "green",
        "when": "2024-05-01",
        "missing": None,
    }


def test_exception_becomes_500_json_and_logged_traceback(client, caplog):
    with caplog.at_level(logging.ERROR, logger="apizr"):
        response = client.post("/fail", json={"message": "bad input"})
    assert response.status_code == 500
    assert response.json() == {"error": {"type": "ValueError", "message": "bad input"}}
    assert "Traceback" not in response.text
    [record] = [r for r in caplog.records if r.name == "apizr"]
    assert record.exc_info[0] is ValueError


def test_return_value_not_matching_annotation_is_500_json(client):
    response = client.post("/wrong_type")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "ResponseValidationError"
    assert "valid integer" in error["message"]


def test_sync_functions_do_not_block_the_event_loop(client):
    module = sys.modules["user_modules.sample"]
    blocked = {}
    caller = threading.Thread(
        target=lambda: blocked.update(response=client.post("/wait_for_release"))
    )
    caller.start()
    try:
        assert module.CALL_STARTED.wait(timeout=5)
        # The loop still answers while the sync function holds a threadpool thread.
        assert client.post("/add", json={"a": 1, "b": 1}).json() == 2
        assert caller.is_alive()
    finally:
        module.CALL_RELEASE.set()
        caller.join(timeout=10)
    assert blocked["response"].json() is True


def test_unknown_path_is_404_once_ready(client):
    assert client.post("/nope").status_code == 404


@pytest.fixture(scope="module")
def openapi(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_info(openapi):
    assert openapi["info"]["title"] == "sample_api"
    assert openapi["info"]["version"] == "1.2.3"
    assert "tests/runtime/user_modules/sample.ipynb" in openapi["info"]["description"]


def test_openapi_operation_from_docstring(openapi):
    operation = openapi["paths"]["/add"]["post"]
    assert operation["operationId"] == "add"
    assert operation["summary"] == "Add two integers."
    assert operation["description"] == "Longer text about adding."
    assert operation["responses"]["200"]["description"] == "The sum."
    assert (
        operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "integer"
    )
    error_schema = operation["responses"]["500"]["content"]["application/json"]["schema"]
    assert error_schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_openapi_request_model(openapi):
    request = openapi["components"]["schemas"]["AddRequest"]
    assert request["required"] == ["a"]
    assert request["properties"]["a"]["description"] == "The first addend."
    assert request["properties"]["b"]["default"] == 10


def test_openapi_dataframe_and_ndarray_schemas(openapi):
    scale_request = openapi["components"]["schemas"]["ScaleRequest"]
    frame_input = scale_request["properties"]["frame"]["anyOf"]
    assert [shape["type"] for shape in frame_input] == ["array", "object"]
    scale_output = openapi["paths"]["/scale"]["post"]["responses"]["200"]["content"]
    assert scale_output["application/json"]["schema"]["type"] == "array"
    assert scale_output["application/json"]["schema"]["items"]["type"] == "object"
    matmul_output = openapi["paths"]["/matmul"]["post"]["responses"]["200"]["content"]
    assert matmul_output["application/json"]["schema"]["type"] == "array"


def test_openapi_lists_every_endpoint_but_not_the_probes(openapi):
    assert sorted(openapi["paths"]) == sorted(f"/{name}" for name in SAMPLE_ENDPOINTS)


def test_docs_page_is_served(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()

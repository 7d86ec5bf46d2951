"""Request and response types built from signatures."""

import typing
from typing import Annotated, Any, Literal, Optional, TypedDict, get_args

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from apizr_runtime.models import request_model, response_type, wire_type
from apizr_runtime.serialization import DataFrameJson, NdarrayJson


class Item(TypedDict, total=False):
    name: typing.Required[str]
    quantity: int


class Basket(TypedDict):
    items: list[Item]
    owner: typing.NotRequired[str]


def test_types_pydantic_handles_are_unchanged():
    for annotation in (int, dict[str, list[int]], Literal["a", "b"], Optional[float], Any):
        assert wire_type(annotation) is annotation


def test_numpy_and_pandas_types_are_replaced_inside_generics():
    assert wire_type(pd.DataFrame) is DataFrameJson
    assert wire_type(Optional[pd.DataFrame]) == Optional[DataFrameJson]
    assert wire_type(pd.DataFrame | None) == Optional[DataFrameJson]
    assert wire_type(dict[str, list[np.ndarray]]) == dict[str, list[NdarrayJson]]
    annotated = wire_type(Annotated[pd.DataFrame, "metadata"])
    assert get_args(annotated)[-1] == "metadata"
    assert TypeAdapter(annotated).validate_python({"a": [1]}).shape == (1, 1)


def test_typing_typeddicts_become_pydantic_compatible_with_the_same_keys():
    adapter = TypeAdapter(wire_type(list[Basket]))
    basket = {"items": [{"name": "tea"}, {"name": "cake", "quantity": 2}]}
    assert adapter.validate_python([basket]) == [basket]
    with pytest.raises(ValidationError) as error:
        adapter.validate_python([{"items": [{"quantity": 2}]}])
    assert [e["loc"] for e in error.value.errors()] == [(0, "items", 0, "name")]
    assert wire_type(Basket) is wire_type(Basket)  # one class per TypedDict: one schema


def _fields(model: type[BaseModel]) -> dict[str, bool]:
    return {name: field.is_required() for name, field in model.model_fields.items()}


def test_request_model_has_a_field_per_named_parameter():
    def predict(frame: pd.DataFrame, *args, threshold: float = 0.5, raw=None, **kwargs) -> float:
        return 0.0

    model = request_model(
        "predict_churn", predict, typing.get_type_hints(predict), {"raw": "Anything."}
    )
    assert model.__name__ == "PredictChurnRequest"
    assert _fields(model) == {"frame": True, "threshold": False, "raw": False}
    assert model.model_fields["raw"].description == "Anything."
    body = model.model_validate({"frame": [{"a": 1}], "raw": {"any": ["json"]}})
    assert isinstance(body.frame, pd.DataFrame) and body.threshold == 0.5
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({"frame": [], "treshold": 0.2})


def test_request_model_is_none_without_parameters():
    def ping():
        return "pong"

    assert request_model("ping", ping, {}, {}) is None


def test_response_type():
    class Model:  # pydantic cannot model an arbitrary class
        pass

    assert response_type({}) is None
    assert response_type({"return": Model}) is None
    assert response_type({"return": pd.DataFrame}) is DataFrameJson
    assert response_type({"return": list[int]}) == list[int]

"""The JSON shapes of numpy/pandas values (see the docstring of apizr_runtime.serialization)."""

import dataclasses
import datetime
import enum
import json
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from apizr_runtime.serialization import (
    DataFrameJson,
    NdarrayJson,
    SeriesJson,
    numpy_scalar_json,
    render_json,
    to_builtins,
)


class Shade(enum.Enum):
    DARK = "dark"


@dataclasses.dataclass
class Pair:
    left: object
    right: object


class ArrayHolder(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    values: np.ndarray


def test_to_builtins_converts_numpy_inside_containers():
    value = {
        "n": np.int64(2),
        "items": [np.float32(0.5)],
        "pair": (np.bool_(False), "x"),
        "set": {np.int16(1)},
    }
    converted = to_builtins(value)
    assert converted == {"n": 2, "items": [0.5], "pair": (False, "x"), "set": {1}}
    # Exact types: numpy's bool and int must become Python's, and bool is a subclass of int.
    assert type(converted["n"]) is int and type(converted["pair"][0]) is bool  # noqa: E721


def test_to_builtins_turns_a_dataclass_into_a_dict():
    assert to_builtins(Pair(np.int64(1), [np.float64(2.0)])) == {"left": 1, "right": [2.0]}


def test_to_builtins_dataframe_is_records_with_missing_values_as_none():
    frame = pd.DataFrame(
        {"n": [1, 2], "x": [0.5, np.nan], "t": [pd.Timestamp("2024-01-02"), pd.NaT]}
    )
    assert to_builtins(frame) == [
        {"n": 1, "x": 0.5, "t": pd.Timestamp("2024-01-02")},
        {"n": 2, "x": None, "t": None},
    ]


def test_to_builtins_series_maps_index_to_value():
    assert to_builtins(pd.Series([1.5, np.nan], index=["a", "b"])) == {"a": 1.5, "b": None}


def test_to_builtins_missing_scalars_are_none():
    assert [to_builtins(v) for v in (pd.NaT, pd.NA, np.datetime64("NaT"))] == [None, None, None]


def test_to_builtins_object_arrays_are_converted_recursively():
    array = np.array([pd.Series({"a": np.int64(1)}), None], dtype=object)
    assert to_builtins(array) == [{"a": 1}, None]


def test_to_builtins_leaves_what_pydantic_serializes():
    moment = datetime.datetime(2024, 1, 2, 3, 4)
    assert to_builtins(moment) is moment
    assert to_builtins(Shade.DARK) is Shade.DARK
    assert math.isnan(to_builtins(float("nan")))


def test_render_json_shapes():
    value = {
        "matrix": np.array([[1, 2], [3, 4]]),
        "floats": [float("nan"), float("inf"), np.float64(-np.inf)],
        "when": pd.Timestamp("2024-01-02 03:04:05"),
        "day": datetime.date(2024, 1, 2),
        "shade": Shade.DARK,
        "tuple": (1, 2),
        "holder": ArrayHolder(values=np.array([0.5, np.nan])),
        "pair": Pair(left=np.int8(1), right={"deep": np.array([True])}),
    }
    assert json.loads(render_json(value)) == {
        "matrix": [[1, 2], [3, 4]],
        "floats": [None, None, None],
        "when": "2024-01-02T03:04:05",
        "day": "2024-01-02",
        "shade": "dark",
        "tuple": [1, 2],
        "holder": {"values": [0.5, None]},
        "pair": {"left": 1, "right": {"deep": [True]}},
    }


def test_render_json_names_what_it_cannot_convert():
    with pytest.raises(Exception, match="cannot convert object to JSON"):
        render_json({"thing": object()})


@pytest.mark.parametrize(
    "payload",
    [
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
        {"a": [1, 2], "b": ["x", "y"]},
    ],
)
def test_dataframe_accepts_records_or_columns(payload):
    frame = TypeAdapter(DataFrameJson).validate_python(payload)
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))


@pytest.mark.parametrize("payload", [3, [1, 2], {"a": 1}, {"a": [1], "b": [1, 2]}])
def test_dataframe_rejects_other_shapes(payload):
    with pytest.raises(ValidationError):
        TypeAdapter(DataFrameJson).validate_python(payload)


def test_dataframe_serializes_as_records():
    frame = pd.DataFrame({"a": [1.0, np.nan]})
    assert json.loads(TypeAdapter(DataFrameJson).dump_json(frame)) == [{"a": 1.0}, {"a": None}]


def test_series_accepts_list_or_object():
    adapter = TypeAdapter(SeriesJson)
    assert adapter.validate_python([1, 2]).tolist() == [1, 2]
    assert adapter.validate_python({"x": 1}).to_dict() == {"x": 1}
    assert json.loads(adapter.dump_json(pd.Series({"x": 1.5}))) == {"x": 1.5}
    with pytest.raises(ValidationError):
        adapter.validate_python("x")


def test_ndarray_accepts_nested_lists():
    adapter = TypeAdapter(NdarrayJson)
    array = adapter.validate_python([[1, 2], [3, 4]])
    assert isinstance(array, np.ndarray) and array.shape == (2, 2)
    assert json.loads(adapter.dump_json(array)) == [[1, 2], [3, 4]]
    with pytest.raises(ValidationError):
        adapter.validate_python([[1, 2], [3]])
    with pytest.raises(ValidationError):
        adapter.validate_python({"a": 1})


def test_numpy_scalar_types():
    adapter = TypeAdapter(numpy_scalar_json(np.float32))
    value = adapter.validate_python(1.5)
    assert type(value) is np.float32
    assert adapter.dump_json(value) == b"1.5"
    assert type(TypeAdapter(numpy_scalar_json(np.int64)).validate_python(3)) is np.int64
    assert type(TypeAdapter(numpy_scalar_json(np.bool_)).validate_python(True)) is np.bool_
    with pytest.raises(ValidationError):
        TypeAdapter(numpy_scalar_json(np.int64)).validate_python("three")
    assert numpy_scalar_json(np.datetime64) is None

"""JSON <-> numpy/pandas conversions for endpoint parameters and return values.

numpy and pandas are optional: the runtime never imports them on its own. A value can only
be a numpy or pandas object if the user module imported that library, so the checks look
the modules up in ``sys.modules``.

JSON shapes of request parameters annotated with these types:

================  =======================================================================
pandas.DataFrame  a list of records ``[{"a": 1, "b": "x"}, ...]`` or an object of columns
                  ``{"a": [1, 2], "b": ["x", "y"]}``
pandas.Series     a list ``[1, 2]`` (default index) or an object ``{"x": 1, "y": 2}``
numpy.ndarray     nested lists ``[[1, 2], [3, 4]]``, converted with ``numpy.asarray``
numpy scalars     the matching JSON scalar (``numpy.float64`` <- number, ...)
================  =======================================================================

JSON shapes of return values, whatever the annotation, also nested inside dicts, lists,
tuples, sets, dataclasses and pydantic models:

================  =======================================================================
pandas.DataFrame  list of records, one object per row (``orient="records"``)
pandas.Series     object mapping index -> value
numpy.ndarray     nested lists
numpy scalars     the matching JSON scalar
NaN, NaT, NA      null (infinities too)
datetime, date    ISO 8601 string (``pandas.Timestamp`` too)
Enum              its value
set, tuple        array
================  =======================================================================

With a return annotation that pydantic can model, FastAPI then validates the converted
value against it (so a ``-> dict[str, float]`` may return a Series) and serializes it.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Any

import pydantic_core
from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema


def to_builtins(value: Any) -> Any:
    """Replace numpy/pandas objects in `value` by Python builtins, recursively.

    Dicts, lists, tuples, sets and dataclasses are rebuilt (a dataclass becomes a dict) so
    that numpy values inside them are converted too. What pydantic serializes by itself
    (datetimes, enums, pydantic models, NaN floats) is left for it.
    """
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if isinstance(value, dict):
        return {to_builtins(key): to_builtins(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_builtins(item) for item in value]
    if isinstance(value, tuple):
        return tuple(to_builtins(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return {to_builtins(item) for item in value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_builtins(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return _missing_to_none(value).to_dict(orient="records")
        if isinstance(value, pd.Series):
            return _missing_to_none(value).to_dict()
        if value is pd.NaT or value is pd.NA:
            return None
    if np is not None:
        if isinstance(value, np.ndarray):
            # Only object arrays can hold values that tolist() leaves as numpy/pandas objects.
            return to_builtins(value.tolist()) if value.dtype == object else value.tolist()
        if isinstance(value, np.generic):
            return value.item()
    return value


def _missing_to_none(frame: Any) -> Any:
    # Object dtype first: a float column cannot hold None, it would turn back into NaN.
    return frame.astype(object).where(frame.notna(), None)


def render_json(value: Any) -> bytes:
    """Serialize any return value to JSON bytes, with the shapes in the module docstring."""
    return pydantic_core.to_json(to_builtins(value), inf_nan_mode="null", fallback=_convert_unknown)


def _convert_unknown(value: Any) -> Any:
    # pydantic calls this for values it cannot serialize, e.g. a numpy array kept in a
    # pydantic model field with arbitrary_types_allowed.
    converted = to_builtins(value)
    if converted is value:
        raise TypeError(f"cannot convert {type(value).__qualname__} to JSON")
    return converted


def _to_dataframe(value: Any) -> Any:
    import pandas as pd  # only reached for DataFrame annotations, so pandas is installed

    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        return pd.DataFrame(value)
    if isinstance(value, dict) and all(isinstance(col, list) for col in value.values()):
        return pd.DataFrame(value)
    raise ValueError("expected a list of records (objects) or an object of columns (arrays)")


def _to_series(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.Series):
        return value
    if isinstance(value, (list, dict)):
        return pd.Series(value)
    raise ValueError("expected an array or an object")


def _to_ndarray(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list):
        return np.asarray(value)
    raise ValueError("expected an array (nested lists)")


_RECORDS_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "additionalProperties": True},
    "description": "Rows as records, one object per row.",
}
_COLUMNS_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {}},
    "description": "Columns, each an array of values.",
}
_INDEXED_VALUES_SCHEMA = {
    "type": "object",
    "additionalProperties": True,
    "description": "Values by index label.",
}
_NESTED_ARRAY_SCHEMA = {
    "type": "array",
    "items": {},
    "description": "N-dimensional array as nested arrays.",
}

# Pydantic stand-ins for the numpy/pandas types: each validates the JSON shape into the
# real object, serializes it back with to_builtins and documents the shape in OpenAPI.
DataFrameJson = Annotated[
    Any,
    PlainValidator(_to_dataframe),
    PlainSerializer(to_builtins),
    WithJsonSchema({"anyOf": [_RECORDS_SCHEMA, _COLUMNS_SCHEMA]}, mode="validation"),
    WithJsonSchema(_RECORDS_SCHEMA, mode="serialization"),
]
SeriesJson = Annotated[
    Any,
    PlainValidator(_to_series),
    PlainSerializer(to_builtins),
    WithJsonSchema(
        {"anyOf": [{"type": "array", "items": {}}, _INDEXED_VALUES_SCHEMA]}, mode="validation"
    ),
    WithJsonSchema(_INDEXED_VALUES_SCHEMA, mode="serialization"),
]
NdarrayJson = Annotated[
    Any,
    PlainValidator(_to_ndarray),
    PlainSerializer(to_builtins),
    WithJsonSchema(_NESTED_ARRAY_SCHEMA),
]


def numpy_scalar_json(numpy_type: type) -> Any | None:
    """The stand-in for a numpy scalar type such as numpy.float64, or None if unsupported."""
    import numpy as np

    for python_type, numpy_base in (
        (bool, np.bool_),
        (int, np.integer),
        (float, np.floating),
        (str, np.str_),
    ):
        if issubclass(numpy_type, numpy_base):
            return Annotated[
                python_type,
                AfterValidator(numpy_type),
                PlainSerializer(to_builtins, return_type=python_type),
            ]
    return None

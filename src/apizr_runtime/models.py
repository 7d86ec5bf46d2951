"""Pydantic request and response types built from the live signature of an endpoint function."""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PydanticUserError,
    TypeAdapter,
    create_model,
)
from typing_extensions import NotRequired, Required, TypedDict

from .serialization import DataFrameJson, NdarrayJson, SeriesJson, numpy_scalar_json


def wire_type(annotation: Any) -> Any:
    """`annotation` with every type pydantic cannot validate replaced by a stand-in.

    numpy/pandas types become the stand-ins of serialization.py, and typing.TypedDict
    classes are re-created with typing_extensions (pydantic rejects typing's before 3.12).
    Generic aliases (Optional, list[...], dict[...], Annotated, ...) are rebuilt around the
    replaced arguments; anything else is returned unchanged.
    """
    stand_in = _stand_in(annotation)
    if stand_in is not None:
        return stand_in
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is None or origin is Literal or not args:
        return annotation
    if origin is Annotated:
        return Annotated[(wire_type(args[0]), *annotation.__metadata__)]
    wire_args = tuple(wire_type(arg) for arg in args)
    if wire_args == args:
        return annotation
    if origin in (Union, types.UnionType):
        return Union[wire_args]
    return origin[wire_args]


def _stand_in(annotation: Any) -> Any | None:
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None:
        if annotation is pd.DataFrame:
            return DataFrameJson
        if annotation is pd.Series:
            return SeriesJson
    if np is not None:
        # numpy.typing.NDArray[...] is a parametrized numpy.ndarray.
        if annotation is np.ndarray or get_origin(annotation) is np.ndarray:
            return NdarrayJson
        if isinstance(annotation, type) and issubclass(annotation, np.generic):
            return numpy_scalar_json(annotation)
    if sys.version_info < (3, 12) and typing.is_typeddict(annotation):
        return _pydantic_typeddict(annotation)
    return None


@functools.cache
def _pydantic_typeddict(typed_dict: type) -> type:
    """The typing_extensions twin of a typing.TypedDict, with the same keys and docstring."""
    keys = {}
    for key, annotation in typing.get_type_hints(typed_dict, include_extras=True).items():
        qualifier = get_origin(annotation)
        if qualifier in (Required, NotRequired):
            annotation = get_args(annotation)[0]
        else:
            # Only right without a written qualifier: typing misses those in string annotations.
            qualifier = Required if key in typed_dict.__required_keys__ else NotRequired
        keys[key] = qualifier[wire_type(annotation)]
    twin = TypedDict(typed_dict.__name__, keys)
    twin.__module__ = typed_dict.__module__
    twin.__qualname__ = typed_dict.__qualname__
    twin.__doc__ = typed_dict.__doc__
    return twin


def request_model(
    endpoint_name: str,
    function: Callable[..., Any],
    hints: Mapping[str, Any],
    descriptions: Mapping[str, str | None],
) -> type[BaseModel] | None:
    """The model of the JSON body of `function`: one field per parameter, by name.

    `hints` are the function's resolved annotations (typing.get_type_hints); unannotated
    parameters accept any JSON value, and parameters with a default are optional and use
    the function's real default. *args and **kwargs are left out: a JSON object only has
    named values. Returns None when there is no parameter.
    """
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (
            wire_type(hints.get(parameter.name, Any)),
            Field(default, description=descriptions.get(parameter.name)),
        )
    if not fields:
        return None
    return create_model(
        f"{_camel_case(endpoint_name)}Request",
        # Reject misspelled parameter names instead of silently using their defaults.
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


def response_type(hints: Mapping[str, Any]) -> Any | None:
    """The type FastAPI validates and documents the return value as.

    None when the function has no return annotation or pydantic cannot model it (an
    arbitrary class, say); such values are serialized by serialization.render_json.
    """
    if "return" not in hints:
        return None
    annotation = wire_type(hints["return"])
    try:
        TypeAdapter(annotation)
    except PydanticUserError:
        return None
    return annotation


def _camel_case(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))

"""FastAPI routes that call the endpoint functions of the user module."""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable
from types import ModuleType
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import ResponseValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from .models import request_model, response_type
from .serialization import render_json, to_builtins

logger = logging.getLogger("apizr")


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    """The body of a 500 response: what went wrong, without the traceback."""

    error: ErrorDetail


def error_response(error_type: str, message: str) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(type=error_type, message=message))
    return JSONResponse(body.model_dump(), status_code=500)


async def response_validation_error_handler(
    request: Request, exc: ResponseValidationError
) -> JSONResponse:
    """A 500 for a return value that does not match the function's return annotation."""
    problems = "; ".join(
        f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
    )
    message = f"the return value does not match the return annotation: {problems}"
    logger.error("POST %s: %s", request.url.path, message)
    return error_response(type(exc).__name__, message)


def build_routes(spec: dict[str, Any], module: ModuleType) -> list[BaseRoute]:
    """One `POST /<name>` route per endpoint of `spec`, calling that function of `module`."""
    router = APIRouter()
    for endpoint in spec["endpoints"]:
        _add_route(router, endpoint, getattr(module, endpoint["name"]))
    return router.routes


def _add_route(router: APIRouter, endpoint: dict[str, Any], function: Callable[..., Any]) -> None:
    name = endpoint["name"]
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise TypeError(f"cannot resolve the annotations of {name}(): {exc}") from exc
    descriptions = {param["name"]: param["description"] for param in endpoint["parameters"]}
    body_model = request_model(name, function, hints, descriptions)
    returns = response_type(hints)
    router.add_api_route(
        f"/{name}",
        _handler(name, function, body_model, typed_response=returns is not None),
        methods=["POST"],
        name=name,
        operation_id=name,
        summary=endpoint["summary"],
        description=endpoint["description"],
        response_description=endpoint["returns_description"] or "Successful Response",
        response_model=returns,
        responses={500: {"model": ErrorResponse, "description": "The function raised."}},
    )


def _handler(
    name: str,
    function: Callable[..., Any],
    body_model: type[BaseModel] | None,
    typed_response: bool,
) -> Callable[..., Any]:
    """The FastAPI endpoint: unpacks the validated body into a call of `function`."""
    positional_only = [
        param.name
        for param in inspect.signature(function).parameters.values()
        if param.kind is param.POSITIONAL_ONLY
    ]
    is_async = inspect.iscoroutinefunction(function)

    async def handle(body: BaseModel | None = None) -> Any:
        if body is None and body_model is not None:
            body = body_model()  # no body sent: fine when every parameter has a default
        # dict() keeps the validated objects (models, DataFrames, ...) as they are.
        kwargs = {} if body is None else dict(body)
        args = [kwargs.pop(param) for param in positional_only]
        try:
            if is_async:
                result = await function(*args, **kwargs)
            else:
                # Sync functions run in the threadpool so they do not block the event loop.
                result = await run_in_threadpool(function, *args, **kwargs)
            if typed_response:
                # FastAPI validates and serializes this against the return annotation; numpy
                # and pandas values become builtins first (a Series for a `-> dict`, say).
                return to_builtins(result)
            return Response(render_json(result), media_type="application/json")
        except Exception as exc:
            logger.exception("POST /%s: %s() raised", name, name)
            return error_response(type(exc).__name__, str(exc))

    # FastAPI reads the body type from the signature; it has to be set at run time.
    handle.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        []
        if body_model is None
        else [
            inspect.Parameter(
                "body",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=body_model,
                default=None if _all_optional(body_model) else inspect.Parameter.empty,
            )
        ]
    )
    return handle


def _all_optional(model: type[BaseModel]) -> bool:
    return not any(field.is_required() for field in model.model_fields.values())

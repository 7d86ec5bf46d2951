"""Specs of the test user modules, as the apizr plugin would hand them to the runtime."""

import time
from collections.abc import Callable, Mapping

from fastapi.testclient import TestClient

SAMPLE_ENDPOINTS = """
    add greet measure power paint score midpoint checkout span scale column_means cumulative
    matmul norm echo report fail wrong_type wait_for_release pids
""".split()


def endpoint_spec(
    name: str,
    summary: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, str | None] | None = None,
    returns_description: str | None = None,
) -> dict:
    """An endpoint entry as the analyzer writes it (only what the runtime reads matters)."""
    return {
        "name": name,
        "is_async": False,
        "summary": summary,
        "description": description,
        "parameters": [
            {
                "name": param,
                "annotation": None,
                "has_default": False,
                "default": None,
                "description": text,
            }
            for param, text in (parameters or {}).items()
        ],
        "returns": None,
        "returns_description": returns_description,
        "location": {"cell": 6, "line": 1},
    }


def make_spec(module: str, endpoints: list[dict]) -> dict:
    return {
        "apizr_spec_version": 1,
        "source": f"tests/runtime/{module.replace('.', '/')}.ipynb",
        "endpoints": endpoints,
        "imports": [],
        "file_references": [],
        "module": module,
        "title": f"{module.rpartition('.')[2]}_api",
        "version": "1.2.3",
        "server": {
            "host": "127.0.0.1",
            "port": 8080,
            "workers": 2,
            "timeout": 60,
            "graceful_timeout": 30,
            "keepalive": 5,
            "preload": False,
        },
    }


def sample_spec() -> dict:
    documented = endpoint_spec(
        "add",
        summary="Add two integers.",
        description="Longer text about adding.",
        parameters={"a": "The first addend.", "b": None},
        returns_description="The sum.",
    )
    others = [endpoint_spec(name) for name in SAMPLE_ENDPOINTS if name != "add"]
    return make_spec("user_modules.sample", [documented, *others])


def poll(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def wait_until_loaded(client: TestClient) -> None:
    poll(lambda: client.get("/readyz").json()["status"] != "loading")

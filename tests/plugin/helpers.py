"""Helpers of the apizr backend's RuleRunner tests: notebooks as data, rule requests, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import Target
from pants.testutil.rule_runner import RuleRunner

from apizr.convert import ConvertedModule, ConvertNotebookRequest
from apizr.target_types import NotebookSourceField
from apizr.tools import NotebookApiError

HERE = Path(__file__).parent


def notebook_json(*cells: Mapping, language: str = "python") -> str:
    """An nbformat 4.5 notebook with the given cells (see `code` and `markdown`)."""
    notebook = {
        "cells": [{"id": f"cell-{index}", **cell} for index, cell in enumerate(cells, start=1)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": language, "name": "python3"},
            "language_info": {"name": language},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def code(source: str, *, tags: Iterable[str] = (), outputs: Iterable[Mapping] = (), count=None):
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": {"tags": list(tags)} if tags else {},
        "outputs": list(outputs),
        "source": source.splitlines(keepends=True),
    }


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source.splitlines(keepends=True)}


def stream_output(text: str) -> dict:
    return {"name": "stdout", "output_type": "stream", "text": [text]}


def get_target(rule_runner: RuleRunner, spec_path: str, name: str) -> Target:
    return rule_runner.get_target(Address(spec_path, target_name=name))


def convert(rule_runner: RuleRunner, spec_path: str, name: str) -> ConvertedModule:
    target = get_target(rule_runner, spec_path, name)
    return rule_runner.request(ConvertedModule, [ConvertNotebookRequest(target[NotebookSourceField])])


def digest_files(rule_runner: RuleRunner, digest: Digest) -> dict[str, str]:
    contents = rule_runner.request(DigestContents, [digest])
    return {entry.path: entry.content.decode("utf-8") for entry in contents}


def engine_failure(run: Callable[[], object]) -> tuple[ExecutionError, str]:
    """Run `run()`, which must fail with a NotebookApiError; return it and its message."""
    with pytest.raises(ExecutionError) as excinfo:
        run()
    error = excinfo.value
    wrapped = [e for e in error.wrapped_exceptions if isinstance(e, NotebookApiError)]
    assert wrapped, f"expected a NotebookApiError, got: {error.wrapped_exceptions!r}\n{error}"
    return error, str(wrapped[0])


def assert_no_script_traceback(error: ExecutionError, message: str) -> None:
    """The user sees apizr's own message, not a Python traceback of the convert/analyze script."""
    assert "Traceback" not in message, message
    for script in ("convert_notebook.py", "analyze_module.py"):
        assert script not in message, message
        assert script not in str(error), str(error)
    assert "failed unexpectedly" not in message, message


def message_lines(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.strip()]


"""Describe the endpoints of a Python module as apizr's spec JSON, by static analysis only.

Usage:
    python analyze_module.py MODULE.py --display-name PATH --output SPEC.json
        [--endpoint NAME]... [--check-resources] [--resource RELPATH]... [--imports-only]

The module is parsed with `ast`: user code is never imported or run. Locations are notebook
cells when the module has the converter's `# %% [cell N]` markers. Exit code 0 on success, 2
when the module cannot be served (one `apizr: ...` line per problem on stderr).

This file is copied alone into a sandbox: it must not import anything from apizr.
"""

from __future__ import annotations

import argparse
import ast
import json
import posixpath
import re
import sys
from pathlib import Path
from typing import Iterator, NamedTuple

import docstring_parser

SPEC_VERSION = 1
CELL_MARKER = re.compile(r"# %% \[cell (\d+)\]")

# Request fields become pydantic model fields: these names would clash with BaseModel's API.
RESERVED_PARAMETER_NAMES = {
    "construct",
    "copy",
    "dict",
    "from_orm",
    "json",
    "parse_file",
    "parse_obj",
    "parse_raw",
    "schema",
    "schema_json",
    "update_forward_refs",
    "validate",
}
RESERVED_PARAMETER_PREFIXES = ("_", "model_")

# Calls that stop a server's start-up, waiting for a terminal that is not there.
BLOCKING_CALLS = {
    "breakpoint": "starts the debugger",
    "getpass": "waits for a password",
    "input": "waits for keyboard input",
    "set_trace": "starts the debugger",
}

# Calls (by their last name, so that aliases like `pd.read_csv` match) that read a file.
READING_CALLS = {
    "genfromtxt",
    "load",
    "loadtxt",
    "open",
    "read_csv",
    "read_excel",
    "read_json",
    "read_parquet",
    "read_pickle",
    "read_table",
}
PATH_METHODS = {"open", "read_bytes", "read_text"}  # of Path("...")
PATH_KEYWORDS = {"file", "filepath", "filepath_or_buffer", "fname", "path"}
URL_SCHEME = re.compile(r"[A-Za-z][\w+.-]*://")


class Problem(NamedTuple):
    line: int | None  # module line; None for the module as a whole
    message: str


class AnalysisError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def comparable(line: str) -> str:
    """A line as black may rewrite it: without whitespace and quotes."""
    return re.sub(r"[\s'\"]", "", line)


class SourceMap:
    """Maps module lines to the notebook cells the converter marked with `# %% [cell N]`.

    The converter removed magics and black reformatted the code, so with the notebook's cells at
    hand a module line is matched to the cell line it came from by its text.
    """

    def __init__(self, source: str, notebook_cells: dict[int, list[str]] | None = None) -> None:
        self.lines = source.splitlines()
        self.notebook_cells = notebook_cells or {}
        self.markers = [
            (number, int(match[1]))
            for number, line in enumerate(self.lines, start=1)
            if (match := CELL_MARKER.fullmatch(line))
        ]

    def location(self, line: int) -> dict:
        preceding = [(number, cell) for number, cell in self.markers if number < line]
        if not preceding:
            return {"cell": None, "line": line}
        marker_line, cell = preceding[-1]
        cell_line = self.notebook_line(cell, marker_line, line)
        return {"cell": cell, "line": cell_line or line - marker_line}

    def notebook_line(self, cell: int, marker_line: int, line: int) -> int | None:
        key = comparable(self.lines[line - 1])
        if not key or cell not in self.notebook_cells:
            return None
        # The n-th module line with this text in the cell is the n-th such notebook line.
        earlier = [comparable(text) for text in self.lines[marker_line : line - 1]]
        occurrence = earlier.count(key)
        matches = [
            number
            for number, text in enumerate(self.notebook_cells[cell], start=1)
            if (original := comparable(text))
            and (original.startswith(key) or key.startswith(original))
        ]
        return matches[occurrence] if occurrence < len(matches) else None

    def format(self, problem: Problem, display_name: str) -> str:
        if problem.line is None:
            return f"apizr: {display_name}: {problem.message}"
        location = self.location(problem.line)
        cell = f"cell {location['cell']}, " if location["cell"] is not None else ""
        return f"apizr: {display_name}, {cell}line {location['line']}: {problem.message}"


def call_name(func: ast.expr) -> str | None:
    """`open` for `open(...)`, `read_csv` for `pd.read_csv(...)`."""
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def top_level_functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    functions = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The last definition wins, as when a notebook cell redefines a function.
            functions.pop(node.name, None)
            functions[node.name] = node
    return functions


def select_endpoints(
    tree: ast.Module, names: list[str]
) -> tuple[list[ast.FunctionDef], list[Problem]]:
    functions = top_level_functions(tree)
    if names:
        problems = [
            Problem(None, f"endpoint {name!r} is not a top-level function of the module")
            for name in names
            if name not in functions
        ]
        return [functions[name] for name in dict.fromkeys(names) if name in functions], problems
    endpoints = [function for name, function in functions.items() if not name.startswith("_")]
    if endpoints:
        return endpoints, []
    message = (
        "no endpoints: define a public top-level function (its name not starting with '_'),"
        " or name the functions to serve in the target's `endpoints` field"
    )
    return [], [Problem(None, message)]


def parameters(function: ast.FunctionDef) -> list[tuple[ast.arg, ast.expr | None]]:
    """Each named parameter with its default expression (None when it has no default)."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + arguments.defaults
    return [*zip(positional, defaults), *zip(arguments.kwonlyargs, arguments.kw_defaults)]


def signature_problems(function: ast.FunctionDef) -> list[Problem]:
    arguments = function.args
    prefix = f"endpoint {function.name}()"
    problems = [
        Problem(
            arg.lineno,
            f"{prefix}: positional-only parameter {arg.arg!r} (before '/') is not supported:"
            " requests pass parameters by name",
        )
        for arg in arguments.posonlyargs
    ]
    for arg, stars in ((arguments.vararg, "*"), (arguments.kwarg, "**")):
        if arg:
            problems.append(
                Problem(
                    arg.lineno,
                    f"{prefix}: '{stars}{arg.arg}' is not supported: an endpoint needs a fixed"
                    " set of named parameters",
                )
            )
    for arg, _ in parameters(function):
        if arg.arg in RESERVED_PARAMETER_NAMES or arg.arg.startswith(RESERVED_PARAMETER_PREFIXES):
            problems.append(
                Problem(
                    arg.lineno,
                    f"{prefix}: parameter name {arg.arg!r} is reserved (names starting with"
                    " '_' or 'model_' and pydantic BaseModel attributes cannot be request"
                    " fields): rename it",
                )
            )
    return problems


def split_paragraphs(text: str | None) -> tuple[str | None, str | None]:
    """The first paragraph as one line, and the other paragraphs (None when absent)."""
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text or "") if part.strip()]
    if not paragraphs:
        return None, None
    return " ".join(paragraphs[0].split()), "\n\n".join(paragraphs[1:]) or None


def describe_endpoint(function: ast.FunctionDef, source_map: SourceMap) -> dict:
    docstring = ast.get_docstring(function) or ""
    try:
        parsed = docstring_parser.parse(docstring)
    except docstring_parser.ParseError:
        parsed = docstring_parser.Docstring()
        parsed.long_description = docstring  # no sections to take apart: all of it is text
    summary, description = split_paragraphs(parsed.description)
    parameter_descriptions = {param.arg_name: param.description for param in parsed.params}
    return {
        "name": function.name,
        "is_async": isinstance(function, ast.AsyncFunctionDef),
        "summary": summary,
        "description": description,
        "parameters": [
            {
                "name": arg.arg,
                "annotation": unparse(arg.annotation),
                "has_default": default is not None,
                "default": unparse(default),
                "description": parameter_descriptions.get(arg.arg) or None,
            }
            for arg, default in parameters(function)
        ],
        "returns": unparse(function.returns),
        "returns_description": (parsed.returns and parsed.returns.description) or None,
        "location": source_map.location(function.lineno),
    }


def unparse(node: ast.expr | None) -> str | None:
    return ast.unparse(node) if node is not None else None


def is_main_guard(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"


def start_up_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes that run when the module is imported (not function bodies nor the main guard)."""
    for child in ast.iter_child_nodes(node):
        is_deferred = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if not (is_deferred or is_main_guard(child)):
            yield child
            yield from start_up_nodes(child)


def blocking_call_problems(tree: ast.Module) -> list[Problem]:
    problems = []
    for node in start_up_nodes(tree):
        if isinstance(node, ast.Call) and (name := call_name(node.func)) in BLOCKING_CALLS:
            problems.append(
                Problem(
                    node.lineno,
                    f"{ast.unparse(node.func)}() at the top level {BLOCKING_CALLS[name]},"
                    " which blocks the server at start-up: remove it or move it into a function",
                )
            )
    return problems


def imported_modules(tree: ast.Module) -> list[str]:
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        # Relative imports are local files; `from a import b` may import module a.b, and
        # consumers fall back to the parents of the names they cannot resolve.
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.update(
                node.module if alias.name == "*" else f"{node.module}.{alias.name}"
                for alias in node.names
            )
    # The standard library needs no dependency; this runs on the services' interpreter.
    return sorted(name for name in modules if name.split(".")[0] not in sys.stdlib_module_names)


def argument(call: ast.Call, position: int, keywords: set[str]) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in keywords:
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def string_value(node: ast.expr | None) -> str | None:
    is_string = isinstance(node, ast.Constant) and isinstance(node.value, str)
    return node.value if is_string else None


def read_path(call: ast.Call) -> str | None:
    """The relative file path that `call` reads, if it is a literal."""
    func, name = call.func, call_name(call.func)
    on_path = (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and call_name(func.value.func) == "Path"
    )
    if on_path and name in PATH_METHODS:
        path, mode_position = string_value(argument(func.value, 0, PATH_KEYWORDS)), 0
    elif name in READING_CALLS:
        path, mode_position = string_value(argument(call, 0, PATH_KEYWORDS)), 1
    else:
        return None
    mode = string_value(argument(call, mode_position, {"mode"})) if name == "open" else None
    if path is None or (mode and re.search("[wax]", mode)):
        return None
    looks_like_file = "/" in path or re.search(r"\.\w+$", path)
    is_relative = not path.startswith(("/", "~", "\\")) and not URL_SCHEME.match(path)
    return posixpath.normpath(path) if looks_like_file and is_relative else None


def file_references(tree: ast.Module) -> list[tuple[str, int]]:
    references = {
        (path, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (path := read_path(node))
    }
    return sorted(references, key=lambda reference: (reference[1], reference[0]))


def analyze(
    source: str,
    display_name: str,
    endpoint_names: list[str],
    resources: set[str] | None,
    imports_only: bool = False,
    notebook_cells: dict[int, list[str]] | None = None,
) -> dict:
    """Return the spec of the module, or raise AnalysisError.

    `resources` are the files packaged with the service, relative to the module's directory;
    None skips checking the files the module reads. `imports_only` skips judging endpoints.
    `notebook_cells` (cell number to source lines) gives locations in the notebook's own lines.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        code = f": {error.text.strip()}" if error.text else ""
        raise AnalysisError([Problem(error.lineno, f"syntax error: {error.msg}{code}")]) from None
    source_map = SourceMap(source, notebook_cells)
    references = file_references(tree)
    spec = {
        "apizr_spec_version": SPEC_VERSION,
        "source": display_name,
        "imports": imported_modules(tree),
        "file_references": [
            {"path": path, "location": source_map.location(line)} for path, line in references
        ],
    }
    if imports_only:
        return spec
    endpoints, problems = select_endpoints(tree, endpoint_names)
    problems += [problem for function in endpoints for problem in signature_problems(function)]
    problems += blocking_call_problems(tree)
    if resources is not None:
        problems += [
            Problem(
                line,
                f"reads {path!r}, which is not among the target's dependencies:"
                " add it as a resource() dependency",
            )
            for path, line in references
            if path not in resources
        ]
    if problems:
        # Problems about the whole module first, then in source order.
        raise AnalysisError(sorted(problems, key=lambda problem: problem.line or 0))
    spec["endpoints"] = [describe_endpoint(function, source_map) for function in endpoints]
    return spec


def read_notebook_cells(path: Path) -> dict[int, list[str]]:
    """Cell number to its source lines, as the converter's `--cells-output` wrote them."""
    return {int(number): lines for number, lines in json.loads(path.read_text("utf-8")).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", type=Path, help="the .py file to analyze")
    parser.add_argument("--display-name", required=True, help="the source's path as users know it")
    parser.add_argument("--output", required=True, type=Path, help="the spec JSON file to write")
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        dest="endpoints",
        help="serve this function (repeatable); default: every public top-level function",
    )
    parser.add_argument(
        "--resource",
        action="append",
        default=[],
        dest="resources",
        help="a file packaged with the service, relative to the module's directory (repeatable)",
    )
    parser.add_argument(
        "--check-resources",
        action="store_true",
        help="fail on files the module reads that are not a --resource, even with no --resource",
    )
    parser.add_argument(
        "--cells",
        type=Path,
        help="the code cells the module was converted from (the converter's --cells-output), to "
        "report the cells' own line numbers",
    )
    parser.add_argument(
        "--imports-only",
        action="store_true",
        help="only list imports and file references, without judging the endpoints",
    )
    args = parser.parse_args(argv)
    checks_resources = args.check_resources or bool(args.resources)
    resources = {posixpath.normpath(path) for path in args.resources} if checks_resources else None
    try:
        source = args.module.read_text(encoding="utf-8")
    except (OSError, ValueError) as error:  # ValueError: not UTF-8
        print(f"apizr: {args.display_name}: cannot read the module: {error}", file=sys.stderr)
        return 2
    notebook_cells = read_notebook_cells(args.cells) if args.cells else None
    try:
        spec = analyze(
            source, args.display_name, args.endpoints, resources, args.imports_only, notebook_cells
        )
    except AnalysisError as error:
        source_map = SourceMap(source, notebook_cells)
        for problem in error.problems:
            print(source_map.format(problem, args.display_name), file=sys.stderr)
        return 2
    text = json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False)
    args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A separate, minimal Pants repository that loads apizr the way a user's monorepo would.

It has its own pants.toml, BUILD files, requirements and lockfiles (generated here), and reaches
apizr only through `[GLOBAL].pythonpath`. Everything runs through the real `pants`.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from e2e.harness import PantsResult, buildroot, http, run_pants, serve_pex, wait_until


def notebook(*cells: dict) -> str:
    return json.dumps(
        {
            "cells": list(cells),
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def cell_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id(text), "metadata": {}, "source": text}


def code(source: str, *, outputs: list | None = None, tags: list[str] | None = None) -> dict:
    return {
        "cell_type": "code",
        "execution_count": 1,
        "id": cell_id(source),
        "metadata": {"tags": tags} if tags else {},
        "outputs": outputs or [],
        "source": textwrap.dedent(source).strip(),
    }


def text_output(text: str) -> dict:
    return {
        "output_type": "execute_result",
        "execution_count": 1,
        "data": {"text/plain": text},
        "metadata": {},
    }


SHOP_CELLS = [
    markdown("# Shop prices\nPrices come from `prices.json`."),
    code("%matplotlib inline\nimport json\nimport numpy as np"),
    code(
        """
        with open("prices.json") as f:
            PRICES = json.load(f)
        PRICES
        """,
        outputs=[text_output("{'apple': 0.5, 'pear': 0.75}")],
    ),
    code('''
        def price(item: str, quantity: int = 1) -> float:
            """Price of some items.

            Args:
                item: What to buy.
                quantity: How many.
            """
            if item not in PRICES:
                raise KeyError(f"unknown item {item}")
            return float(np.round(PRICES[item] * quantity, 2))
        '''),
    code("!pip install matplotlib\nprice('apple', 3)", tags=["skip-api"]),
]

BROKEN = {
    "syntax": notebook(code("x = 1"), code("def f(:\n    pass")),
    "no_endpoints": notebook(code("x = 1")),
    "missing_file": notebook(
        code("import json"),
        code('DATA = json.load(open("data.json"))\n\ndef f() -> int:\n    return len(DATA)'),
    ),
}


# Fake secrets and personal data (AWS's documented example key), for the privacy check.
LEAKY_CELLS = [
    code('KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n\ndef ping() -> str:\n    return "pong"'),
    code("print(customer)", outputs=[text_output("{'email': 'jane.roe@acme-fake-clients.com'}")]),
]
LEAKY_FILES = {
    "src/leaky/BUILD": textwrap.dedent("""\
        resource(name="contacts", source="contacts.csv")
        notebook_api(name="leaky_api", source="leaky.ipynb", dependencies=[":contacts"])
        notebook_api(name="warn_api", source="warn.ipynb", privacy_check="warn")
        """),
    "src/leaky/contacts.csv": "name,email\nJane Roe,jane.roe@acme-fake-clients.com\n",
    "src/leaky/leaky.ipynb": notebook(*LEAKY_CELLS),
    "src/leaky/warn.ipynb": notebook(LEAKY_CELLS[0]),
}
LEAKY_FINDINGS = [
    "src/leaky/contacts.csv, line 2: email: Jane Roe,jane….com",
    'src/leaky/leaky.ipynb, cell 1, line 1: aws-access-key: KEY_ID = "AKIA…MPLE"',
    "src/leaky/leaky.ipynb, cell 2, output 1, line 1: email: {'email': 'jane….com'}",
]


def write(root: Path, files: dict[str, str]) -> None:
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def pants_toml(apizr: Path) -> str:
    pex_cli = re.search(r"\[pex-cli\].*?(?=\n\[)", (apizr / "pants.toml").read_text(), re.S)
    assert pex_cli, "pants.toml has no [pex-cli] section"
    wheelhouse = apizr / ".bootstrap" / "wheelhouse"
    return textwrap.dedent(f"""\
        [GLOBAL]
        pants_version = "2.17.1"
        pythonpath = ["{apizr}/pants-plugins", "{apizr}/src"]
        backend_packages = ["pants.backend.python", "apizr"]
        ignore_warnings = ["DEPRECATED: Running Pants in an external Python interpreter"]

        [anonymous-telemetry]
        enabled = false

        [source]
        root_patterns = ["/src"]

        [python]
        interpreter_constraints = ["CPython==3.11.*"]
        enable_resolves = true

        [python.resolves]
        python-default = "3rdparty/python-default.lock"
        tools = "3rdparty/tools.lock"

        [python-infer]
        use_rust_parser = true

        [python-repos]
        indexes = []
        find_links = ["file://{wheelhouse}"]
        path_mappings = ["WHEELHOUSE|{wheelhouse}"]

        [apizr-tools]
        install_from_resolve = "tools"
        """) + pex_cli.group(0).replace("%(buildroot)s", str(apizr))


# A user's third-party setup: the serving stack, what the notebook imports, and apizr's tools.
THIRD_PARTY_FILES = {
    "3rdparty/BUILD": textwrap.dedent("""\
        python_requirements(name="services", source="services.txt")
        python_requirements(name="tools", source="tools.txt", resolve="tools")
        """),
    "3rdparty/services.txt": "\n".join(
        ["fastapi", "pydantic", "pydantic-core", "starlette", "gunicorn", "uvicorn"]
        + ["uvicorn-worker", "numpy", ""]
    ),
    "3rdparty/tools.txt": "nbconvert\nnbformat\nblack\ndocstring-parser\ndetect-secrets\n",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("monorepo")
    write(
        root,
        {
            "pants.toml": pants_toml(buildroot()),
            ".gitignore": "/dist/\n/.pants.d/\n",
            **THIRD_PARTY_FILES,
            "src/shop/BUILD": textwrap.dedent("""\
                resource(name="prices", source="prices.json")
                notebook_api(name="shop_api", source="shop.ipynb", dependencies=[":prices"], workers=1)
                """),
            "src/shop/prices.json": json.dumps({"apple": 0.5, "pear": 0.75}),
            "src/shop/shop.ipynb": notebook(*SHOP_CELLS),
            "src/other/BUILD": 'notebook_api(name="other_api", source="other.py")\n',
            "src/other/other.py": "def ping() -> str:\n    return 'pong'\n",
            "src/broken/BUILD": "".join(
                f'notebook_api(name="{name}", source="{name}.ipynb")\n' for name in BROKEN
            )
            + 'notebook_api(name="not_json", source="not_json.ipynb")\n',
            **{f"src/broken/{name}.ipynb": content for name, content in BROKEN.items()},
            "src/broken/not_json.ipynb": "this is not a notebook\n",
            **LEAKY_FILES,
        },
    )
    locked = run_pants(root, "generate-lockfiles")
    assert locked.returncode == 0, locked.stderr
    assert "${WHEELHOUSE}" in (root / "3rdparty/python-default.lock").read_text()
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    return root


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True)


def package(root: Path, *targets: str, stats: bool = False) -> PantsResult:
    return run_pants(root, *(["--stats-log"] if stats else []), "package", *targets)


def executions(result: PantsResult) -> int:
    match = re.search(r"local_execution_requests: (\d+)", result.stderr)
    assert match, result.stderr
    return int(match.group(1))


def test_packages_and_serves_a_notebook(repo, tmp_path):
    result = package(repo, "src/shop:shop_api")
    assert result.returncode == 0, result.stderr
    pex = repo / "dist/src.shop/shop_api.pex"
    with serve_pex(pex, tmp_path) as server:
        wait_until(lambda: server.status_of("/readyz") == 200, 120, "/readyz to become 200")
        assert http("POST", server.base_url + "/price", {"item": "pear", "quantity": 2}).body == 1.5
        failure = http("POST", server.base_url + "/price", {"item": "plum"})
        assert failure.status == 500
        assert failure.body == {"error": {"type": "KeyError", "message": "'unknown item plum'"}}
        assert http("POST", server.base_url + "/price", {"quantity": 2}).status == 422
        openapi = http("GET", server.base_url + "/openapi.json").body
        schema = openapi["paths"]["/price"]["post"]
        assert schema["summary"] == "Price of some items."


def test_workflows_see_inferred_dependencies_and_fields(repo):
    dependencies = run_pants(repo, "dependencies", "src/shop:shop_api")
    assert dependencies.returncode == 0, dependencies.stderr
    listed = dependencies.stdout.split()
    assert "3rdparty:services#numpy" in listed
    assert "3rdparty:services#fastapi" in listed
    assert "src/shop:prices" in listed

    peek = run_pants(repo, "peek", "src/shop:shop_api")
    assert peek.returncode == 0, peek.stderr
    (fields,) = json.loads(peek.stdout)
    assert fields["source_raw"] == "shop.ipynb" and fields["workers"] == 1

    codegen = run_pants(repo, "export-codegen", "src/shop:shop_api")
    assert codegen.returncode == 0, codegen.stderr
    converted = (repo / "dist/codegen/src/shop/shop.py").read_text()
    assert "def price(item: str, quantity: int = 1) -> float:" in converted
    assert "%matplotlib" not in converted and "pip install" not in converted
    assert "'apple': 0.5" not in converted, "notebook outputs must not reach the code"
    app = (repo / "dist/codegen/src/shop/shop_api_app.py").read_text()
    assert "'module': 'shop.shop'" in app


def test_second_package_does_no_work_and_markdown_edits_build_no_new_pex(repo):
    first = package(repo, "src/shop:shop_api", stats=True)
    assert first.returncode == 0, first.stderr
    pex = repo / "dist/src.shop/shop_api.pex"
    built = pex.read_bytes()

    again = package(repo, "src/shop:shop_api", stats=True)
    assert again.returncode == 0, again.stderr
    # Pants runs a few uncacheable processes per run (interpreter discovery); nothing else.
    baseline = executions(again)
    assert executions(first) == baseline

    shop = repo / "src/shop/shop.ipynb"
    original = shop.read_text()
    try:
        edited = json.loads(original)
        # Never seen before, so that no cache from an earlier run answers for it.
        nonce = uuid.uuid4().hex
        edited["cells"][0]["source"] = f"# Shop prices\nNow with better prose ({nonce})."
        edited["cells"][2]["outputs"] = [text_output(f"{{'apple': 'changed output {nonce}'}}")]
        edited["cells"][2]["execution_count"] = 42
        shop.write_text(json.dumps(edited))
        prose = package(repo, "src/shop:shop_api", stats=True)
        assert prose.returncode == 0, prose.stderr
        # Only the conversion and the privacy check (which reads outputs) reran: the converted
        # module is byte-identical, so nothing downstream did.
        assert executions(prose) == baseline + 2
        assert pex.read_bytes() == built

        edited["cells"][3][
            "source"
        ] += f"\n\ndef total() -> float:  # {nonce}\n    return sum(PRICES.values())"
        shop.write_text(json.dumps(edited))
        new_code = package(repo, "src/shop:shop_api", stats=True)
        assert new_code.returncode == 0, new_code.stderr
        assert executions(new_code) > baseline + 1
        assert pex.read_bytes() != built
    finally:
        shop.write_text(original)


def test_changed_since_selects_only_changed_apis(repo):
    other = repo / "src/other/other.py"
    original = other.read_text()
    try:
        other.write_text(original + "\n\ndef pong() -> str:\n    return 'ping'\n")
        changed = run_pants(repo, "--changed-since=HEAD", "list")
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout.split() == ["src/other:other_api"]
    finally:
        other.write_text(original)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("syntax", "src/broken/syntax.ipynb, cell 2, line 1"),
        ("no_endpoints", "src/broken/no_endpoints.ipynb"),
        ("missing_file", "src/broken/missing_file.ipynb, cell 2, line 1: reads 'data.json'"),
        ("not_json", "src/broken/not_json.ipynb: not a Jupyter notebook"),
    ],
)
def test_broken_inputs_fail_clearly_and_leave_no_artifact(repo, target, expected):
    result = package(repo, f"src/broken:{target}")
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert "Traceback (most recent call last)" not in result.stderr, result.stderr
    assert not (repo / f"dist/src.broken/{target}.pex").exists()


def test_privacy_findings_fail_the_build_with_masked_excerpts(repo):
    result = package(repo, "src/leaky:leaky_api")
    assert result.returncode != 0
    for finding in LEAKY_FINDINGS:
        assert finding in result.stderr, result.stderr
    assert "AKIAIOSFODNN7EXAMPLE" not in result.stderr
    assert "jane.roe@" not in result.stderr
    assert "Traceback (most recent call last)" not in result.stderr, result.stderr
    assert not (repo / "dist/src.leaky/leaky_api.pex").exists()

    # The entries the message prints, as the target's baseline, accept every finding.
    printed = result.stderr.split("`privacy_baseline` field:\n", 1)[1]
    baseline, _ = json.JSONDecoder().raw_decode(printed)
    build = repo / "src/leaky/BUILD"
    original = build.read_text()
    try:
        (repo / "src/leaky/privacy-baseline.json").write_text(json.dumps(baseline))
        build.write_text(
            original.replace(
                'source="leaky.ipynb",',
                'source="leaky.ipynb", privacy_baseline="privacy-baseline.json",',
            )
        )
        accepted = package(repo, "src/leaky:leaky_api")
        assert accepted.returncode == 0, accepted.stderr
        assert "privacy finding" not in accepted.stderr
    finally:
        build.write_text(original)
        (repo / "src/leaky/privacy-baseline.json").unlink()


def test_privacy_check_warn_only_warns(repo):
    result = package(repo, "src/leaky:warn_api")
    assert result.returncode == 0, result.stderr
    assert "src/leaky:warn_api: 1 privacy finding" in result.stderr
    assert (
        'src/leaky/warn.ipynb, cell 1, line 1: aws-access-key: KEY_ID = "AKIA…MPLE"'
        in result.stderr
    )
    assert (repo / "dist/src.leaky/warn_api.pex").is_file()


def test_lint_reports_privacy_findings_of_every_notebook_api(repo):
    result = run_pants(repo, "lint", "--only=apizr-privacy", "src/leaky::", "src/shop::")
    assert result.returncode == 1, result.stderr
    output = result.stdout + result.stderr
    assert "apizr-privacy failed" in output, output
    for finding in LEAKY_FINDINGS:
        assert finding in output, output
    assert "src/leaky:warn_api: 1 privacy finding" in output
    assert "src/shop" not in output

    clean = run_pants(repo, "lint", "--only=apizr-privacy", "src/shop::", "src/leaky:warn_api")
    assert clean.returncode == 0, clean.stderr
    skipped = run_pants(repo, "--apizr-privacy-skip", "lint", "--only=apizr-privacy", "src/leaky::")
    assert skipped.returncode == 0, skipped.stderr

"""The workspace bootstrap run by ./pants: what it downloads, and how it recovers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bootstrap


def test_lockfiles_pin_only_wheelhouse_artifacts_by_sha256():
    assert bootstrap.LOCKFILES, "no lockfiles found"
    for lockfile in bootstrap.LOCKFILES:
        for resolve in bootstrap.read_lockfile(lockfile)["locked_resolves"]:
            for requirement in resolve["locked_requirements"]:
                for artifact in requirement["artifacts"]:
                    assert artifact["url"].startswith("file://${WHEELHOUSE}/"), artifact
                    assert artifact["algorithm"] == "sha256" and len(artifact["hash"]) == 64


def test_pinned_artifacts_cover_pex_pip_and_every_lockfile():
    pins = bootstrap.pinned_artifacts()
    assert "pip-23.1.2-py3-none-any.whl" in pins
    assert any(name.startswith("pantsbuild.pants-2.17.1-") for name in pins)
    assert any(name.startswith("fastapi-") for name in pins)


@pytest.mark.parametrize(
    ("filename", "args", "requirement"),
    [
        ("idna-3.20-py3-none-any.whl", ("--ignore-requires-python",), "idna==3.20"),
        (
            "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
            (
                "--implementation", "cp", "--python-version", "311", "--abi", "cp311",
                "--platform", "manylinux_2_27_x86_64", "--platform", "manylinux_2_28_x86_64",
            ),
            "numpy==2.4.6",
        ),
        (
            "ruff-0.4.10-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ("--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"),
            "ruff==0.4.10",
        ),
    ],
)  # fmt: skip
def test_download_args_select_exactly_the_pinned_wheel(filename, args, requirement):
    assert bootstrap.download_args(filename) == (args, requirement)


def test_sdists_are_refused_with_a_clear_error():
    with pytest.raises(bootstrap.BootstrapError, match="only wheels"):
        bootstrap.download_args("example-1.0.tar.gz")


def test_one_pip_call_never_sees_a_project_twice():
    batches = bootstrap.batches_of_distinct_projects(["a==1", "a==2", "b==1", "a==3"])
    assert batches == [["a==1", "b==1"], ["a==2"], ["a==3"]]


def test_a_corrupt_artifact_is_removed_so_the_next_run_downloads_it_again(tmp_path):
    """What a download killed half-way, or a tampered file, leaves behind is not trusted."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheel = wheelhouse / "example-1.0-py3-none-any.whl"
    wheel.write_bytes(b"truncated")
    with pytest.raises(bootstrap.BootstrapError, match="sha256 differs"):
        bootstrap.fill_wheelhouse(wheelhouse, {wheel.name: "0" * 64})
    assert not wheel.exists()


def test_a_complete_wheelhouse_needs_no_download(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheel = wheelhouse / "example-1.0-py3-none-any.whl"
    wheel.write_bytes(b"content")
    # No pip call can succeed for this made-up project: passing proves none was made.
    bootstrap.fill_wheelhouse(wheelhouse, {wheel.name: bootstrap.sha256_of(wheel)})


def test_the_pex_cli_pin_matches_pants_toml():
    sha256, size, relpath = bootstrap.pinned_pex_cli()
    assert len(sha256) == 64 and size > 1_000_000 and relpath == ".bootstrap/pex"


def test_unknown_command_fails_cleanly(tmp_path):
    script = Path(bootstrap.__file__)
    result = subprocess.run(
        [sys.executable, str(script), "nonsense", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "[bootstrap] error: unknown command nonsense"
    assert json.dumps(result.stderr).count("Traceback") == 0


def test_finds_a_working_interpreter_even_behind_an_inactive_pyenv_shim():
    python = bootstrap.find_interpreter("3.9")
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    assert version.stdout.strip() == "(3, 9)"


def test_a_missing_interpreter_is_a_clear_error():
    with pytest.raises(bootstrap.BootstrapError, match="seeding needs CPython 2.1"):
        bootstrap.find_interpreter("2.1")

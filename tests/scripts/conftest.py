from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture
def run_script(tmp_path_factory):
    """Run a script's real CLI the way the plugin does: copied alone, without PYTHONPATH."""

    def run(script: ModuleType, *args: object) -> subprocess.CompletedProcess:
        sandbox = tmp_path_factory.mktemp("sandbox")
        copy = shutil.copy(script.__file__, sandbox / Path(script.__file__).name)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        return subprocess.run(
            [sys.executable, copy, *map(str, args)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=sandbox,
            env=env,
            timeout=60,
        )

    return run

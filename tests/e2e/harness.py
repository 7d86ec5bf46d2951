"""Helpers for end-to-end tests: real `pants` runs and real HTTP calls to served PEXes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest


def buildroot() -> Path:
    """The apizr checkout under test (the sandbox only holds the test's own files)."""
    root = os.environ.get("APIZR_BUILDROOT")
    if not root:
        pytest.fail("APIZR_BUILDROOT is not set: run the tests with `./pants test`")
    return Path(root)


def pants_binary() -> Path:
    """The Pants that ./pants bootstrapped, for runs in other build roots."""
    (ready,) = (buildroot() / ".bootstrap").glob("ready-*")
    return Path(ready.read_text().strip())


@dataclass(frozen=True)
class PantsResult:
    returncode: int
    stdout: str
    stderr: str


def run_pants(root: Path, *args: str, timeout: int = 900) -> PantsResult:
    """One Pants run without pantsd, so that nothing stays around and no state is shared."""
    workdir = root / ".pants.d" / "e2e"
    completed = subprocess.run(
        [str(pants_binary()), "--no-pantsd", f"--pants-workdir={workdir}", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return PantsResult(completed.returncode, completed.stdout, completed.stderr)


@contextmanager
def private_distdir(root: Path) -> Iterator[Path]:
    """A dist dir of this test's own: Pants insists that it is inside the build root."""
    (root / "dist").mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="e2e-", dir=root / "dist"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def http(method: str, url: str, body: Any = None, timeout: float = 30) -> Response:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Response(status, headers, parsed)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status_of(self, path: str) -> int | None:
        try:
            return http("GET", self.base_url + path, timeout=2).status
        except OSError:
            return None


@contextmanager
def serve_pex(pex: Path, log_dir: Path, **env: str) -> Iterator[Server]:
    """Run a packaged service on `PORT` if given, else a free port; stop it with SIGTERM and
    check it exits cleanly."""
    port = int(env.get("PORT") or free_port())
    log_path = log_dir / f"{pex.stem}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(pex)],
            env={**os.environ, "WEB_CONCURRENCY": "1", **env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until(
            lambda: process.poll() is not None or server.status_of("/healthz") == 200,
            timeout=120,
            what=f"{pex.name} to answer /healthz",
        )
        assert process.poll() is None, f"{pex.name} exited early:\n{server.log()}"
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                raise AssertionError(f"{pex.name} ignored SIGTERM:\n{server.log()}")
    assert process.returncode == 0, f"{pex.name} exited with {process.returncode}:\n{server.log()}"

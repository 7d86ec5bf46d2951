"""serve(): gunicorn settings from the spec and the environment, and real server runs."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import apizr_runtime
from apizr_runtime.server import ConfigError, _GunicornApplication, gunicorn_options

from specs import endpoint_spec, make_spec, poll, sample_spec

SERVER = make_spec("m", [])["server"]
PYTHONPATH = os.pathsep.join(
    [str(Path(apizr_runtime.__file__).parents[1]), str(Path(__file__).parent)]
)


def test_options_come_from_the_spec():
    options = gunicorn_options(SERVER, {})
    assert options["bind"] == "127.0.0.1:8080"
    assert (options["workers"], options["timeout"], options["graceful_timeout"]) == (2, 60, 30)
    assert (options["keepalive"], options["preload_app"]) == (5, False)
    assert options["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert (options["accesslog"], options["errorlog"]) == ("-", "-")


def test_environment_overrides_the_spec():
    environ = {
        "HOST": "0.0.0.0",
        "PORT": "9000",
        "WEB_CONCURRENCY": "4",
        "APIZR_TIMEOUT": "0",
        "APIZR_GRACEFUL_TIMEOUT": "7",
        "APIZR_KEEPALIVE": "2",
        "APIZR_PRELOAD": "True",
    }
    options = gunicorn_options(SERVER, environ)
    assert options["bind"] == "0.0.0.0:9000"
    assert (options["workers"], options["timeout"], options["graceful_timeout"]) == (4, 0, 7)
    assert (options["keepalive"], options["preload_app"]) == (2, True)
    assert (
        gunicorn_options({**SERVER, "preload": True}, {"APIZR_PRELOAD": "0"})["preload_app"]
        is False
    )


def test_ipv6_host_is_bracketed():
    assert gunicorn_options(SERVER, {"HOST": "::"})["bind"] == "[::]:8080"
    assert gunicorn_options(SERVER, {"HOST": "[::1]"})["bind"] == "[::1]:8080"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "invalid PORT='http': expected an integer from 1 to 65535"),
        ("PORT", "70000", "invalid PORT='70000': expected an integer from 1 to 65535"),
        ("PORT", "", "invalid PORT='': expected an integer from 1 to 65535"),
        ("WEB_CONCURRENCY", "0", "invalid WEB_CONCURRENCY='0': expected an integer >= 1"),
        ("APIZR_TIMEOUT", "1.5", "invalid APIZR_TIMEOUT='1.5': expected an integer >= 0"),
        ("APIZR_KEEPALIVE", "-1", "invalid APIZR_KEEPALIVE='-1': expected an integer >= 0"),
        ("APIZR_PRELOAD", "maybe", "invalid APIZR_PRELOAD='maybe': expected 1, true, 0 or false"),
    ],
)
def test_malformed_environment_values_are_rejected(name, value, message):
    with pytest.raises(ConfigError) as error:
        gunicorn_options(SERVER, {name: value})
    assert str(error.value) == message


def test_options_are_gunicorn_settings():
    # gunicorn rejects unknown setting names, so this also checks the names for this version.
    config = _GunicornApplication(sample_spec(), gunicorn_options(SERVER, {})).cfg
    assert config.control_socket_disable is True
    assert config.bind == ["127.0.0.1:8080"]
    assert config.worker_class_str == "uvicorn_worker.UvicornWorker"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(spec: dict, tmp_path: Path, **environ: str) -> subprocess.Popen:
    # Like the generated app module: `serve(SPEC)` in its own process.
    home = tmp_path / "home-is-a-file"  # where gunicorn would fail to create a control socket
    home.touch()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": PYTHONPATH,
        "HOME": str(home),
        "WEB_CONCURRENCY": "1",
        **environ,
    }
    code = "import json, sys; from apizr_runtime import serve; serve(json.loads(sys.argv[1]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(spec)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _request(url: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _ready(base_url: str, server: subprocess.Popen) -> bool:
    assert server.poll() is None, server.communicate()[1]
    try:
        return _request(f"{base_url}/readyz")[0] == 200
    except OSError:  # not listening yet
        return False


def _stop(server: subprocess.Popen) -> tuple[str, str]:
    server.send_signal(signal.SIGTERM)
    stdout, stderr = server.communicate(timeout=15)
    assert server.returncode == 0, stderr
    return stdout, stderr


@pytest.mark.parametrize("preload", ["0", "1"])
def test_serve_answers_http_and_stops_on_sigterm(tmp_path, preload):
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = _start_server(sample_spec(), tmp_path, PORT=str(port), APIZR_PRELOAD=preload)
    try:
        poll(lambda: _ready(base_url, server), timeout=15)
        assert _request(f"{base_url}/add", {"a": 20, "b": 22}) == (200, 42)
        assert _request(f"{base_url}/fail", {"message": "no"}) == (
            500,
            {"error": {"type": "ValueError", "message": "no"}},
        )
        _, pids = _request(f"{base_url}/pids", {})
    finally:
        stdout, stderr = _stop(server)
    assert pids["serving"] != server.pid  # a worker process answers
    # Preload imports in the gunicorn master, before forking; otherwise each worker imports.
    assert pids["imported_in"] == (server.pid if preload == "1" else pids["serving"])
    assert '"POST /add HTTP/1.1" 200' in stdout  # access log on stdout
    assert "ValueError: no" in stderr  # traceback of the failing call on stderr
    assert "Control server" not in stderr
    assert "Handling signal: term" in stderr


def test_serve_rejects_malformed_environment_with_exit_code_2(tmp_path):
    server = _start_server(sample_spec(), tmp_path, PORT="eighty")
    stdout, stderr = server.communicate(timeout=15)
    assert server.returncode == 2
    assert stderr == "apizr: error: invalid PORT='eighty': expected an integer from 1 to 65535\n"


def test_serve_with_preload_exits_when_the_import_fails(tmp_path):
    spec = make_spec("user_modules.broken", [endpoint_spec("predict")])
    server = _start_server(spec, tmp_path, PORT=str(_free_port()), APIZR_PRELOAD="true")
    _, stderr = server.communicate(timeout=15)
    assert server.returncode == 1
    assert "failed to load module 'user_modules.broken'" in stderr
    assert "FileNotFoundError: churn_model.joblib is missing" in stderr

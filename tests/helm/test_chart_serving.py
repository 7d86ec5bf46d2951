"""The chart of a bundled example agrees with the PEX the real `pants package` builds for it: the
port, probes and server settings rendered in the Deployment are what the running service answers.
"""

from __future__ import annotations

import ast
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from e2e.harness import (
    buildroot,
    free_port,
    http,
    private_distdir,
    run_pants,
    serve_pex,
    wait_until,
)
from helm.chart import DEFAULT_FIELDS, build_chart, by_kind, resolve_env

ADDRESS = "src/examples/churn:churn_api"


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> tuple[Path, dict]:
    """The example's PEX and its target's fields, from one real Pants run."""
    with private_distdir(buildroot()) as dist:
        result = run_pants(buildroot(), f"--pants-distdir={dist}", "peek", "package", ADDRESS)
        assert result.returncode == 0, result.stderr
        pex = Path(
            shutil.copy2(
                dist / "src.examples.churn" / "churn_api.pex", tmp_path_factory.mktemp("dist")
            )
        )
    (target,) = json.loads(result.stdout)
    # Every field render_chart.py reads, as Pants computed it (a missing one is a KeyError).
    return pex, {alias: target[alias] for alias in DEFAULT_FIELDS}


@pytest.fixture(scope="module")
def chart(service, tmp_path_factory) -> Path:
    _, fields = service
    return build_chart(tmp_path_factory.mktemp("chart"), fields=fields, address=ADDRESS)


def deployment_container(helm, chart: Path, *args: object) -> tuple[dict, dict]:
    deployment = by_kind(helm.template(chart, *args))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def served_spec(pex: Path) -> dict:
    """The SPEC literal of the app module that apizr generated into the PEX."""
    with zipfile.ZipFile(pex) as archive:
        (app,) = [name for name in archive.namelist() if name.endswith("/churn_api_app.py")]
        module = ast.parse(archive.read(app))
    (spec,) = [
        node.value
        for node in module.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["SPEC"]
    ]
    return ast.literal_eval(spec)


def test_chart_defaults_are_the_pex_server_settings(helm, service, chart):
    pex, _ = service
    server = served_spec(pex)["server"]
    pod, container = deployment_container(helm, chart)
    env = resolve_env(container)
    assert container["ports"][0]["containerPort"] == server["port"]
    assert env["PORT"] == str(server["port"])
    assert env["WEB_CONCURRENCY"] == str(server["workers"])
    assert env["APIZR_GRACEFUL_TIMEOUT"] == str(server["graceful_timeout"])
    assert pod["terminationGracePeriodSeconds"] > server["graceful_timeout"]


def test_served_pex_answers_the_rendered_probes(helm, service, chart, tmp_path):
    """Run the PEX with the Deployment's environment and call its probes where they point."""
    pex, _ = service
    port = free_port()  # another port than the default, so that the override is tested too
    pod, container = deployment_container(helm, chart, "--set", f"containerPort={port}")
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = resolve_env(container)
    # /tmp is the pod's emptyDir: here, a directory of this test's own.
    env = {name: str(tmp_path) if value == "/tmp" else value for name, value in env.items()}
    with serve_pex(pex, tmp_path, **env) as server:
        for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
            http_get = container[probe]["httpGet"]
            url = f"http://127.0.0.1:{named_ports[http_get['port']]}{http_get['path']}"
            wait_until(lambda: http("GET", url, timeout=2).status == 200, 120, f"{probe} {url}")
        assert server.base_url == f"http://127.0.0.1:{port}"
        assert "Booting worker" in server.log()
        stopping = time.monotonic()
    assert time.monotonic() - stopping < pod["terminationGracePeriodSeconds"]

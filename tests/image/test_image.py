"""Container images from the real `pants package`: reproducible, layered, run by a real engine.

A separate repository (like tests/e2e/test_sample_repo.py) whose `[apizr].base_image` is the
Python 3.11 base that .ci/run builds with mmdebstrap, copied in ($APIZR_TEST_BASE_IMAGE).
"""

from __future__ import annotations

import base64
import crypt
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from e2e.harness import PantsResult, buildroot, free_port, http, run_pants, wait_until
from image.oci_archive import read_image
from e2e.test_sample_repo import (
    SHOP_CELLS,
    THIRD_PARTY_FILES,
    git,
    notebook,
    pants_toml,
    write,
)

DOCKER = "/usr/bin/docker"
SHOP = "src/shop:shop_api"
IMAGE = "dist/src.shop/shop_api.image.tar"
IMAGE_DIGEST = "dist/src.shop/shop_api.image.digest"


def require(available: bool, reason: str) -> None:
    """Skip without a tool on a developer's machine; under CI, its absence is a failure."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it (.ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    base = os.environ.get("APIZR_TEST_BASE_IMAGE", "")
    require(Path(base).is_file(), "$APIZR_TEST_BASE_IMAGE names no base image (.ci/run builds it)")
    root = tmp_path_factory.mktemp("imagerepo")
    write(
        root,
        {
            "pants.toml": pants_toml(buildroot())
            + '\n[apizr]\nbase_image = "images/python-base.oci.tar"\n',
            **THIRD_PARTY_FILES,
            "src/shop/BUILD": textwrap.dedent("""\
                resource(name="prices", source="prices.json")
                notebook_api(name="shop_api", source="shop.ipynb", dependencies=[":prices"])
                """),
            "src/shop/prices.json": json.dumps({"apple": 0.5, "pear": 0.75}),
            "src/shop/shop.ipynb": notebook(*SHOP_CELLS),
        },
    )
    (root / "images").mkdir()
    shutil.copy(base, root / "images/python-base.oci.tar")
    locked = run_pants(root, "generate-lockfiles")
    assert locked.returncode == 0, locked.stderr
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    return root


def package(root: Path, *options: str) -> PantsResult:
    result = run_pants(root, *options, "package", SHOP)
    assert result.returncode == 0, result.stderr
    return result


def package_from_empty_caches(root: Path, dist: str) -> PantsResult:
    caches = Path(tempfile.mkdtemp(prefix="caches-", dir=root.parent))
    try:
        return package(
            root,
            f"--local-store-dir={caches / 'store'}",
            f"--named-caches-dir={caches / 'named'}",
            f"--pants-distdir={root / dist}",
        )
    finally:
        shutil.rmtree(caches, ignore_errors=True)


def test_two_builds_from_empty_caches_give_the_same_bytes(repo):
    first = package_from_empty_caches(repo, "dist/first")
    second = package_from_empty_caches(repo, "dist/second")
    archive = "src.shop/shop_api.image.tar"
    assert (repo / "dist/first" / archive).read_bytes() == (
        repo / "dist/second" / archive
    ).read_bytes()
    digest = (repo / "dist/first/src.shop/shop_api.image.digest").read_text().strip()
    assert digest.startswith("sha256:")
    assert f"Image digest: {digest}" in first.stderr and f"Image digest: {digest}" in second.stderr

    manifest, config, layers = read_image(repo / "dist/first" / archive)
    assert [what for what, _ in layers][-3:] == [
        "apizr: third-party distributions",
        "apizr: first-party and generated code",
        "apizr: first-party resources",
    ]
    settings = config["config"]
    assert settings["User"] == "65532:65532"
    assert settings["ExposedPorts"] == {"8080/tcp": {}}
    assert settings["Entrypoint"] == ["/usr/bin/python3.11", "-m", "shop.shop_api_app"]
    labels = settings["Labels"]
    assert labels["io.apizr.source"] == "src/shop/shop.ipynb"
    assert labels["io.apizr.lockfile.digest"].startswith("sha256:")
    assert len(labels["org.opencontainers.image.revision"]) == 40
    assert manifest["annotations"] == labels


def test_a_code_change_changes_only_the_code_layer(repo):
    package(repo)
    _, _, before = read_image(repo / IMAGE)
    shop = repo / "src/shop/shop.ipynb"
    original = shop.read_text()
    try:
        edited = json.loads(original)
        edited["cells"][3]["source"] += "\n\ndef total() -> float:\n    return sum(PRICES.values())"
        shop.write_text(json.dumps(edited))
        package(repo)
        _, _, after = read_image(repo / IMAGE)
    finally:
        shop.write_text(original)
    changed = [what for (what, old), (_, new) in zip(before, after) if old != new]
    assert changed == ["apizr: first-party and generated code"]


def docker(*args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def test_image_loads_and_serves_read_only_as_non_root_and_stops_on_sigterm(repo):
    require(
        Path(DOCKER).exists() and docker("info", check=False).returncode == 0,
        f"no Docker engine answers through {DOCKER}",
    )
    require(shutil.which("skopeo") is not None, "no skopeo to read the OCI layout")
    package(repo)
    archive, digest = repo / IMAGE, (repo / IMAGE_DIGEST).read_text().strip()
    # The OCI side, read by another client: the same manifest digest.
    inspected = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{archive}"], capture_output=True, text=True, check=True
    )
    assert json.loads(inspected.stdout)["Digest"] == digest

    loaded = docker("load", "--input", str(archive))
    assert "Loaded image: shop_api:0.1.0" in loaded.stdout
    port = free_port()
    container = docker(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp",
        "--env", "PORT=9000", "--env", "WEB_CONCURRENCY=1",
        "--publish", f"127.0.0.1:{port}:9000", "shop_api:0.1.0",
    ).stdout.strip()  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return http("GET", base_url + "/readyz", timeout=2).status == 200
            except OSError:
                return False

        try:
            wait_until(ready, 120, "the container to answer /readyz")
        except AssertionError as error:
            raise AssertionError(f"{error}:\n{docker('logs', container).stderr}") from None
        response = http("POST", base_url + "/price", {"item": "pear", "quantity": 2})
        assert (response.status, response.body) == (200, 1.5)
        assert docker("exec", container, "id", "-u").stdout.strip() == "65532"

        docker("stop", "--time", "30", container)
        state = json.loads(docker("inspect", "--format", "{{json .State}}", container).stdout)
        logs = docker("logs", container).stderr
        assert state["ExitCode"] == 0, logs
        assert "Shutting down: Master" in logs
    finally:
        docker("rm", "--force", container, check=False)
        docker("rmi", "shop_api:0.1.0", check=False)


def skopeo(*args: str) -> dict:
    completed = subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(completed.stdout)


def registry_answers(address: str) -> bool:
    try:
        return http("GET", f"http://{address}/v2/", timeout=2).status in (200, 401)
    except OSError:
        return False


@contextmanager
def local_registry(root: Path, users: dict[str, str] | None = None) -> Iterator[str]:
    """A real registry (Debian's docker-registry) on a free loopback port, with basic auth for
    `users` (name: password) when given."""
    binary = shutil.which("docker-registry")
    require(
        binary is not None and shutil.which("skopeo") is not None,
        "no docker-registry and skopeo (Debian packages) for a local registry",
    )
    root.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{free_port()}"
    config = f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
    config += f"http:\n  addr: {address}\n"
    if users:
        htpasswd = root / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{name}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"
                for name, password in users.items()
            )
        )
        config += f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
    (root / "config.yml").write_text(config)
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(root / "config.yml")], stdout=log, stderr=log
        )
    try:
        wait_until(lambda: registry_answers(address), 30, "the registry to answer")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[str]:
    with local_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


def test_pulls_its_base_from_a_registry_and_publishes_the_image_to_it(repo, registry):
    base = f"{registry}/python-base"
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        + [f"oci-archive:{repo / 'images/python-base.oci.tar'}", f"docker://{base}:3.11"],
        check=True,
        timeout=300,
    )
    pushed_base = skopeo("inspect", "--tls-verify=false", f"docker://{base}:3.11")
    build = repo / "src/shop/BUILD"
    original = build.read_text()
    fields = (
        f'base_image="{base}@{pushed_base["Digest"]}", registries=["{registry}"], '
        'image_tags=["1.0", "latest"]'
    )
    try:
        build.write_text(
            original.replace('dependencies=[":prices"]', f'{fields}, dependencies=[":prices"]')
        )
        package(repo)
        published = run_pants(repo, "publish", SHOP)
        assert published.returncode == 0, published.stderr
    finally:
        build.write_text(original)

    digest = (repo / IMAGE_DIGEST).read_text().strip()
    manifest, _, layers = read_image(repo / IMAGE)
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == base
    # The base's layers, untouched, under the service's own.
    assert [d["digest"] for _, d in layers][: len(pushed_base["Layers"])] == pushed_base["Layers"]
    for tag in ("1.0", "latest"):
        image = skopeo("inspect", "--tls-verify=false", f"docker://{registry}/shop_api:{tag}")
        assert image["Digest"] == digest
        assert image["Layers"] == [d["digest"] for _, d in layers]


def test_publishes_with_the_credentials_of_the_docker_credentials_file(repo, tmp_path, monkeypatch):
    with local_registry(tmp_path / "registry", users={"ci": "s3cret"}) as registry:
        build = repo / "src/shop/BUILD"
        original = build.read_text()
        build.write_text(
            original.replace(
                'dependencies=[":prices"]', f'registries=["{registry}"], dependencies=[":prices"]'
            )
        )
        try:
            monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nowhere"))
            refused = run_pants(repo, "publish", SHOP)
            assert refused.returncode != 0
            assert f"apizr: {registry}: needs credentials (`docker login {registry}`)" in (
                refused.stderr
            )

            docker_config = tmp_path / "docker"
            docker_config.mkdir()
            auth = base64.b64encode(b"ci:s3cret").decode()
            (docker_config / "config.json").write_text(
                json.dumps({"auths": {registry: {"auth": auth}}})
            )
            monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
            package(repo)
            published = run_pants(repo, "publish", SHOP)
            assert published.returncode == 0, published.stderr
        finally:
            build.write_text(original)
        image = skopeo(
            "inspect",
            "--tls-verify=false",
            "--creds=ci:s3cret",
            f"docker://{registry}/shop_api:0.1.0",
        )
        assert image["Digest"] == (repo / IMAGE_DIGEST).read_text().strip()

"""Size and start-up time of a notebook API's container image (a benchmark, not a test).

    ./pants --no-pantsd --apizr-base-image=PATH package src/examples/churn:churn_api
    PYTHONPATH=tests python3 -m image.benchmark_image dist/src.examples.churn/churn_api.image.tar

Prints the archive's layers and sizes, the size Docker reports once loaded, and the time from
`docker run --read-only` to the first `200` from `/readyz`, over a few runs. Needs a Docker
engine at /usr/bin/docker; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from image.oci_archive import read_image

DOCKER = "/usr/bin/docker"
MIB = 1024 * 1024


def docker(*args: str) -> str:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=True).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def start_up_seconds(image: str, workers: int) -> float:
    port = free_port()
    started = time.monotonic()
    container = docker(
        "run", "--detach", "--read-only", "--tmpfs", "/tmp",
        "--env", f"WEB_CONCURRENCY={workers}", "--publish", f"127.0.0.1:{port}:8080", image,
    ).strip()  # fmt: skip
    try:
        deadline = started + 120
        while not ready(f"http://127.0.0.1:{port}/readyz"):
            if time.monotonic() > deadline:
                raise SystemExit(f"{image} did not become ready in 120 s")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        docker("rm", "--force", container)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    print(f"archive: {args.archive} ({args.archive.stat().st_size / MIB:.1f} MiB)")
    _, _, layers = read_image(args.archive)
    for what, layer in layers:
        print(f"  layer {layer['size'] / MIB:8.1f} MiB  {(what or 'base')[:60]}")
    loaded = docker("load", "--input", str(args.archive)).strip()
    image = loaded.removeprefix("Loaded image: ")
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image))
    print(f"loaded: {image}, {size / MIB:.1f} MiB unpacked")
    times = [start_up_seconds(image, args.workers) for _ in range(args.runs)]
    print(
        f"start-up to /readyz 200 (WEB_CONCURRENCY={args.workers}, {args.runs} runs): "
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s"
    )


if __name__ == "__main__":
    main()

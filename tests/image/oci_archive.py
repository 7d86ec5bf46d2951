"""Reading the OCI side of an image archive, for the image tests and the benchmark."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path


def read_image(archive: Path) -> tuple[dict, dict, list[tuple[str, dict]]]:
    """The manifest, the config, and (what built it, descriptor) of each layer."""
    with tarfile.open(archive) as tar:

        def blob(digest: str) -> dict:
            return json.load(tar.extractfile("blobs/" + digest.replace(":", "/")))

        (entry,) = json.load(tar.extractfile("index.json"))["manifests"]
        manifest = blob(entry["digest"])
        config = blob(manifest["config"]["digest"])
    history = [h.get("created_by", "") for h in config["history"] if not h.get("empty_layer")]
    layers = list(zip(history, manifest["layers"]))
    assert len(layers) == len(manifest["layers"]) == len(config["rootfs"]["diff_ids"])
    return manifest, config, layers

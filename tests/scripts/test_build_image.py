"""Tests of build_image.py's base image handling and layers, on small images made here.

Whole images, from a real PEX and base, are tested through `pants package` in tests/image.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from apizr.scripts import build_image


def layer_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class OciLayout:
    """An OCI image layout directory, written blob by blob."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs/sha256").mkdir(parents=True)

    def blob(self, data: bytes) -> str:
        name = digest(data)
        (self.root / "blobs/sha256" / name.split(":")[1]).write_bytes(data)
        return name

    def image(self, *layers: bytes, architecture: str = "amd64") -> dict:
        """Write an image of gzipped layers; return its descriptor."""
        config = json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [digest(layer) for layer in layers]},
            }
        ).encode()
        blobs = [gzip.compress(layer) for layer in layers]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": build_image.OCI_MANIFEST,
                "config": {"mediaType": build_image.OCI_CONFIG, "digest": self.blob(config)},
                "layers": [
                    {"mediaType": build_image.OCI_LAYER_GZIP, "digest": self.blob(b)} for b in blobs
                ],
            }
        ).encode()
        return {
            "mediaType": build_image.OCI_MANIFEST,
            "digest": self.blob(manifest),
            "size": len(manifest),
            "platform": {"os": "linux", "architecture": architecture},
        }

    def index(self, *manifests: dict) -> Path:
        (self.root / "index.json").write_text(json.dumps({"manifests": list(manifests)}))
        return self.root


PYTHON_39 = layer_tar({"usr/bin/python3.9": b"\x7fELF", "etc/os-release": b"ID=test\n"})
PYTHON_311 = layer_tar({"./usr/local/bin/python3.11": b"\x7fELF"})


def test_the_base_interpreter_must_satisfy_the_constraints(tmp_path, capsys):
    base = OciLayout(tmp_path / "base")
    base.index(base.image(PYTHON_39))
    code = build_image.main(
        [
            "--pex=unused.pex",
            f"--base={tmp_path / 'base'}",
            "--base-name=images/py39",
            "--python-version=3.11",
            "--constraints=CPython==3.11.*",
            "--app-module=app",
            "--port=8080",
            "--repo-tag=app:1",
            f"--output={tmp_path / 'image.tar'}",
            f"--digest-output={tmp_path / 'image.digest'}",
        ]
    )
    assert code == build_image.USER_ERROR_EXIT_CODE
    assert capsys.readouterr().err.splitlines() == [
        "apizr: images/py39: the base image's Python (/usr/bin/python3.9 (3.9)) does not satisfy "
        "the target's interpreter constraints CPython==3.11.* (Python 3.11)"
    ]
    assert not (tmp_path / "image.tar").exists()


def test_an_index_resolves_to_linux_amd64_and_finds_its_interpreter(tmp_path):
    base = OciLayout(tmp_path / "base")
    path = base.index(
        base.image(PYTHON_39, architecture="arm64"), base.image(PYTHON_39, PYTHON_311)
    )
    image = build_image.read_base(path, "base")
    assert [layer.diff_id for layer in image.layers] == [digest(PYTHON_39), digest(PYTHON_311)]
    python = build_image.base_interpreter(image, "base", ["3.12", "3.11"], "CPython>=3.11")
    assert python == "/usr/local/bin/python3.11"


def test_a_blob_that_does_not_match_its_digest_is_refused(tmp_path):
    base = OciLayout(tmp_path / "base")
    descriptor = base.image(PYTHON_311)
    path = base.index(descriptor)
    (path / "blobs/sha256" / descriptor["digest"].split(":")[1]).write_bytes(b"{}")
    with pytest.raises(build_image.UserError, match="does not match its digest"):
        build_image.read_base(path, "base")


def test_a_docker_archive_base_keeps_its_layers_as_they_are(tmp_path):
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest(PYTHON_311)]}})
    archive = tmp_path / "base.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in {
            "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l/layer.tar"]}]).encode(),
            "c.json": config.encode(),
            "l/layer.tar": PYTHON_311,
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (layer,) = build_image.read_base(archive, "base").layers
    assert (layer.blob, layer.media_type) == (PYTHON_311, build_image.OCI_LAYER)


def test_layers_do_not_depend_on_file_times_owners_or_order(tmp_path):
    def tree(root: Path, mtime: int) -> dict[str, Path]:
        for name, data in {
            "pkg/b.py": b"B = 1\n",
            "pkg/a.py": b"A = 1\n",
            "run": b"#!/bin/sh",
        }.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            os.utime(path, (mtime, mtime))
        (root / "run").chmod(0o700)
        (root / "pkg/__pycache__").mkdir()
        (root / "pkg/__pycache__/a.cpython-311.pyc").write_bytes(str(mtime).encode())
        return build_image.tree_files(root)

    first = build_image.gzip_layer(tree(tmp_path / "one", 1_000_000))
    second = build_image.gzip_layer(tree(tmp_path / "two", 2_000_000))
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first.blob)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["pkg", "pkg/a.py", "pkg/b.py", "run"]
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(0, 0, 0, "")}
    assert [oct(m.mode) for m in members] == ["0o755", "0o644", "0o644", "0o755"]

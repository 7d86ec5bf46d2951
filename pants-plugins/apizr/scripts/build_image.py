"""Build a service's container image from its PEX and a base image, without any container engine.

Standard library only. The output is one tar archive holding both an OCI image layout
(`oci-layout`, `index.json`, `blobs/sha256/*`) and the `manifest.json` of the docker-archive
layout pointing at the same blobs, so that `docker load`, `podman load` and `skopeo` all read it.

The image is the base's layers, untouched, plus up to three layers built here:
1. `/app/deps`: the third-party distributions (`PEX_TOOLS=1 service.pex venv --scope=deps`);
2. `/app/srcs`: first-party and generated Python code (`--scope=srcs`);
3. `/app/srcs` again: the first-party files that are not Python code (model files, data), so that
   a code change leaves their layer, and the dependencies', as they were.

Everything is a function of the inputs: sorted tar entries, fixed timestamps, numeric uid/gid 0,
normalized modes, gzip without name or time, no `.pyc`, and JSON with sorted keys.

Usage problems with the inputs exit with code 2 and one `apizr: ...` line per problem.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER_ERROR_EXIT_CODE = 2
APP_DIR = "app"
# Not the distributions' own: the PEX runtime's hook, meaningless outside a PEX venv.
PEX_ONLY_FILES = frozenset({"PEX_EXTRA_SYS_PATH.pth"})
EPOCH = "1970-01-01T00:00:00Z"
NON_ROOT_USER = "65532:65532"
GZIP_LEVEL = 6

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
# The same bytes under their OCI name, so that the image's manifest is OCI throughout.
OCI_LAYER_TYPES = {"application/vnd.docker.image.rootfs.diff.tar.gzip": OCI_LAYER_GZIP}
PLATFORM = {"os": "linux", "architecture": "amd64"}
PYTHON_PATH_RE = re.compile(r"^(usr/local/bin|usr/bin|bin)/python(\d)\.(\d+)$")


class UserError(Exception):
    """A problem with the inputs, reported as one `apizr: ...` line."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Layer:
    blob: bytes
    media_type: str
    diff_id: str

    @property
    def digest(self) -> str:
        return sha256(self.blob)

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.blob)}


@dataclass(frozen=True)
class BaseImage:
    config: dict
    layers: tuple[Layer, ...]


# --- Reading the base image -------------------------------------------------------------------


class BlobSource:
    """Blobs by digest from an OCI layout (a directory, or a tar of one), verified on read."""

    def __init__(self, name: str, read) -> None:
        self.name = name
        self._read = read

    def json(self, path: str) -> dict:
        try:
            return json.loads(self._read(path))
        except (KeyError, FileNotFoundError):
            raise UserError(f"{self.name}: no {path}: not an OCI image layout") from None

    def blob(self, digest: str) -> bytes:
        algorithm, _, hexdigest = digest.partition(":")
        try:
            data = self._read(f"blobs/{algorithm}/{hexdigest}")
        except (KeyError, FileNotFoundError):
            raise UserError(f"{self.name}: blob {digest} is missing") from None
        if sha256(data) != digest:
            raise UserError(f"{self.name}: blob {digest} does not match its digest")
        return data


def select_manifest(source: BlobSource, index: dict) -> dict:
    """The linux/amd64 image manifest of an index (nested indexes are followed)."""
    manifests = index.get("manifests", [])
    candidates = [
        m
        for m in manifests
        if all(m.get("platform", PLATFORM).get(k) == v for k, v in PLATFORM.items())
    ]
    if not candidates:
        raise UserError(f"{source.name}: no linux/amd64 image among {len(manifests)} manifests")
    descriptor = candidates[0]
    manifest = json.loads(source.blob(descriptor["digest"]))
    if manifest.get("mediaType", descriptor.get("mediaType")) in INDEX_TYPES:
        return select_manifest(source, manifest)
    return manifest


def layer_diff_id(blob: bytes) -> str:
    return sha256(gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob)


def read_oci(source: BlobSource) -> BaseImage:
    manifest = select_manifest(source, source.json("index.json"))
    config = json.loads(source.blob(manifest["config"]["digest"]))
    layers = tuple(
        Layer(
            source.blob(d["digest"]), OCI_LAYER_TYPES.get(d["mediaType"], d["mediaType"]), diff_id
        )
        for d, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"])
    )
    return BaseImage(config, layers)


def read_docker_archive(name: str, archive: tarfile.TarFile) -> BaseImage:
    def read(path: str) -> bytes:
        member = archive.extractfile(path)
        assert member is not None, path
        return member.read()

    entries = json.loads(read("manifest.json"))
    if len(entries) != 1:
        raise UserError(f"{name}: holds {len(entries)} images; a base image archive needs one")
    config = json.loads(read(entries[0]["Config"]))
    layers = []
    for path, diff_id in zip(entries[0]["Layers"], config["rootfs"]["diff_ids"]):
        blob = read(path)
        if layer_diff_id(blob) != diff_id:
            raise UserError(f"{name}: layer {path} does not match the image's diff_ids")
        compressed = blob[:2] == b"\x1f\x8b"
        layers.append(Layer(blob, OCI_LAYER_GZIP if compressed else OCI_LAYER, diff_id))
    return BaseImage(config, tuple(layers))


def read_base(path: Path, name: str) -> BaseImage:
    if path.is_dir():
        return read_oci(BlobSource(name, lambda p: (path / p).read_bytes()))
    try:
        archive = tarfile.open(path)
    except tarfile.TarError:
        raise UserError(f"{name}: neither an OCI image layout nor an image archive") from None
    with archive:
        names = set(archive.getnames())
        if "index.json" in names or "./index.json" in names:
            prefix = "./" if "./index.json" in names else ""
            return read_oci(BlobSource(name, lambda p: archive.extractfile(prefix + p).read()))
        if "manifest.json" in names:
            return read_docker_archive(name, archive)
    raise UserError(f"{name}: neither an OCI image layout nor an image archive")


def base_interpreter(base: BaseImage, name: str, allowed: list[str], constraints: str) -> str:
    """The absolute path of the base's `python3.N` that the target's constraints allow."""
    found: dict[str, str] = {}
    for layer in base.layers:
        with tarfile.open(fileobj=io.BytesIO(layer.blob), mode="r:*") as tar:
            for member in tar:
                match = PYTHON_PATH_RE.match(member.name.removeprefix("./"))
                if match and (member.isfile() or member.issym()):
                    found.setdefault(f"{match[2]}.{match[3]}", "/" + match[0])
    for version in allowed:
        if version in found:
            return found[version]
    have = ", ".join(f"{path} ({version})" for version, path in sorted(found.items()))
    raise UserError(
        f"{name}: the base image's Python ({have or 'none found'}) does not satisfy the "
        f"target's interpreter constraints {constraints} (Python {' or '.join(allowed)})"
    )


# --- Building the new layers ------------------------------------------------------------------


def pex_venv_site_packages(pex: Path, scope: str, workdir: Path) -> Path:
    """Install one scope of the PEX as a venv; its site-packages is the layer's content."""
    venv = workdir / scope
    subprocess.run(
        [sys.executable, str(pex), "venv", f"--scope={scope}", str(venv)],
        env={**os.environ, "PEX_TOOLS": "1", "PEX_ROOT": str(workdir / "pex_root")},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    return site_packages


def tree_files(root: Path) -> dict[str, Path]:
    """Files under root by relative POSIX path, without byte code or PEX-only files."""
    files = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        if relative in PEX_ONLY_FILES:
            continue
        files[relative] = path
    return files


def deterministic_tar(files: dict[str, Path]) -> bytes:
    """A tar of the files with their parent directories, in sorted order, normalized."""
    directories = {str(Path(name).parent) for name in files}
    for directory in list(directories):
        directories.update(str(parent) for parent in Path(directory).parents)
    directories.discard(".")
    entries = sorted([(d, None) for d in directories] + list(files.items()))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in entries:
            info = tarfile.TarInfo(name)
            info.mtime = info.uid = info.gid = 0
            info.uname = info.gname = ""
            if source is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = source.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if os.stat(source).st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gzip_layer(files: dict[str, Path]) -> Layer:
    tar = deterministic_tar(files)
    # gzip.compress writes no file name; with time 0, equal tars give equal blobs.
    blob = gzip.compress(tar, compresslevel=GZIP_LEVEL, mtime=0)
    return Layer(blob, OCI_LAYER_GZIP, sha256(tar))


def service_layers(pex: Path, app_module: str, workdir: Path) -> list[tuple[str, Layer]]:
    deps = tree_files(pex_venv_site_packages(pex, "deps", workdir))
    srcs = tree_files(pex_venv_site_packages(pex, "srcs", workdir))
    app_file = app_module.replace(".", "/") + ".py"
    if app_file not in srcs:
        # A bug upstream (the PEX lacks its sources), not in the user's input.
        raise RuntimeError(f"{pex} holds no {app_file}; its sources: {sorted(srcs)}")
    code = {k: v for k, v in srcs.items() if k.endswith(".py")}
    resources = {k: v for k, v in srcs.items() if not k.endswith(".py")}
    layers = [
        ("third-party distributions", {f"{APP_DIR}/deps/{k}": v for k, v in deps.items()}),
        ("first-party and generated code", {f"{APP_DIR}/srcs/{k}": v for k, v in code.items()}),
        ("first-party resources", {f"{APP_DIR}/srcs/{k}": v for k, v in resources.items()}),
    ]
    return [(what, gzip_layer(files)) for what, files in layers if files]


# --- The image --------------------------------------------------------------------------------


def image_config(
    base: BaseImage,
    layers: list[tuple[str, Layer]],
    python: str,
    app_module: str,
    port: int,
    labels: dict[str, str],
) -> dict:
    base_config = base.config.get("config") or {}
    base_env = [e for e in base_config.get("Env") or [] if not e.startswith("PYTHON")]
    env = [
        *base_env,
        f"PYTHONPATH=/{APP_DIR}/srcs:/{APP_DIR}/deps",
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        # A user without a passwd entry has no home; /tmp is the writable tmpfs.
        "HOME=/tmp",
        f"PORT={port}",
    ]
    history = list(base.config.get("history") or [])
    history += [{"created": EPOCH, "created_by": f"apizr: {what}"} for what, _ in layers]
    return {
        "architecture": base.config.get("architecture", PLATFORM["architecture"]),
        "os": base.config.get("os", PLATFORM["os"]),
        "created": EPOCH,
        "config": {
            "User": NON_ROOT_USER,
            "Env": env,
            "Entrypoint": [python, "-m", app_module],
            "WorkingDir": f"/{APP_DIR}",
            "ExposedPorts": {f"{port}/tcp": {}},
            "Labels": {**(base_config.get("Labels") or {}), **labels},
            "StopSignal": "SIGTERM",
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": [layer.diff_id for layer in base.layers]
            + [layer.diff_id for _, layer in layers],
        },
        "history": history,
    }


def write_archive(
    output: Path, config: bytes, layers: list[Layer], labels: dict, repo_tag: str
) -> str:
    """Write the combined OCI layout + docker-archive tar; return the manifest's digest."""
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [layer.descriptor() for layer in layers],
            "annotations": labels,
        }
    )
    tag = repo_tag.rpartition(":")[2]
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": repo_tag,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
    )

    def blob_path(digest: str) -> str:
        return "blobs/" + digest.replace(":", "/")

    docker_manifest = canonical_json(
        [
            {
                "Config": blob_path(sha256(config)),
                "RepoTags": [repo_tag],
                "Layers": [blob_path(layer.digest) for layer in layers],
            }
        ]
    )
    blobs = {sha256(b): b for b in [config, manifest, *(layer.blob for layer in layers)]}
    files = {blob_path(digest): data for digest, data in blobs.items()}
    files.update(
        {
            "index.json": index,
            "manifest.json": docker_manifest,
            "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        }
    )
    with tarfile.open(output, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(files[name]), 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return sha256(manifest)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pex", type=Path, required=True)
    parser.add_argument("--base", type=Path, required=True, help="OCI layout dir or archive")
    parser.add_argument("--base-name", required=True, help="how to name the base in messages")
    parser.add_argument("--python-version", action="append", required=True, dest="pythons")
    parser.add_argument("--constraints", required=True, help="for messages")
    parser.add_argument("--app-module", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--label", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--repo-tag", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--digest-output", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    labels = dict(label.split("=", 1) for label in args.label)
    try:
        base = read_base(args.base, args.base_name)
        python = base_interpreter(base, args.base_name, args.pythons, args.constraints)
    except UserError as error:
        print(f"apizr: {error}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    with tempfile.TemporaryDirectory() as workdir:
        layers = service_layers(args.pex, args.app_module, Path(workdir))
        config = canonical_json(
            image_config(base, layers, python, args.app_module, args.port, labels)
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    all_layers = [*base.layers, *(layer for _, layer in layers)]
    digest = write_archive(args.output, config, all_layers, labels, args.repo_tag)
    args.digest_output.write_text(digest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

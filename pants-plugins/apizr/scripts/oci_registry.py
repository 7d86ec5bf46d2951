"""A small client of the OCI distribution API: pull a base image pinned by digest, push an image.

Standard library only. `pull REF OUTPUT` writes the linux/amd64 image of REF
(`host[:port]/repository@sha256:...`) as an OCI archive, verifying every blob's digest.
`push ARCHIVE REF...` uploads the OCI side of an image archive built by build_image.py to each
`host[:port]/repository:tag`, skipping blobs the registry has and mounting the base image's
blobs from its repository on the same registry.

Authentication: anonymous bearer tokens, or the registry's credentials from the Docker
credentials file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) as basic auth,
also sent to the token service. Registries on localhost / 127.0.0.1 are spoken to over HTTP,
as Docker does; others over HTTPS.

Problems with the registry or the reference exit with code 2 and one `apizr: ...` line.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

USER_ERROR_EXIT_CODE = 2
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST, *INDEX_TYPES)
PLATFORM = {"os": "linux", "architecture": "amd64"}
REFERENCE_RE = re.compile(
    r"^(?P<host>[^/]+\.[^/]+|[^/]+:\d+|localhost)/(?P<repository>[a-z0-9._/-]+)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name"


class UserError(Exception):
    """A problem with a reference or a registry, reported as one `apizr: ...` line."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/")


def parse_reference(reference: str) -> re.Match:
    match = REFERENCE_RE.match(reference)
    if not match:
        raise UserError(f"{reference}: not an image reference `host/repository[:tag][@digest]`")
    return match


def docker_credentials(host: str) -> str | None:
    """The `auth` (base64 of user:password) the Docker credentials file holds for host."""
    directory = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        auths = json.loads(Path(directory, "config.json").read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/"):
        if auths.get(key, {}).get("auth"):
            return auths[key]["auth"]
    return None


class Registry:
    def __init__(self, host: str) -> None:
        self.host = host
        local = host.split(":")[0] in ("localhost", "127.0.0.1", "[::1]")
        self.base_url = f"{'http' if local else 'https'}://{host}"
        self.basic = docker_credentials(host)
        self.authorization: str | None = None

    def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ):
        """The response to an API call, authenticating once when challenged."""
        url = path if path.startswith("http") else self.base_url + path
        for attempt in range(2):
            request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
            if self.authorization:
                request.add_header("Authorization", self.authorization)
            try:
                response = urllib.request.urlopen(request, timeout=300)
            except urllib.error.HTTPError as error:
                response = error
            except urllib.error.URLError as error:
                raise UserError(f"{self.host}: cannot reach the registry ({error.reason})")
            if response.status == 401 and attempt == 0:
                self.authenticate(response.headers.get("WWW-Authenticate", ""))
                continue
            if response.status not in ok:
                body = response.read()[:300].decode(errors="replace")
                raise UserError(f"{self.host}: {method} {path}: HTTP {response.status} {body}")
            return response
        raise AssertionError("unreachable")

    def authenticate(self, challenge: str) -> None:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.basic:
                raise UserError(f"{self.host}: needs credentials (`docker login {self.host}`)")
            self.authorization = f"Basic {self.basic}"
            return
        if scheme.lower() != "bearer":
            raise UserError(f"{self.host}: unsupported authentication {challenge!r}")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        query = urllib.parse.urlencode({k: v for k, v in fields.items() if k != "realm"})
        token_request = urllib.request.Request(f"{fields['realm']}?{query}")
        if self.basic:
            token_request.add_header("Authorization", f"Basic {self.basic}")
        try:
            with urllib.request.urlopen(token_request, timeout=60) as response:
                answer = json.load(response)
        except (urllib.error.URLError, ValueError) as error:
            raise UserError(f"{self.host}: no token from {fields['realm']} ({error})") from None
        self.authorization = f"Bearer {answer.get('token') or answer['access_token']}"

    def verified(self, repository: str, kind: str, digest: str, accept: str = "") -> bytes:
        headers = {"Accept": accept} if accept else {}
        data = self.request("GET", f"/v2/{repository}/{kind}/{digest}", headers=headers).read()
        if sha256(data) != digest:
            raise UserError(f"{self.host}/{repository}: {kind} {digest} does not match its digest")
        return data


def pull(reference: str, output: Path) -> None:
    """Write the linux/amd64 image of reference to output as an OCI archive."""
    match = parse_reference(reference)
    if not match["digest"]:
        raise UserError(f"{reference}: pin the base image by digest (`...@sha256:...`)")
    registry, repository = Registry(match["host"]), match["repository"]
    accept = ", ".join(MANIFEST_TYPES)
    digest = match["digest"]
    manifest_bytes = registry.verified(repository, "manifests", digest, accept)
    manifest = json.loads(manifest_bytes)
    while manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        platforms = [
            m
            for m in manifest["manifests"]
            if all(m.get("platform", {}).get(k) == v for k, v in PLATFORM.items())
        ]
        if not platforms:
            raise UserError(f"{reference}: has no linux/amd64 image")
        digest = platforms[0]["digest"]
        manifest_bytes = registry.verified(repository, "manifests", digest, accept)
        manifest = json.loads(manifest_bytes)
    files = {
        blob_path(d["digest"]): registry.verified(repository, "blobs", d["digest"])
        for d in [manifest["config"], *manifest["layers"]]
    }
    media_type = manifest.get("mediaType", OCI_MANIFEST)
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": media_type, "digest": digest, "size": len(manifest_bytes)}],
    }
    files[blob_path(digest)] = manifest_bytes
    files["index.json"] = json.dumps(index, sort_keys=True).encode()
    files["oci-layout"] = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(files[name]), 0o644
            tar.addfile(info, io.BytesIO(files[name]))


def push_blob(registry: Registry, repository: str, digest: str, data: bytes, mount: str | None):
    if registry.request("HEAD", f"/v2/{repository}/blobs/{digest}", ok=(200, 404)).status == 200:
        return
    query = urllib.parse.urlencode({"mount": digest, "from": mount}) if mount else ""
    started = registry.request(
        "POST", f"/v2/{repository}/blobs/uploads/?{query}", data=b"", ok=(201, 202)
    )
    if started.status == 201:  # mounted from the base image's repository
        return
    location = urllib.parse.urljoin(registry.base_url, started.headers["Location"])
    separator = "&" if "?" in location else "?"
    registry.request(
        "PUT",
        f"{location}{separator}digest={urllib.parse.quote(digest)}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        ok=(201,),
    )


def push(archive: Path, references: list[str]) -> None:
    with tarfile.open(archive) as tar:

        def read(digest: str) -> bytes:
            return tar.extractfile(blob_path(digest)).read()

        (entry,) = json.load(tar.extractfile("index.json"))["manifests"]
        manifest_bytes = read(entry["digest"])
        manifest = json.loads(manifest_bytes)
        for reference in references:
            match = parse_reference(reference)
            registry, repository = Registry(match["host"]), match["repository"]
            base = manifest.get("annotations", {}).get(BASE_NAME_ANNOTATION, "")
            base_match = REFERENCE_RE.match(base)
            mount = (
                base_match["repository"]
                if base_match and base_match["host"] == registry.host
                else None
            )
            for descriptor in [manifest["config"], *manifest["layers"]]:
                push_blob(
                    registry, repository, descriptor["digest"], read(descriptor["digest"]), mount
                )
            response = registry.request(
                "PUT",
                f"/v2/{repository}/manifests/{match['tag'] or 'latest'}",
                data=manifest_bytes,
                headers={"Content-Type": manifest["mediaType"]},
                ok=(201,),
            )
            pushed = response.headers.get("Docker-Content-Digest", entry["digest"])
            if pushed != entry["digest"]:
                raise UserError(f"{reference}: the registry stored {pushed}, not {entry['digest']}")
            print(f"{reference}@{entry['digest']}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pull_command = commands.add_parser("pull")
    pull_command.add_argument("reference")
    pull_command.add_argument("output", type=Path)
    push_command = commands.add_parser("push")
    push_command.add_argument("archive", type=Path)
    push_command.add_argument("references", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "pull":
            pull(args.reference, args.output)
        else:
            push(args.archive, args.references)
    except UserError as error:
        print(f"apizr: {error}", file=sys.stderr)
        return USER_ERROR_EXIT_CODE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

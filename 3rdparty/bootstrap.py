"""Bootstrap the hermetic Pants workspace: wheelhouse, Pants venv and pex CLI.

Run by `./pants` with CPython 3.9 and only the standard library. Everything it installs comes
from the artifacts the committed lockfiles pin (checked by sha256), so the only network access
is `pip download` of missing wheels through the machine's configured package index.

    bootstrap.py ensure BOOTSTRAP_DIR   -> prints the venv's `pants` executable
    bootstrap.py seed BOOTSTRAP_DIR     -> downloads what the requirements files allow, so that
                                           `generate-lockfiles` can resolve new requirements

Every step writes to a temporary name and renames when complete, so a run killed half-way is
redone by the next run instead of leaving a broken workspace.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

BUILDROOT = Path(__file__).resolve().parent.parent
LOCKFILES = sorted((BUILDROOT / "3rdparty" / "python").glob("*.lock"))
# Artifacts the wheelhouse holds beside the lockfiles' (pex's pip, the helm binary's wheel).
PINNED_ARTIFACTS = BUILDROOT / "3rdparty" / "python" / "pinned-artifacts.txt"
PANTS_TOML = BUILDROOT / "pants.toml"
PANTS_LOCK = BUILDROOT / "3rdparty" / "python" / "plugin.lock"
PEX_REQUIREMENT = "pex==2.1.137"


class BootstrapError(Exception):
    pass


def log(message: str) -> None:
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_lockfile(path: Path) -> dict:
    # Pants lockfiles start with a `//` comment header, then the pex lock JSON.
    text = path.read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    return json.loads(body)


def pinned_artifacts() -> dict[str, str]:
    """Map each pinned artifact's file name to its sha256, over all lockfiles."""
    pins: dict[str, str] = {}
    for lockfile in LOCKFILES:
        for resolve in read_lockfile(lockfile)["locked_resolves"]:
            for requirement in resolve["locked_requirements"]:
                for artifact in requirement["artifacts"]:
                    if artifact["algorithm"] != "sha256":
                        raise BootstrapError(
                            f"{lockfile}: unsupported hash {artifact['algorithm']}"
                        )
                    pins[artifact["url"].rsplit("/", 1)[-1]] = artifact["hash"]
    for line in PINNED_ARTIFACTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sha256 = line.split()
            pins[name] = sha256
    return pins


WHEEL_NAME = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl$"
)


def download_args(filename: str) -> tuple[tuple[str, ...], str]:
    """pip download arguments that select exactly this wheel, and its requirement string."""
    match = WHEEL_NAME.match(filename)
    if not match:
        raise BootstrapError(f"cannot download {filename}: only wheels are supported")
    requirement = f"{match['name']}=={match['version']}"
    if match["platform"] == "any":
        # Lockfiles span several interpreters; the pin, not this one, decides what fits.
        return ("--ignore-requires-python",), requirement
    args = []
    python = match["python"].split(".")[0]
    if python.startswith("cp"):
        args += ["--implementation", "cp", "--python-version", python[2:], "--abi", match["abi"]]
    for platform in match["platform"].split("."):
        args += ["--platform", platform]
    return tuple(args), requirement


def batches_of_distinct_projects(requirements: list[str]) -> list[list[str]]:
    """Split `name==version` pins so that no pip call sees one project twice."""
    batches: list[list[str]] = []
    for requirement in sorted(requirements):
        project = requirement.split("==")[0]
        batch = next((b for b in batches if all(r.split("==")[0] != project for r in b)), None)
        if batch is None:
            batches.append([requirement])
        else:
            batch.append(requirement)
    return batches


def fill_wheelhouse(wheelhouse: Path, pins: dict[str, str]) -> None:
    wheelhouse.mkdir(parents=True, exist_ok=True)
    missing = [name for name in sorted(pins) if not (wheelhouse / name).is_file()]
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name in missing:
        args, requirement = download_args(name)
        groups[args].append(requirement)
    for args, requirements in sorted(groups.items()):
        for batch in batches_of_distinct_projects(requirements):
            log(f"downloading {len(batch)} pinned wheel(s) {' '.join(args)}")
            with tempfile.TemporaryDirectory(dir=wheelhouse.parent) as scratch:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--quiet",
                        "--no-deps",
                        "--only-binary=:all:",
                        "--dest",
                        scratch,
                        *args,
                        *batch,
                    ],
                    check=True,
                )
                for downloaded in Path(scratch).iterdir():
                    if downloaded.name in pins:
                        downloaded.replace(wheelhouse / downloaded.name)
    for name in sorted(pins):
        path = wheelhouse / name
        if not path.is_file():
            raise BootstrapError(f"pip did not provide the pinned artifact {name}")
        if sha256_of(path) != pins[name]:
            path.unlink()
            raise BootstrapError(f"{name}: sha256 differs from the lockfile; removed it, run again")


def pants_requirements() -> list[str]:
    """The plugin resolve pins Pants and everything it needs: install exactly that."""
    lock = read_lockfile(PANTS_LOCK)
    pins = []
    for resolve in lock["locked_resolves"]:
        for requirement in resolve["locked_requirements"]:
            hashes = " ".join(f"--hash=sha256:{a['hash']}" for a in requirement["artifacts"])
            pins.append(f"{requirement['project_name']}=={requirement['version']} {hashes}")
    return pins


def create_venv(target: Path, wheelhouse: Path) -> None:
    if (target / ".complete").is_file():
        return
    log(f"creating the Pants venv {target.name}")
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    requirements = target / "requirements.txt"
    requirements.write_text("\n".join(pants_requirements()) + "\n")
    subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "--require-hashes",
            "-r",
            str(requirements),
        ],
        check=True,
    )
    (target / ".complete").write_text("")


def pinned_pex_cli() -> tuple[str, int, str]:
    """sha256, size and path of the pex CLI, from pants.toml's [pex-cli] section."""
    text = PANTS_TOML.read_text()
    known = re.search(r'"v2\.1\.137\|linux_x86_64\|([0-9a-f]{64})\|(\d+)"', text)
    template = re.search(r'url_template = "file://%\(buildroot\)s/([^"]+)"', text)
    if not known or not template:
        raise BootstrapError("pants.toml: [pex-cli] must pin v2.1.137 for linux_x86_64 by sha256")
    return known[1], int(known[2]), template[1]


def build_pex_cli(venv: Path, wheelhouse: Path) -> None:
    sha256, size, relpath = pinned_pex_cli()
    target = BUILDROOT / relpath
    if target.is_file() and sha256_of(target) == sha256:
        return
    log(f"building the pex CLI {relpath}")
    partial = target.with_suffix(".partial")
    subprocess.run(
        [
            str(venv / "bin" / "pex"),
            PEX_REQUIREMENT,
            "--no-pypi",
            "--find-links",
            str(wheelhouse),
            "-c",
            "pex",
            "-o",
            str(partial),
        ],
        check=True,
    )
    built_sha256, built_size = sha256_of(partial), partial.stat().st_size
    if (built_sha256, built_size) != (sha256, size):
        raise BootstrapError(
            f"the locally built pex CLI is {built_sha256}|{built_size}, pants.toml pins "
            f"{sha256}|{size}: update [pex-cli] known_versions if the builder interpreter changed"
        )
    partial.replace(target)


def ensure(bootstrap_dir: Path) -> Path:
    wheelhouse = bootstrap_dir / "wheelhouse"
    fill_wheelhouse(wheelhouse, pinned_artifacts())
    venv = bootstrap_dir / f"venv-{hashlib.sha256(PANTS_LOCK.read_bytes()).hexdigest()[:16]}"
    create_venv(venv, wheelhouse)
    build_pex_cli(venv, wheelhouse)
    for stale in bootstrap_dir.glob("venv-*"):
        if stale != venv:
            shutil.rmtree(stale, ignore_errors=True)
    return venv / "bin" / "pants"


def find_interpreter(version: str) -> str:
    """A working `pythonX.Y`: on PATH (a pyenv shim may not run), else in pyenv's versions."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        str(p) for p in pyenv_root.glob(f"versions/{version}.*/bin/python{version}")
    )
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    raise BootstrapError(f"seeding needs CPython {version}: none on PATH or in {pyenv_root}")


def seed(bootstrap_dir: Path) -> None:
    """Download candidates for every resolve, for each interpreter it supports."""
    interpreters = {"3.9": "plugin pytest", "3.11": "services pytest tools"}
    for version, resolves in interpreters.items():
        # Each interpreter's own pip, so that environment markers are evaluated for it.
        python = find_interpreter(version)
        for resolve in resolves.split():
            requirements = BUILDROOT / "3rdparty" / "python" / f"{resolve}-requirements.txt"
            log(f"seeding the wheelhouse for {resolve} on CPython {version}")
            subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--only-binary=:all:",
                    "--dest",
                    str(bootstrap_dir / "wheelhouse"),
                    "-r",
                    str(requirements),
                ],
                check=True,
            )


def main() -> int:
    command, bootstrap_dir = sys.argv[1], Path(sys.argv[2])
    try:
        if command == "ensure":
            print(ensure(bootstrap_dir))
        elif command == "seed":
            seed(bootstrap_dir)
        else:
            raise BootstrapError(f"unknown command {command}")
    except (BootstrapError, subprocess.CalledProcessError) as error:
        log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scan a notebook_api's inputs for secrets and personal data.

Usage:
    python scan_privacy.py SOURCE --output FINDINGS.json [--module MODULE.py]
        [--data FILE ...] [--baseline BASELINE.json]

SOURCE is the notebook (or `.py` module) to serve, MODULE the module converted from it, FILE the
data files packaged with it. A notebook is decoded first, so that what is scanned is the text of
its cells, outputs and metadata, never its JSON: escaping would hide secrets, and base64 images
would drown real findings. Secrets are found by detect-secrets' plugins, personal data (e-mail
addresses, phone numbers, IBANs, card numbers, public IPv4 addresses) by the detectors below.

FINDINGS.json lists every finding (location, detector, masked excerpt, fingerprint), sorted.
Exit code 0 even with findings (the caller decides what they mean), 2 when an input cannot be
read (one `apizr: ...` line per problem on stderr).

This file is copied alone into a sandbox: it must not import anything from apizr.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import html
import ipaddress
import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import nbformat
from detect_secrets.core.scan import _process_line_based_plugins
from detect_secrets.settings import get_plugins, transient_settings

PRAGMA = "apizr: ignore-privacy"

# detect-secrets plugins, by class name. Left out: HexHighEntropyString (every hash and git SHA
# is a high-entropy hex string; hex secrets in assignments are still found by KeywordDetector),
# IPPublicDetector (replaced by the `ipv4` detector below, which knows documentation ranges).
SECRET_PLUGINS = [
    "AWSKeyDetector",
    "ArtifactoryDetector",
    "AzureStorageKeyDetector",
    "Base64HighEntropyString",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "JwtTokenDetector",
    "KeywordDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
]

# How detect-secrets reads a chunk is chosen by a file name: `.py` requires quotes around a
# keyword's value (code), `.yaml` does not (printed output, metadata), other names are prose.
CODE, CONFIG, PROSE = "chunk.py", "chunk.yaml", "chunk.txt"

# Notebook and cell metadata keys whose values are identifiers that tools write (cell ids, Colab
# authorship tags, interpreter hashes, widget model ids): random by design, never secrets.
IDENTIFIER_KEYS = {"id", "authorship_tag", "hash", "model_id"}
# A digest named by its algorithm (`"sha256": "..."`, `integrity="sha384-..."`) is no secret.
HASH_LABEL_BEFORE = re.compile(r"(?:sha\d+|md5|blake2[bs]?)\W{0,4}$", re.IGNORECASE)
HASH_LABEL_INSIDE = re.compile(r"(?:sha\d+|md5|blake2[bs]?)[-:]", re.IGNORECASE)
# Values that keyword assignments hold when there is no secret: `secret: None`, `password: ***`.
PLACEHOLDER = re.compile(r"none|null|nil|true|false|undefined|redacted|\*+|x+", re.IGNORECASE)
# Some detectors report only part of a token (GitHub's reports its `ghp` prefix): the whole
# run of token characters around it is the secret, for masking and fingerprints.
TOKEN_START, TOKEN_END = r"[\w\-./+~]*$", r"[\w\-./+=~]*"
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
MODULE_CELL_MARKER = re.compile(r"^# %% \[cell (\d+)\]$")
DATA_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".txt", ".yaml", ".yml"}


class InputError(Exception):
    pass


@dataclass(frozen=True)
class Chunk:
    """A piece of text to scan, and where its first line is."""

    file: str
    part: str  # source, output, metadata, module or data
    text: str
    style: str
    personal: bool  # also look for personal data
    cell: int | None = None
    output: int | None = None
    first_line: int | None = 1  # None: the lines have no number (flattened metadata)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    index: int  # 0-based line index in the chunk
    detector: str
    value: str

    @property
    def line(self) -> int | None:
        return None if self.chunk.first_line is None else self.chunk.first_line + self.index


# --- Personal data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonalDetector:
    """A kind of personal data: a regex for candidates and a check that they are real."""

    name: str
    pattern: re.Pattern
    is_real: Callable[[str], bool]


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in re.sub(r"\D", "", number)][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def is_card_number(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    # Issuer prefixes (Visa, Mastercard, Amex, Discover, JCB, Diners): keeps ids and timestamps out.
    issuer = re.match(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6011|65|35", digits)
    return bool(issuer) and 13 <= len(digits) <= 19 and luhn_valid(digits)


def is_iban(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def is_client_ipv4(value: str) -> bool:
    # Private, loopback, link-local and documentation ranges (192.0.2.0/24, ...) are not clients.
    try:
        return ipaddress.IPv4Address(value).is_global
    except ValueError:
        return False


# RFC 2606/6761 names for examples and tests: never a real person's address.
EXAMPLE_DOMAIN = re.compile(r"(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost)$")

PERSONAL_DETECTORS = [
    PersonalDetector(
        "email",
        re.compile(r"(?<![\w.+-])[\w.+-]+@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?![\w-])"),
        lambda value: not EXAMPLE_DOMAIN.search(value.rsplit("@", 1)[1].lower()),
    ),
    PersonalDetector(
        "phone",
        re.compile(
            r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
            r"|\(\d{3}\) ?\d{3}-\d{4}|\d{3}[-.]\d{3}[-.]\d{4})(?![\w.-]?\d)"
        ),
        lambda value: 8 <= len(re.sub(r"\D", "", value)) <= 15,
    ),
    PersonalDetector(
        "iban",
        re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        is_iban,
    ),
    PersonalDetector(
        "credit-card",
        re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d.-]?\d)"),
        is_card_number,
    ),
    PersonalDetector(
        "ipv4",
        re.compile(r"(?<![\w.-])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)"),
        is_client_ipv4,
    ),
]


def personal_hits(chunk: Chunk, lines: list[str]) -> Iterator[Hit]:
    for index, line in enumerate(lines):
        for detector in PERSONAL_DETECTORS:
            for match in detector.pattern.finditer(line):
                if detector.is_real(match.group(0)):
                    yield Hit(chunk, index, detector.name, match.group(0))


# --- Secrets ------------------------------------------------------------------------------------


def detector_name(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


def whole_token(line: str, fragment: str) -> tuple[str, str]:
    """The token around `fragment` in `line`, and the text before it."""
    start = line.find(fragment)
    token_start = re.search(TOKEN_START, line[:start]).start()
    after = re.match(TOKEN_END, line[start + len(fragment) :]).group(0)
    return line[token_start:start] + fragment + after, line[:token_start]


def has_candidates(line: str, style: str) -> bool:
    """Whether any plugin sees a candidate, before filters: most lines of data have none, and
    detect-secrets' engine costs ~1 ms a line (it injects every filter's arguments)."""
    return any(plugin.analyze_line(filename=style, line=line) for plugin in get_plugins())


def secret_hits(chunk: Chunk, lines: list[str]) -> Iterator[Hit]:
    numbered = [
        (n, line) for n, line in enumerate(lines, start=1) if has_candidates(line, chunk.style)
    ]
    for secret in _process_line_based_plugins(numbered, chunk.style):
        line = lines[secret.line_number - 1]
        if not secret.secret_value or secret.secret_value not in line:
            continue
        value, before = whole_token(line, secret.secret_value)
        if (
            HASH_LABEL_BEFORE.search(before)
            or HASH_LABEL_INSIDE.match(value)
            or PLACEHOLDER.fullmatch(value)
        ):
            continue
        yield Hit(chunk, secret.line_number - 1, detector_name(secret.type), value)


def scan(chunk: Chunk) -> Iterator[Hit]:
    lines = chunk.text.splitlines()
    hits = [*secret_hits(chunk, lines), *(personal_hits(chunk, lines) if chunk.personal else ())]
    yield from (hit for hit in hits if PRAGMA not in lines[hit.index])


# --- What to scan -------------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> Iterator[str]:
    """JSON as `key.path: "value"` lines of its strings, without identifiers."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in IDENTIFIER_KEYS:
                yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from flatten(item, prefix)
    elif isinstance(value, str):
        for line in value.splitlines():
            yield f'{prefix}: "{line}"'


def readable(text: str) -> str:
    return DATA_URI.sub("data:…", ANSI_ESCAPE.sub("", text))


def output_texts(output: dict) -> Iterator[str]:
    if output["output_type"] == "stream":
        yield output["text"]
    elif output["output_type"] == "error":
        yield "\n".join(output["traceback"])
    else:
        for mime, data in output.get("data", {}).items():
            if mime.endswith("json"):
                yield "\n".join(flatten(data))
            elif mime == "text/html":
                yield html.unescape(data)
            elif mime.startswith("text/"):
                yield data


def string_literals(source: str) -> Iterator[tuple[int, str]]:
    """(first line, value) of the string literals whose value is not their text as written:
    multi-line strings and strings with escapes, whose value is scanned as plain text too."""
    # IPython magics and shell escapes are not Python: blank them, keeping the line numbers.
    python = re.sub(r"(?m)^\s*[%!].*$", "", source)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(python).readline))
    except (tokenize.TokenError, SyntaxError):
        return
    for token in tokens:
        # A pragma on any line of the literal silences all of it (its value has no comments).
        if token.type != tokenize.STRING or PRAGMA in token.line:
            continue
        if "\n" not in token.string and "\\" not in token.string:
            continue  # its value is its text, already scanned as code
        try:
            value = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):
            continue  # f-strings
        if isinstance(value, str):
            yield token.start[0], value


def notebook_chunks(path: Path, display: str) -> Iterator[Chunk]:
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises many kinds of errors for a broken file
        raise InputError(f"{display}: not a Jupyter notebook ({error})") from None
    for number, cell in enumerate(notebook.cells, start=1):
        where = {"file": display, "cell": number}
        if cell.cell_type == "code":
            yield Chunk(part="source", text=cell.source, style=CODE, personal=True, **where)
            for first_line, value in string_literals(cell.source):
                yield Chunk(
                    part="source",
                    text=value,
                    style=CONFIG,
                    personal=True,
                    first_line=first_line,
                    **where,
                )
        else:
            yield Chunk(part="source", text=cell.source, style=PROSE, personal=False, **where)
        for index, output in enumerate(cell.get("outputs", []), start=1):
            for text in output_texts(output):
                yield Chunk(
                    part="output",
                    text=readable(text),
                    style=CONFIG,
                    personal=True,
                    output=index,
                    **where,
                )
        metadata = "\n".join(flatten(cell.metadata))
        yield Chunk(
            part="metadata", text=metadata, style=CONFIG, personal=False, first_line=None, **where
        )
    metadata = "\n".join(flatten(notebook.metadata))
    yield Chunk(display, "metadata", metadata, CONFIG, personal=False, first_line=None)


def module_chunks(path: Path, display: str) -> Iterator[Chunk]:
    """The converted module, one chunk per notebook cell (after its `# %% [cell N]` marker)."""
    lines = read_text(path, display).splitlines()
    starts = [i for i, line in enumerate(lines) if MODULE_CELL_MARKER.match(line)]
    for start, end in zip(starts, [*starts[1:], len(lines)]):
        cell = int(MODULE_CELL_MARKER.match(lines[start]).group(1))
        text = "\n".join(lines[start:end])
        yield Chunk(display, "module", text, CODE, personal=True, cell=cell, first_line=start + 1)


def python_chunks(path: Path, display: str) -> Iterator[Chunk]:
    source = read_text(path, display)
    yield Chunk(display, "source", source, CODE, personal=True)
    for first_line, value in string_literals(source):
        yield Chunk(display, "source", value, CONFIG, personal=True, first_line=first_line)


def data_chunks(path: Path, display: str) -> Iterator[Chunk]:
    if path.suffix.lower() not in DATA_SUFFIXES:
        return  # binary artifacts (models, images) are not scanned
    text = read_text(path, display)
    if path.suffix.lower() in {".json", ".jsonl", ".ndjson"}:
        text = JSON_STRING.sub(decode_json_string, text)
    yield Chunk(display, "data", text, PROSE, personal=True)


def decode_json_string(match: re.Match) -> str:
    """A JSON string literal with its escapes decoded (`\\u0040` -> `@`), on the same line."""
    try:
        value = json.loads(match.group(0))
    except ValueError:
        return match.group(0)
    return '"' + value.replace("\n", " ") + '"'


def read_text(path: Path, display: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{display}: cannot be read as UTF-8 text ({error})") from None


# --- Findings -----------------------------------------------------------------------------------


def fingerprint(value: str) -> str:
    """What a baseline entry matches besides file and detector: stable across re-executions."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def mask(value: str) -> str:
    keep = min(4, len(value) // 5)
    return f"{value[:keep]}…{value[-keep:]}" if keep else "…"


def excerpt(line: str, values: list[str], focus: str, width: int = 40) -> str:
    """The line around `focus` with every found value on it masked, at most ~2*width long."""
    for value in sorted(set(values), key=len, reverse=True):
        line = line.replace(value, mask(value))
    position = max(line.find(mask(focus)), 0)
    start, end = max(position - width, 0), position + len(mask(focus)) + width
    return ("…" if start else "") + line[start:end].strip() + ("…" if end < len(line) else "")


def findings(hits: list[Hit]) -> list[dict]:
    by_line: dict[tuple, list[Hit]] = {}
    for hit in hits:
        by_line.setdefault((hit.chunk, hit.index), []).append(hit)
    found = {}
    for (chunk, index), line_hits in by_line.items():
        line = chunk.text.splitlines()[index]
        for hit in line_hits:
            finding = {
                "file": chunk.file,
                "part": chunk.part,
                "cell": chunk.cell,
                "output": chunk.output,
                "line": hit.line,
                "detector": hit.detector,
                "excerpt": excerpt(line, [h.value for h in line_hits], hit.value),
                "fingerprint": fingerprint(hit.value),
            }
            found.setdefault(same_place(finding), []).append(finding)
    # One finding per value and place: the most specific of the detectors that found it.
    chosen = [min(candidates, key=specificity) for candidates in found.values()]
    # What the converted module holds was already reported at its cell in the notebook.
    in_notebook = {same_secret(f) for f in chosen if f["part"] != "module"}
    unique = [f for f in chosen if f["part"] != "module" or same_secret(f) not in in_notebook]
    return sorted(unique, key=sort_key)


def same_place(finding: dict) -> tuple:
    return tuple(finding[key] for key in ("file", "part", "cell", "output", "line", "fingerprint"))


def specificity(finding: dict) -> tuple:
    generic = ("secret-keyword", "base64-high-entropy-string")
    rank = generic.index(finding["detector"]) + 1 if finding["detector"] in generic else 0
    return rank, finding["detector"], finding["excerpt"]


def same_secret(finding: dict) -> tuple:
    return finding["cell"], finding["detector"], finding["fingerprint"]


def sort_key(finding: dict) -> tuple:
    return (
        finding["file"],
        finding["cell"] or 0,
        finding["part"],
        finding["output"] or 0,
        finding["line"] or 0,
        finding["detector"],
        finding["excerpt"],
    )


def read_baseline(path: Path) -> set[tuple[str, str, str]]:
    """Accepted findings: {"accepted": [{"file", "detector", "fingerprint", "reason"?}, ...]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {(e["file"], e["detector"], e["fingerprint"]) for e in data["accepted"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{path}: not a privacy baseline ({type(error).__name__}: {error}); expected "
            '{"accepted": [{"file": ..., "detector": ..., "fingerprint": ...}]}'
        ) from None


def scan_inputs(
    source: Path, module: Path | None = None, data: tuple[Path, ...] = ()
) -> list[dict]:
    chunks: list[Chunk] = []
    if source.suffix == ".ipynb":
        chunks += notebook_chunks(source, str(source))
        if module is not None:
            chunks += module_chunks(module, str(module))
    else:
        chunks += python_chunks(source, str(source))
    for path in data:
        chunks += data_chunks(path, str(path))
    config = {"plugins_used": [{"name": name} for name in SECRET_PLUGINS]}
    with transient_settings(config):
        hits = [hit for chunk in chunks for hit in scan(chunk)]
    return findings(hits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--module", type=Path)
    parser.add_argument("--data", type=Path, action="append", default=[])
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        accepted = read_baseline(args.baseline) if args.baseline else set()
        found = scan_inputs(args.source, args.module, tuple(args.data))
    except InputError as error:
        print(f"apizr: {error}", file=sys.stderr)
        return 2
    reported = [f for f in found if (f["file"], f["detector"], f["fingerprint"]) not in accepted]
    result = {"findings": reported, "suppressed": len(found) - len(reported)}
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

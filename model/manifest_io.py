"""The manifest on disk: write and seal it, read it with its checksum, verify the files it lists.

Reading one (:func:`read_manifest`) checks, in this order, with one :class:`ManifestError` naming
what is wrong:

1. the manifest is UTF-8 JSON of at most :data:`MAX_MANIFEST_BYTES` and of this format version;
2. its checksum ``commentmod.json.sha256`` (``sha256sum`` format: ``<hex>  commentmod.json``; when
   ``checksum``, default ``verify``). An artifact exported before the checksum existed has none: it
   still loads, with a warning (its files are still covered by their sha256s); re-exporting adds it.
   After a deliberate hand edit, record the new checksum with :func:`seal_manifest` (or
   ``sha256sum commentmod.json > commentmod.json.sha256``);
3. every value (:func:`commentmod.model.manifest.check_manifest`);
4. every listed file resolves inside the artifact directory (no symlink escaping it);
5. with ``verify``: the sha256 of every listed file.

``Scorer.load`` reads with ``verify=False`` and, when verifying, checks the files it serves and
then the manifest's checksum (:func:`check_manifest_checksum`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .manifest import MANIFEST_NAME, REEXPORT_HINT, Manifest, check_format_version, field_error

log = logging.getLogger(__name__)

CHECKSUM_NAME = MANIFEST_NAME + ".sha256"
MAX_MANIFEST_BYTES = 8 << 20
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64})(?: [ *]" + re.escape(MANIFEST_NAME) + r")?\s*")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_files(directory: Path, names: list[str]) -> dict[str, str]:
    """sha256 of each named file in ``directory``."""
    return {name: sha256_file(directory / name) for name in sorted(names)}


def _checksum_line(payload: bytes) -> str:
    return f"{hashlib.sha256(payload).hexdigest()}  {MANIFEST_NAME}\n"


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``commentmod.json`` and its checksum ``commentmod.json.sha256``; returns the manifest's path."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    payload = (json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    path.write_bytes(payload)
    (directory / CHECKSUM_NAME).write_text(_checksum_line(payload), encoding="ascii")
    return path


def seal_manifest(directory: Path) -> Path:
    """Record the checksum of an existing ``commentmod.json`` (after a deliberate edit); checks it first."""
    directory = Path(directory)
    payload = _read_payload(directory / MANIFEST_NAME)
    Manifest.from_dict(_parse(directory / MANIFEST_NAME, payload))
    path = directory / CHECKSUM_NAME
    path.write_text(_checksum_line(payload), encoding="ascii")
    return path


def _read_payload(path: Path) -> bytes:
    if not path.is_file():
        raise ManifestError(
            f"{path.parent} has no {MANIFEST_NAME}; point --model at a directory written by "
            "`commentmod export`"
        )
    with path.open("rb") as fh:
        payload = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(payload) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path} is over {MAX_MANIFEST_BYTES >> 20} MiB, not a manifest; {REEXPORT_HINT}")
    return payload


def _parse(path: Path, payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ManifestError(f"{path} is not valid JSON ({str(exc)[:200]}); {REEXPORT_HINT}") from exc


def check_checksum(directory: Path, payload: bytes) -> None:
    """``payload`` (the manifest's bytes) matches ``commentmod.json.sha256``; warn when there is none."""
    path = Path(directory) / CHECKSUM_NAME
    if not path.is_file():
        log.warning(
            "%s has no %s (exported before manifests had a checksum): the manifest is not verified; "
            "re-export the artifact to add it",
            directory,
            CHECKSUM_NAME,
        )
        return
    with path.open("rb") as fh:
        text = fh.read(1024).decode("ascii", "replace")
    match = _CHECKSUM_LINE.fullmatch(text)
    if match is None:
        raise ManifestError(f"{path} is not a '<sha256>  {MANIFEST_NAME}' line; {REEXPORT_HINT}")
    actual = hashlib.sha256(payload).hexdigest()
    if match.group(1) != actual:
        raise ManifestError(
            f"sha256 of {Path(directory) / MANIFEST_NAME} is {actual[:12]}…, {CHECKSUM_NAME} says "
            f"{match.group(1)[:12]}…: the manifest was changed or corrupted; {REEXPORT_HINT} or restore it "
            "(after a deliberate edit: commentmod.model.manifest_io.seal_manifest(directory))"
        )


def check_manifest_checksum(directory: Path) -> None:
    """The artifact's ``commentmod.json`` matches its checksum file (see :func:`check_checksum`)."""
    directory = Path(directory)
    check_checksum(directory, _read_payload(directory / MANIFEST_NAME))


def check_inside(directory: Path, manifest: Manifest) -> None:
    """Every listed file that exists resolves inside ``directory`` (no symlink pointing out of it)."""
    root = Path(directory).resolve()
    for name in manifest.files:
        resolved = (Path(directory) / name).resolve()
        if not resolved.is_relative_to(root):
            raise field_error(
                "files", f"lists {name!r}, which resolves to {resolved}, outside the artifact {root}"
            )


def read_manifest(directory: Path, verify: bool = True, checksum: bool | None = None) -> Manifest:
    """Read and check ``commentmod.json`` of an artifact directory (see the module docstring).

    ``verify``: check every listed file's sha256. ``checksum`` (default: ``verify``): check the
    manifest against ``commentmod.json.sha256``.
    """
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    payload = _read_payload(path)
    data = _parse(path, payload)
    check_format_version(data)
    if verify if checksum is None else checksum:
        check_checksum(directory, payload)
    manifest = Manifest.from_dict(data)
    check_inside(directory, manifest)
    if verify:
        verify_files(directory, manifest)
    return manifest


def verify_files(directory: Path, manifest: Manifest) -> None:
    check_inside(directory, manifest)
    for name, expected in manifest.files.items():
        file = directory / name
        if not file.is_file():
            raise ManifestError(
                f"artifact file {file} listed in the manifest is missing; re-export the artifact"
            )
        actual = sha256_file(file)
        if actual != expected:
            raise ManifestError(
                f"sha256 of {file} is {actual[:12]}…, the manifest says {expected[:12]}…: "
                "the file was changed or corrupted; re-export or restore the artifact"
            )

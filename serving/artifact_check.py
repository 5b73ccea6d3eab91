"""What the Scorer checks when it opens an artifact directory, and the identity of the model it serves.

* :func:`check_files` - the files it loads are listed in the manifest and present, and (``verify``)
  every listed file it may use matches its sha256, and the manifest its own checksum.
* :func:`check_model_io` (any backend) / :func:`check_model_session` (an ONNX Runtime session) /
  :func:`check_ngram_session` - the graphs have the inputs, outputs and label count the manifest says.
* :func:`hybrid_spec` - the stacker of a hybrid artifact; :func:`model_digest` / :func:`model_id` - the
  served model's identity.

Every refusal is a :class:`commentmod.model.errors.ManifestError` that says what to do (re-export).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import onnxruntime as ort

from ..model.errors import ManifestError
from ..model.manifest import MODEL_FILE, TOKENIZER_FILE, Manifest
from ..model.manifest_io import check_manifest_checksum, verify_files
from .hybrid import NGRAM_FILE, HybridSpec
from .onnx_session import NGRAM_INPUT, NGRAM_OUTPUT


def hybrid_spec(manifest: Manifest) -> HybridSpec | None:
    """The stacker of a hybrid artifact (``extra["hybrid"]``), or None; ManifestError when unusable."""
    data = manifest.extra.get("hybrid")
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ManifestError(f"manifest extra.hybrid is a {type(data).__name__}, not an object; re-export")
    spec = HybridSpec.from_dict(data)
    if tuple(spec.labels) != tuple(manifest.labels):
        raise ManifestError(
            f"the hybrid stacker is for labels {list(spec.labels)}, the model for {list(manifest.labels)}; "
            "re-export the artifact"
        )
    return spec


def model_digest(manifest: Manifest, model_file: str = MODEL_FILE) -> str:
    """Identity of the served model: sha256 of ``model.onnx``, or, when its weights live in
    ``model.onnx.data`` (an OpenVINO IR: ``x.bin`` beside ``x.xml``), sha256 of
    ``"<sha of model.onnx>:<sha of model.onnx.data>"`` (the graph file alone does not change with
    the weights). A hybrid artifact's identity also covers its stacker and n-gram model: sha256 of
    ``"<that>:<sha of ngram.onnx or ''>:<sha of the stacker JSON>"``."""
    graph = manifest.files.get(model_file, "")
    data = manifest.files.get(weights_file(model_file))
    digest = graph if data is None else hashlib.sha256(f"{graph}:{data}".encode()).hexdigest()
    hybrid = manifest.extra.get("hybrid")
    if not isinstance(hybrid, Mapping):
        return digest
    ngram = manifest.files.get(str(hybrid.get("ngram_file", NGRAM_FILE)), "")
    stacker = hashlib.sha256(json.dumps(hybrid, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(f"{digest}:{ngram}:{stacker}".encode()).hexdigest()


def model_id(manifest: Manifest, model_file: str = MODEL_FILE) -> str:
    """``<name>@<first 12 hex of model_digest>``: the id in every output row and in ``Scorer.model_id``."""
    return f"{manifest.name}@{model_digest(manifest, model_file)[:12]}"


def weights_file(model_file: str) -> str:
    """Where a model file's weights live: ``x.onnx.data`` (ONNX external data) or ``x.bin`` (OpenVINO IR)."""
    return model_file[: -len(".xml")] + ".bin" if model_file.endswith(".xml") else model_file + ".data"


def _variant(file_name: str) -> str | None:
    """The model file an artifact file belongs to (``x.onnx`` for ``x.onnx`` and ``x.onnx.data``,
    ``x.xml`` for an OpenVINO IR's ``x.xml`` and ``x.bin``)."""
    if file_name.endswith((".onnx", ".xml")):
        return file_name
    if file_name.endswith(".onnx.data"):
        return file_name[: -len(".data")]
    if file_name.endswith(".bin"):
        return file_name[: -len(".bin")] + ".xml"
    return None


def check_files(
    directory: Path, manifest: Manifest, model_file: str, ngram_file: str | None, verify: bool
) -> None:
    """The model, tokenizer and (when blended) n-gram files are listed and present; with ``verify``
    the sha256 of every listed file except model variants not loaded (e.g. ``model.fp32.onnx``
    when serving int8, ``model.ov-int8.xml``/``.bin`` when serving ONNX Runtime) and the manifest's
    own checksum (``commentmod.json.sha256``)."""
    for required in (model_file, TOKENIZER_FILE, *([ngram_file] if ngram_file else [])):
        why = " (the hybrid stacker blends the n-gram model)" if required == ngram_file else ""
        if required not in manifest.files:
            raise ManifestError(
                f"{directory}: the manifest does not list {required}{why}; "
                f"listed files are {sorted(manifest.files)} - re-export the artifact"
            )
        if not (directory / required).is_file():
            raise ManifestError(
                f"artifact file {directory / required}{why} is missing; re-export the artifact"
            )
    weights = weights_file(model_file)
    if (directory / weights).is_file() and weights not in manifest.files:
        raise ManifestError(
            f"{directory}: {weights} (the weights of {model_file}) is not listed in the manifest, so its "
            "sha256 cannot be checked - re-export the artifact"
        )
    if verify:
        used = {k: v for k, v in manifest.files.items() if _variant(k) in (None, model_file, ngram_file)}
        verify_files(directory, replace(manifest, files=used))
        check_manifest_checksum(directory)


def check_model_session(session: ort.InferenceSession, manifest: Manifest, model_path: Path) -> None:
    """:func:`check_model_io` of an ONNX Runtime session."""
    shape = next((o.shape for o in session.get_outputs() if o.name == manifest.output_names[0]), None)
    width = shape[-1] if shape else None
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    check_model_io(inputs, outputs, width if isinstance(width, int) else None, manifest, model_path)


def check_model_io(
    input_names: Sequence[str],
    output_names: Sequence[str],
    width: int | None,
    manifest: Manifest,
    model_path: Path,
) -> None:
    """The graph's inputs, outputs and labels per comment (``width``, when known) are the
    manifest's; else ManifestError."""
    inputs, outputs = set(input_names), set(output_names)
    missing_in = [n for n in manifest.input_names if n not in inputs]
    if missing_in or manifest.output_names[0] not in outputs:
        raise ManifestError(
            f"{model_path} has inputs {sorted(inputs)} and outputs {sorted(outputs)}, "
            f"the manifest says {list(manifest.input_names)} -> {list(manifest.output_names)}; "
            "re-export the artifact"
        )
    if manifest.output_kind != "logits":
        raise ManifestError(
            f"output_kind is {manifest.output_kind!r}; this scorer reads 'logits' only - re-export"
        )
    # labels vs the model's outputs per comment, when the graph says (else checked on every run)
    labels = list(manifest.labels)
    if isinstance(width, int) and width != len(labels):
        raise ManifestError(
            f"manifest field 'labels' lists {len(labels)} labels {labels}, but "
            f"{model_path} outputs {width} per comment; re-export the artifact"
        )


def check_ngram_session(session: ort.InferenceSession, directory: Path) -> None:
    """The n-gram graph reads :data:`NGRAM_INPUT` and writes :data:`NGRAM_OUTPUT`; else ManifestError."""
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if NGRAM_INPUT not in inputs or NGRAM_OUTPUT not in outputs:
        raise ManifestError(
            f"the n-gram model of {directory} has inputs {inputs} and outputs {outputs}, "
            f"expected {NGRAM_INPUT!r} -> {NGRAM_OUTPUT!r}; re-export the artifact"
        )

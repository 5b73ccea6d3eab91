"""The artifact directory on disk: a hidden partial sibling of the target that the export fills
(model graphs, tokenizer, model card, manifest with every file's sha256), checks as serving loads
it, and moves into place atomically.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...model.manifest import MODEL_FILE, TOKENIZER_FILE, Manifest
from ...model.manifest_io import hash_files, write_manifest
from ...serving.scorer_inputs import Triple
from ..report.artifact_card import render_artifact_card, render_artifact_hybrid
from .errors import ExportError
from .onnx_graph import FP32_FILE, externalise_weights

MODEL_CARD_FILE = "MODEL_CARD.md"
CHANGES_FILE = "CHANGES_SINCE_PARENT.md"  # a retrained run's card section (commentmod retrain)


def prepare_target(out_dir: Path, force: bool) -> Path:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise ExportError(f"{out_dir} already exists and is not empty; pass --force to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def place_model(tmp: Path, int8_plan: str | None, keep_fp32: bool) -> str:
    """Leave the shipped graph as model.onnx: the int8 graph of ``int8_plan`` (model.fp32.onnx kept
    only with ``keep_fp32``) or, with no plan, the fp32 graph; returns the manifest's ``quantization``."""
    if int8_plan is not None:
        if not keep_fp32:
            (tmp / FP32_FILE).unlink()
        return f"int8 {int8_plan}"
    os.replace(tmp / FP32_FILE, tmp / MODEL_FILE)
    return "none"


def write_model_card(run_dir: Path, tmp: Path, manifest: Manifest) -> None:
    """The artifact's card (:func:`_write_card`); a retrained run's ``CHANGES_SINCE_PARENT.md`` is
    appended last."""
    _write_card(run_dir, tmp, manifest)
    changes = run_dir / CHANGES_FILE
    if changes.is_file():
        card = (tmp / MODEL_CARD_FILE).read_text(encoding="utf-8").rstrip("\n")
        section = changes.read_text(encoding="utf-8")
        (tmp / MODEL_CARD_FILE).write_text(f"{card}\n\n{section}", encoding="utf-8")


def _write_card(run_dir: Path, tmp: Path, manifest: Manifest) -> None:
    """Copy the run's MODEL_CARD.md (+ the PR curves it links) or render one; a hybrid artifact's
    card gets the per-label model section appended."""
    card_src = run_dir / MODEL_CARD_FILE
    if not card_src.is_file():
        (tmp / MODEL_CARD_FILE).write_text(render_artifact_card(manifest), encoding="utf-8")
        return
    shutil.copyfile(card_src, tmp / MODEL_CARD_FILE)
    for figure in sorted(run_dir.glob("pr_*.png")):  # the PR curves the card links
        shutil.copyfile(figure, tmp / figure.name)
    if "hybrid" in manifest.extra:
        card = card_src.read_text(encoding="utf-8").rstrip("\n")
        section = render_artifact_hybrid(manifest)
        (tmp / MODEL_CARD_FILE).write_text(f"{card}\n\n{section}", encoding="utf-8")


def write_files(run_dir: Path, tmp: Path, manifest: Manifest) -> tuple[Manifest, list[str]]:
    """Weights as external data, the tokenizer, the card, then the manifest with every file's sha256;
    returns the written manifest and the hashed file names."""
    for name in [n for n in (MODEL_FILE, FP32_FILE) if (tmp / n).is_file()]:
        externalise_weights(tmp / name)
    shutil.copyfile(run_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
    write_model_card(run_dir, tmp, manifest)
    files = [f.name for f in tmp.iterdir() if f.is_file()]
    manifest = replace(manifest, files=hash_files(tmp, files))
    write_manifest(tmp, manifest)
    return manifest, files


def self_check(tmp: Path, probe_items: Sequence[Triple], served_probs: np.ndarray, batch_size: int) -> None:
    """Load the finished artifact the way serving does and compare with the gated numbers."""
    from ...serving.scorer import Scorer

    # ONNX Runtime on model.onnx, what served_probs measured (runtime plans: openvino_plans.py)
    got = Scorer.load(tmp, windows_per_batch=batch_size, backend="onnxruntime").probabilities(probe_items)
    delta = float(np.abs(got - served_probs).max())
    if delta > 1e-5:
        raise ExportError(
            f"the written artifact scores the probes {delta:.2e} away from the checked model; "
            "this is a bug in the export - please report it"
        )


def move_into_place(tmp: Path, out_dir: Path) -> None:
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()

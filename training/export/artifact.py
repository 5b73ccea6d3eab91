"""Export a trained run directory to a verified, self-describing ONNX serving artifact.

Steps (all gates pass before anything appears at the target path)::

    run dir ─► ONNX fp32 (onnx_graph.py: TorchScript exporter, dynamic batch/sequence, opset >= 17)
            ─► with --prune-vocab: word embeddings cut to a comment sample's tokens, vocab_map.npy
               (vocab_prune.py); every gate below then judges the pruned graph
            ─► parity gate: ONNX fp32 vs PyTorch on PROBES, max |Δ prob| <= 1e-4   (ParityError)
            ─► int8 plans (quantize.py, fastest first) ─► fidelity gate vs fp32 (int8.py):
                 max |Δ prob| <= 0.03 on PROBES and >= 99 % flagged-decision agreement on
                 validation comments; the first plan that passes ships    (QuantizationFidelityError)
            ─► runtime plans (openvino_plans.py, with OpenVINO installed): OpenVINO bf16 and NNCF int8
               gated like int8 and timed, all recorded in runtime_plans, passing plans' files kept
            ─► MODEL_CARD.md + commentmod.json (sha256 of every file) ─► atomic move into place

Model output is raw ``logits`` [batch, n_labels]; the Scorer applies temperature and sigmoid
(manifest ``output_kind: "logits"``, see docs/artifact.md).

Hybrid artifacts (hybrid.py): when the run directory has ``stacker.json`` the artifact also ships
the n-gram graph and the stacker; a further gate (``ParityError``) checks that the Scorer's stacked
probabilities equal the Python blend within 1e-4, and the int8 gate judges the stacked
probabilities. This module only orders the steps; each step is a named function (over 400
lines because the gates' small result types live beside the one function that orders them).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from ...model.inputs import ContextRule, SpecialIds
from ...model.manifest import MODEL_FILE, TOKENIZER_FILE, DataSource, Manifest
from ...model.versions import library_versions
from ...serving.onnx_session import DEFAULT_WINDOWS_PER_BATCH, logits_to_probs
from ...serving.scorer_inputs import Triple
from ..fit.baseline_onnx import ONNX_NAME as BASELINE_ONNX
from ..fit.hybrid_fit import STACKER_NAME
from ..fit.modeling import CommentClassifier, RunInfo
from .directory import move_into_place, place_model, prepare_target, self_check, write_files
from .errors import ExportError, QuantizationFidelityError
from .hybrid import (
    HybridPlan,
    ShippedProbs,
    gate_hybrid_parity,
    hybrid_extra,
    hybrid_parity_sample,
    load_hybrid,
)
from .int8 import FidelityReport, Fp32Reference, Int8Limits, gate_int8
from .onnx_graph import (
    FP32_FILE,
    INPUT_NAMES,
    MIN_OPSET,
    OUTPUT_NAMES,
    export_fp32,
    onnx_logits,
    torch_logits,
)
from .openvino_plans import DEFAULT_CALIBRATION_WINDOWS, check_written_plans, measure_runtime_plans
from .parity import HybridParityReport, ParityReport, check_parity
from .probes import PROBES, builtin_validation_items
from .vocab_prune import PruneOptions, VocabSample, prune_for_export, pruning_extra, with_pruning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """What `commentmod export` can change; defaults are the production settings."""

    int8: bool = True
    keep_fp32: bool = False
    name: str | None = None
    opset: int = 17
    parity_tolerance: float = 1e-4
    int8_max_delta: float = 0.03
    int8_min_agreement: float = 0.99
    # ship fp32 (with a warning, recorded in the manifest) when no int8 plan passes the gate
    int8_fallback_fp32: bool = False
    quantize_embeddings: bool = True
    fuse: bool = True
    batch_size: int = DEFAULT_WINDOWS_PER_BATCH  # as the Scorer: dynamic int8 ranges depend on the batch
    force: bool = False
    # ship the hybrid model when the run dir has stacker.json; False: transformer only
    hybrid: bool = True
    hybrid_parity_rows: int = 200  # validation comments (besides the probes) in the hybrid parity gate
    openvino_plans: bool = True  # measure OpenVINO runtime plans when installed (openvino_plans.py)
    openvino_calibration_windows: int = DEFAULT_CALIBRATION_WINDOWS  # NNCF int8 calibration windows
    vocab: PruneOptions = field(default_factory=PruneOptions)  # --prune-vocab (vocab_prune.py); off

    def __post_init__(self) -> None:
        if self.opset < MIN_OPSET:
            raise ExportError(f"opset {self.opset} is too old; use {MIN_OPSET} or newer")
        if self.openvino_calibration_windows < 1:
            windows = self.openvino_calibration_windows
            raise ExportError(f"openvino_calibration_windows is {windows}; use 1 or more")


@dataclass
class ExportResult:
    directory: Path
    manifest: Manifest
    parity: ParityReport
    fidelity: list[FidelityReport] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    hybrid_parity: HybridParityReport | None = None


@dataclass(frozen=True)
class GraphScorer:
    """Scores a candidate graph the way the Scorer does: logits through the serving code path
    (:func:`onnx_logits`), then the served probabilities (temperature + sigmoid, or the stack)."""

    tokenizer: Tokenizer
    rule: ContextRule
    special: SpecialIds
    n_labels: int
    batch_size: int
    ship: ShippedProbs
    id_map: np.ndarray | None = None  # a vocabulary-pruned graph's token-id map

    def logits(self, path: Path, items: Sequence[Triple], batch_size: int | None = None) -> np.ndarray:
        size = self.batch_size if batch_size is None else batch_size
        tok, n = self.tokenizer, self.n_labels
        return onnx_logits(path, tok, self.rule, items, self.special, n, size, id_map=self.id_map)

    def served(self, path: Path, items: Sequence[Triple]) -> np.ndarray:
        return self.ship(self.logits(path, items), items)


@dataclass(frozen=True)
class _Fp32Gates:
    """What the parity gates on the fp32 graph found."""

    parity: ParityReport
    probe_logits: np.ndarray  # the fp32 graph's probe logits at the Scorer's batch size
    hybrid_parity: HybridParityReport | None


@dataclass(frozen=True)
class _Int8Outcome:
    fidelity: list[FidelityReport]
    shipped: bool  # model.onnx is the int8 graph
    failure: str | None = None  # the gate's message when fp32 ships instead (--int8-fallback-fp32)
    reference: Fp32Reference | None = None  # the fp32 probabilities the gate compared with

    @property
    def plan(self) -> str | None:
        """The shipped int8 plan's name; None when model.onnx is fp32."""
        return self.fidelity[-1].plan if self.shipped else None


# --------------------------------------------------------------------------- run dir -> manifest


def transformer_temperature(info: RunInfo) -> list[float]:
    return [float(info.temperature.get(k, 1.0)) for k in info.labels]


def transformer_thresholds(info: RunInfo) -> list[float]:
    return [float(info.thresholds[k]) for k in info.labels]


def data_sources_from_run(info: RunInfo) -> tuple[DataSource, ...]:
    """RunInfo.data_sources dicts → DataSource (accepts licence/license and rows/n_rows spellings)."""
    out = []
    for src in info.data_sources:
        name = src.get("name") or src.get("source") or "unknown"
        licence = src.get("licence") or src.get("license") or "unknown"
        rows = int(src.get("rows", src.get("n_rows", src.get("count", 0))) or 0)
        out.append(DataSource(str(name), str(licence), rows, bool(src.get("commercial_ok", False))))
    return tuple(out)


def _hybrid_plan(run_dir: Path, labels: Sequence[str], wanted: bool) -> HybridPlan | None:
    """The run's stacker (:func:`load_hybrid`) unless ``--no-hybrid``; logs which it is."""
    hybrid = load_hybrid(run_dir, labels) if wanted else None
    if hybrid is None:
        why = "--no-hybrid" if not wanted else f"{run_dir / STACKER_NAME} not found"
        log.info("the artifact is not hybrid (%s): transformer only", why)
    else:
        modes = {k: hybrid.spec.per_label[k].mode for k in labels}
        log.info("hybrid artifact: %s", ", ".join(f"{k}: {v}" for k, v in modes.items()))
    return hybrid


def stub_manifest(name: str, info: RunInfo, hybrid: HybridPlan | None) -> Manifest:
    """The artifact's manifest before the gates (no quantisation, export facts or file hashes yet).

    A hybrid artifact serves the stacker's thresholds and applies no temperature (the stacker's
    coefficients replace it)."""
    labels = tuple(info.labels)
    if hybrid is None:
        thresholds, temperature = transformer_thresholds(info), transformer_temperature(info)
    else:
        thresholds, temperature = [hybrid.thresholds[k] for k in labels], [1.0] * len(labels)
    return Manifest(
        name=name,
        labels=labels,
        thresholds=dict(zip(labels, thresholds, strict=True)),
        context_rule=info.context_rule,
        special_ids=SpecialIds(),
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        output_kind="logits",
        temperature=dict(zip(labels, temperature, strict=True)),
        data_sources=data_sources_from_run(info),
        library_versions=library_versions(),
        extra={} if hybrid is None else {"hybrid": hybrid.spec.to_dict()},
    )


# --------------------------------------------------------------------------- gates


def _copy_ngram(hybrid: HybridPlan | None, tmp: Path) -> Path | None:
    """Ship the run's n-gram graph when some label uses it; its path in the artifact, else None."""
    if hybrid is None or hybrid.baseline is None:
        return None
    ngram_path = tmp / hybrid.spec.ngram_file
    shutil.copyfile(hybrid.baseline_dir / BASELINE_ONNX, ngram_path)
    return ngram_path


def _gate_fp32(
    model: CommentClassifier,
    tmp: Path,
    scorer: GraphScorer,
    temperature: Sequence[float],
    hybrid: HybridPlan | None,
    stub: Manifest,
    options: ExportOptions,
    validation_items: Sequence[Triple] | None,
) -> _Fp32Gates:
    """The parity gates of the fp32 graph: ONNX vs PyTorch on the probes (batch 1 and the Scorer's
    batch size); for a hybrid artifact also the Scorer vs the Python blend of training."""
    probe_items = [p.item for p in PROBES]
    torch_probe = torch_logits(
        model, scorer.tokenizer, scorer.rule, probe_items, scorer.special, options.batch_size
    )
    onnx_probe = {b: scorer.logits(tmp / FP32_FILE, probe_items, b) for b in (1, options.batch_size)}
    parity = check_parity(
        logits_to_probs(torch_probe, temperature),
        {b: logits_to_probs(v, temperature) for b, v in onnx_probe.items()},
        stub.labels,
        [p.name for p in PROBES],
        options.parity_tolerance,
    )
    log.info(
        "parity: ONNX fp32 vs PyTorch max |Δp| %.2e (%s on %s)",
        parity.max_abs_delta,
        parity.label,
        parity.probe,
    )
    hybrid_parity = None
    if hybrid is not None:
        sample = hybrid_parity_sample(validation_items, options.hybrid_parity_rows)
        hybrid_parity = gate_hybrid_parity(
            hybrid,
            tmp,
            model,
            scorer.tokenizer,
            stub,
            torch_probe,
            sample,
            options.batch_size,
            options.parity_tolerance,
        )
        log.info(
            "hybrid parity: Scorer vs Python blend max |Δp| %.2e (%s on %s, %d items)",
            hybrid_parity.max_abs_delta,
            hybrid_parity.label,
            hybrid_parity.item,
            hybrid_parity.n_items,
        )
    return _Fp32Gates(parity, onnx_probe[options.batch_size], hybrid_parity)


def _agreement_items(
    validation_items: Sequence[Triple] | None, validation_source: str
) -> tuple[list[Triple], str]:
    """The comments the int8 flag-agreement gate uses, and where they come from."""
    if validation_items:
        return list(validation_items), validation_source or "validation data"
    return [p.item for p in PROBES] + builtin_validation_items(), "probe set + built-in sample"


def _gate_int8(
    tmp: Path,
    scorer: GraphScorer,
    fp32_probe_logits: np.ndarray,
    stub: Manifest,
    options: ExportOptions,
    validation_items: Sequence[Triple] | None,
    validation_source: str,
) -> _Int8Outcome:
    """The int8 fidelity gate (writes model.onnx when a plan passes); with --int8-fallback-fp32 a
    failed gate is logged and recorded instead of raised."""
    probe_items = [p.item for p in PROBES]
    agree_items, agree_source = _agreement_items(validation_items, validation_source)
    ref = Fp32Reference(
        labels=stub.labels,
        thresholds=[stub.thresholds[k] for k in stub.labels],
        probe_items=probe_items,
        probe_names=[p.name for p in PROBES],
        probes=scorer.ship(fp32_probe_logits, probe_items).astype(np.float64),
        agree_items=agree_items,
        agree=scorer.served(tmp / FP32_FILE, agree_items),
        agree_source=agree_source,
    )
    limits = Int8Limits(options.int8_max_delta, options.int8_min_agreement, options.quantize_embeddings)
    try:
        reports = gate_int8(tmp / FP32_FILE, tmp / MODEL_FILE, scorer.served, ref, limits, scorer.special)
    except QuantizationFidelityError as exc:
        if not options.int8_fallback_fp32:
            raise
        log.warning("%s; shipping the fp32 model instead (--int8-fallback-fp32)", exc)
        return _Int8Outcome([], shipped=False, failure=str(exc), reference=ref)
    return _Int8Outcome(reports, shipped=True, reference=ref)


# --------------------------------------------------------------------------- manifest extra


def export_extra(
    info: RunInfo,
    options: ExportOptions,
    fused: dict[str, int],
    gates: _Fp32Gates,
    int8: _Int8Outcome,
    hybrid: HybridPlan | None,
) -> dict[str, Any]:
    """The manifest's ``extra``: how the graph was made and what every gate measured."""
    extra: dict[str, Any] = {
        "exporter": "torch.onnx.export (TorchScript, dynamo=False)"
        + (", onnxruntime BERT fusion" if options.fuse else ""),
        "fused_operators": fused,
        "opset": options.opset,
        "base_model": info.base_model,
        "parity": asdict(gates.parity),
        "int8": [asdict(r) for r in int8.fidelity],
        "variants": {MODEL_FILE: "int8" if int8.shipped else "fp32"}
        | ({FP32_FILE: "fp32"} if int8.shipped and options.keep_fp32 else {}),
    }
    if int8.failure is not None:
        extra["int8_failure"] = int8.failure
    if "lineage" in info.extra:  # a retrained run (commentmod retrain): version, parent, label snapshot
        extra["lineage"] = info.extra["lineage"]
    if hybrid is not None and gates.hybrid_parity is not None:
        labels = tuple(info.labels)
        extra |= hybrid_extra(
            hybrid, labels, transformer_thresholds(info), transformer_temperature(info), gates.hybrid_parity
        )
    return extra


# --------------------------------------------------------------------------- orchestration


def export_artifact(
    run_dir: Path,
    out_dir: Path,
    options: ExportOptions = ExportOptions(),
    validation_items: Sequence[Triple] | None = None,
    validation_source: str = "",
    vocab_sample: VocabSample | None = None,
) -> ExportResult:
    """Export ``run_dir`` to ``out_dir``; nothing is written at ``out_dir`` unless every gate passes
    (the steps are in the module docstring; the work is built in a hidden sibling directory).
    ``vocab_sample``: the comments whose tokens a pruned vocabulary keeps (``options.vocab``)."""
    start = time.perf_counter()
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    model, info = CommentClassifier.load(run_dir)
    tokenizer = Tokenizer.from_file(str(run_dir / TOKENIZER_FILE))
    temperature = transformer_temperature(info)
    hybrid = _hybrid_plan(run_dir, tuple(info.labels), options.hybrid)
    stub = stub_manifest(options.name or run_dir.resolve().name, info, hybrid)
    tmp = prepare_target(out_dir, options.force)
    try:
        fused = export_fp32(model, tmp / FP32_FILE, options.opset, options.fuse)
        vocab = prune_for_export(
            tmp / FP32_FILE, tokenizer, stub, options.vocab, vocab_sample, validation_items
        )
        stub = with_pruning(stub, vocab, tmp)  # the gates' Scorers read the map
        ship = ShippedProbs(temperature, None if hybrid is None else hybrid.spec, _copy_ngram(hybrid, tmp))
        id_map = None if vocab is None else vocab.id_map
        scorer = GraphScorer(
            tokenizer, stub.context_rule, stub.special_ids, len(stub.labels), options.batch_size, ship, id_map
        )
        gates = _gate_fp32(model, tmp, scorer, temperature, hybrid, stub, options, validation_items)
        del model  # the PyTorch weights are not needed past the parity gates
        int8 = (
            _gate_int8(tmp, scorer, gates.probe_logits, stub, options, validation_items, validation_source)
            if options.int8
            else _Int8Outcome([], shipped=False)
        )
        plans = measure_runtime_plans(tmp, scorer, int8, options)
        if plans.keep_fp32:  # a passing OpenVINO plan runs the fp32 graph
            options = replace(options, keep_fp32=True)
        quantization = place_model(tmp, int8.plan, options.keep_fp32)
        probe_items = [p.item for p in PROBES]
        served_probs = scorer.served(tmp / MODEL_FILE, probe_items)
        extra = export_extra(info, options, fused, gates, int8, hybrid) | pruning_extra(vocab)
        written = replace(stub, quantization=quantization, extra=extra, runtime_plans=plans.plans)
        manifest, files = write_files(run_dir, tmp, written)
        self_check(tmp, probe_items, served_probs, options.batch_size)
        check_written_plans(tmp, plans, probe_items, options.batch_size)
        sizes = {f: (tmp / f).stat().st_size for f in files}
        move_into_place(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    seconds = time.perf_counter() - start
    log.info("exported %s to %s in %.1fs (%s)", stub.name, out_dir, seconds, quantization)
    return ExportResult(out_dir, manifest, gates.parity, int8.fidelity, sizes, seconds, gates.hybrid_parity)

"""Export a trained run directory to a verified, self-describing ONNX serving artifact.

Steps (all gates pass before anything appears at the target path)::

    run dir ─► ONNX fp32 (TorchScript exporter, dynamic batch/sequence, opset >= 17)
            ─► parity gate: ONNX fp32 vs PyTorch on PROBES, max |Δ prob| <= 1e-4   (ParityError)
            ─► int8 plans (training/quantize.py, fastest first) ─► fidelity gate vs fp32:
                 max |Δ prob| <= 0.03 on PROBES and >= 99 % flagged-decision agreement on
                 validation comments; the first plan that passes ships    (QuantizationFidelityError)
            ─► MODEL_CARD.md + commentmod.json (sha256 of every file) ─► atomic move into place

Model output is raw ``logits`` [batch, n_labels]; the Scorer applies temperature and sigmoid
(manifest ``output_kind: "logits"``, see docs/artifact.md).

Hybrid artifacts: when the run directory has ``stacker.json`` (``training/stacker.py``), the
artifact also ships the character n-gram graph (``RUN/baseline/baseline.onnx`` as ``ngram.onnx``,
only if some label uses it) and the stacker (manifest ``extra["hybrid"]``, with the stacker's
thresholds); a further gate (``ParityError``) checks that the Scorer's stacked probabilities
equal the Python blend (PyTorch logits, ``OnnxBaseline``, :func:`stack_probs`) within 1e-4, and
the int8 gate judges the stacked probabilities. This module is long because it is the one place
that orders every export gate; each step is a small function.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from tokenizers import Tokenizer

from commentmod.model.errors import CommentmodError
from commentmod.model.inputs import ContextRule, SpecialIds, encode_comments
from commentmod.model.labels import LABEL_DESCRIPTIONS
from commentmod.model.manifest import DataSource, Manifest, hash_files, write_manifest
from commentmod.serving.hybrid import HybridSpec, stack_probs
from commentmod.serving.scorer import (
    DEFAULT_BATCH_SIZE,
    logits_to_probs,
    make_session,
    ngram_probs,
    window_logits,
)
from commentmod.training.baseline import ONNX_NAME as BASELINE_ONNX
from commentmod.training.baseline import BaselineError, OnnxBaseline
from commentmod.training.modeling import CommentClassifier, RunInfo
from commentmod.training.predict import predict_logits
from commentmod.training.quantize import QuantizationError, quant_plans, quantize_int8, quiet_root_logger

log = logging.getLogger(__name__)

Item = tuple[str, str | None, str | None]

MODEL_FILE = "model.onnx"
FP32_FILE = "model.fp32.onnx"
TOKENIZER_FILE = "tokenizer.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
STACKER_FILE = "stacker.json"  # in the run directory, written by training/stacker.py
BASELINE_DIR = "baseline"  # in the run directory: baseline.onnx + baseline.json (training/baseline.py)
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("logits",)
MIN_OPSET = 17


class ExportError(CommentmodError):
    """The export could not be completed (bad target, unusable run directory)."""


class ParityError(ExportError):
    """The ONNX model does not reproduce the PyTorch model within tolerance."""


class QuantizationFidelityError(ExportError):
    """No int8 quantisation plan stayed close enough to the fp32 model."""


# --------------------------------------------------------------------------- probe set

_ARTICLE_RO = (
    "Primăria Clujului a aprobat bugetul pe anul viitor",
    "Consiliul local a votat noul buget, care include o linie de tramvai și reabilitarea a trei școli. "
    "Opoziția a criticat lipsa fondurilor pentru transportul public din cartierele noi.",
)
_ARTICLE_EN = (
    "Council approves new cycling lanes",
    "The city council voted on Tuesday to build 40 km of protected cycling lanes over the next two years.",
)
_ARTICLE_UK = ("Київ відкриває новий міст", "Міська рада повідомила, що рух мостом відкриють у грудні.")
_ARTICLE_RU = ("В Кишинёве ремонтируют дороги", "Мэрия обещает закончить ремонт центральных улиц к осени.")

_LONG_RO = " ".join(
    [
        "Am citit articolul de trei ori și tot nu înțeleg de ce primăria cheltuie atâția bani pe borduri "
        "în loc să repare conductele de apă care se sparg în fiecare iarnă.",
        "Vecinii mei din cartier așteaptă de zece ani o stație de autobuz, iar răspunsul e mereu același.",
        "Sincer, cine a votat bugetul ăsta ar trebui să vină să stea o săptămână în blocul nostru.",
    ]
    * 6
)
_LONG_EN = " ".join(
    [
        "I have lived in this neighbourhood for twenty years and every single council has promised the same "
        "thing before the election and then forgotten about it the day after.",
        "The cycling lanes are fine, but the buses still run every forty minutes and nobody talks about it.",
        "What an absolute clown show, honestly, these people could not organise a picnic.",
    ]
    * 6
)


@dataclass(frozen=True)
class Probe:
    """A fixed input the parity and fidelity gates score."""

    name: str
    text: str
    article_title: str | None = None
    article_text: str | None = None

    @property
    def item(self) -> Item:
        return (self.text, self.article_title, self.article_text)


PROBES: tuple[Probe, ...] = (
    Probe("ro-abusive", "Ești un cretin, taci din gură și du-te acasă.", *_ARTICLE_RO),
    Probe("ro-mocking", "Felicitări, domnule primar, geniu curat! Încă un buget record 👏👏", *_ARTICLE_RO),
    Probe("ro-offtopic", "Vând Logan 2012, 90.000 km, detalii în privat.", *_ARTICLE_RO),
    Probe("ro-neutral", "Bine că se face tramvaiul, dar când începe lucrarea efectiv?", *_ARTICLE_RO),
    Probe("ro-no-diacritics", "sa le fie rusine, asa e mereu in tara asta", *_ARTICLE_RO),
    Probe("en-abusive", "You are a pathetic idiot and everyone here hates you.", *_ARTICLE_EN),
    Probe("en-mocking", "Sure, because that worked so well last time 🙄", *_ARTICLE_EN),
    Probe("en-offtopic", "Earn $500 a day from home!!! http://example.com/join", *_ARTICLE_EN),
    Probe("uk-neutral", "Дякую за статтю, дуже корисно. Коли відкриють міст?", *_ARTICLE_UK),
    Probe("uk-abusive", "Ти тупий дурень, закрий рота.", *_ARTICLE_UK),
    Probe("ru-mocking", "Ну да, конечно, лучшие в мире дороги 😂😂😂", *_ARTICLE_RU),
    Probe("ru-abusive", "Сдохни, тварь. Автора на мыло.", *_ARTICLE_RU),
    Probe("emoji-only", "😂😂😂🤡🤡👏"),
    Probe("empty-context-ro", "Primarul ăsta e o glumă proastă.", "", ""),
    Probe("no-context-en", "Totally agree with the previous comment."),
    Probe("title-only-ru", "Опять обещания.", _ARTICLE_RU[0], None),
    Probe("single-char", "?"),
    Probe("long-ro", _LONG_RO, *_ARTICLE_RO),
    Probe("long-en-no-context", _LONG_EN),
    Probe("mixed-scripts", "Bravo 👏 молодцы, very good, foarte bine!!! ăîâșț ґєії", *_ARTICLE_EN),
)

_SAMPLE_TEXTS = (
    "Ești un cretin, taci din gură.",
    "Bravo, încă o promisiune electorală, ce surpriză 😂",
    "Cumpăr apartament 2 camere zona Mănăștur, sunați la 0722 000 000",
    "Mulțumim pentru informații, foarte util articolul.",
    "Cine a câștigat meciul aseară?",
    "Hoții ăștia de politicieni ar trebui băgați la pușcărie toți.",
    "Sper să nu dureze lucrările încă zece ani.",
    "Ce jurnalism de doi lei, nici măcar titlul nu e scris corect.",
    "Asta da știre, a doua zi după ce s-a întâmplat 🤦",
    "Nu înțeleg de ce nu se face nimic pentru pensionari.",
    "Go back to where you came from, nobody wants you here.",
    "Great job, council, another genius plan 👏",
    "Check out my channel for free crypto tips!!!",
    "Thanks, this is helpful. When does construction start?",
    "Does anyone know a good plumber in the area?",
    "This is the dumbest thing I have read all week.",
    "I think the lanes will help, my kids cycle to school.",
    "Lol, sure, and pigs will fly next Tuesday.",
    "Дякую, нарешті хоч якісь новини про міст.",
    "Ти що, зовсім дурний? Читати навчись.",
    "Продам гараж, недорого, пишіть в особисті.",
    "Ага, звісно, все буде вчасно 😂",
    "Спасибо за статью, всё по делу.",
    "Идиоты, кто вообще за них голосовал?",
    "Ну конечно, как всегда, к осени, какого года только?",
    "Кто-нибудь смотрел вчера футбол?",
    "👍",
    "🤡🤡🤡",
    "ok",
    "Primăria să repare întâi gropile, apoi să se laude.",
    "Ce treabă are asta cu bugetul? Vorbiți de altceva.",
    "Un articol echilibrat, în sfârșit.",
    "Voi ăștia de la ziar sunteți plătiți de partid, rușine!",
    "Frumos spus, dar realitatea e alta.",
    "Nobody asked, Karen.",
    "Finally some good news for the city.",
    "Лол, ну и новости, хоть стой хоть падай.",
    "Автор, ти взагалі був у цьому районі?",
    "Super idee, dar cine plătește?",
    "Ce mai faceți, vecinilor? Eu am fost la mare.",
)


def builtin_validation_items() -> list[Item]:
    """120 deterministic comments (40 texts x {no context, Romanian article, English article})."""
    contexts: tuple[tuple[str | None, str | None], ...] = ((None, None), _ARTICLE_RO, _ARTICLE_EN)
    return [(text, title, body) for title, body in contexts for text in _SAMPLE_TEXTS]


def load_validation_items(
    dataset_dir: Path, max_rows: int = 5000, split: str = "validation", seed: int = 0
) -> list[Item]:
    """A seeded random sample of up to ``max_rows`` comments of a saved DatasetDict's split.

    Random, not the first rows: the split is stored grouped by source, so its head is one
    language (the first 2000 validation rows of data/full are 97 % Romanian).
    """
    from datasets import load_from_disk

    from commentmod.model.record import CommentRecord

    dsd = load_from_disk(str(dataset_dir))
    if split not in dsd:
        raise ExportError(
            f"{dataset_dir} has splits {sorted(dsd)}, no {split!r}; build it with `commentmod data`"
        )
    ds = dsd[split]
    n = min(max_rows, len(ds))
    picked = np.sort(np.random.default_rng(seed).choice(len(ds), size=n, replace=False))
    rows = ds.select(picked.tolist())
    items: list[Item] = []
    for row in rows:
        rec = CommentRecord.from_row(row)
        items.append((rec.text, rec.article_title, rec.article_text))
    return items


# --------------------------------------------------------------------------- options / reports


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
    batch_size: int = DEFAULT_BATCH_SIZE  # as the Scorer: dynamic int8 ranges depend on the batch
    force: bool = False
    # ship the hybrid model when the run dir has stacker.json; False: transformer only
    hybrid: bool = True
    hybrid_parity_rows: int = 200  # validation comments (besides the probes) in the hybrid parity gate

    def __post_init__(self) -> None:
        if self.opset < MIN_OPSET:
            raise ExportError(f"opset {self.opset} is too old; use {MIN_OPSET} or newer")


@dataclass
class ParityReport:
    max_abs_delta: float
    label: str
    probe: str
    per_label: dict[str, float]
    n_probes: int
    batch_sizes: list[int]
    tolerance: float


@dataclass
class FidelityReport:
    plan: str
    op_types: list[str]
    nodes_excluded: list[str]
    max_abs_delta: float
    label: str
    probe: str
    agreement: float
    per_label_agreement: dict[str, float]
    n_agreement_items: int
    agreement_source: str
    passed: bool
    max_delta_tolerance: float
    min_agreement: float


@dataclass
class HybridParityReport:
    """Scorer (fp32 graph + ngram.onnx + stack) vs the Python blend of training."""

    max_abs_delta: float
    label: str
    item: str
    per_label: dict[str, float]
    n_items: int
    tolerance: float
    reference: str = "PyTorch logits + OnnxBaseline (RUN/baseline) + stack_probs"
    served: str = "Scorer on the fp32 graph + ngram.onnx"


@dataclass
class ExportResult:
    directory: Path
    manifest: Manifest
    parity: ParityReport
    fidelity: list[FidelityReport] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    hybrid_parity: HybridParityReport | None = None


@dataclass
class HybridPlan:
    """What a hybrid export ships: the stacker, its thresholds, and the n-gram model when used."""

    spec: HybridSpec
    thresholds: dict[str, float]
    baseline: OnnxBaseline | None  # RUN/baseline loaded, when some label uses the n-gram model
    baseline_dir: Path


# --------------------------------------------------------------------------- ONNX export


def export_onnx(model: CommentClassifier, path: Path, opset: int = 17) -> None:
    """Write ``model`` as ONNX: inputs input_ids/attention_mask (int64, dynamic batch and sequence),
    output ``logits`` [batch, n_labels]. Uses the TorchScript exporter (``dynamo=False``), which
    traces this encoder exactly and needs no onnxscript."""
    model.eval()
    ids = torch.tensor([[0, 5, 6, 7, 8, 9, 2, 1], [0, 10, 11, 12, 2, 1, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    axes = {"batch": 0, "sequence": 1}
    dynamic_axes = {
        "input_ids": {v: k for k, v in axes.items()},
        "attention_mask": {v: k for k, v in axes.items()},
        "logits": {0: "batch"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the legacy exporter
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))


def fuse_transformer(src: Path, dst: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """ONNX Runtime's BERT optimizer: fuse attention (Attention) and BiasGelu.

    EmbedLayerNormalization is left out so that the word-embedding Gather stays visible to
    :func:`quantize_embedding_rows`. Needs a graph exported with eager attention (the SDPA mask
    pattern is not recognised). Returns the fused-operator counts.
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fusion = FusionOptions("bert")
    fusion.enable_embed_layer_norm = False
    # SkipLayerNormalization is ~4.5x slower than Add + LayerNormalization on ORT's CPU provider
    # (benchmarks/bench_layernorm.py); the Scorer also disables ORT's own SkipLayerNormFusion.
    fusion.enable_skip_layer_norm = False
    fusion.enable_bias_skip_layer_norm = False
    with quiet_root_logger():
        optimized = optimize_model(
            str(src),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            opt_level=0,
            optimization_options=fusion,
        )
        stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
        optimized.save_model_to_file(str(dst))
    onnx.checker.check_model(str(dst))
    return stats


def export_fp32(model: CommentClassifier, path: Path, opset: int, fuse: bool) -> dict[str, int]:
    """Export ``model`` to ``path``; with ``fuse`` also run the BERT fusion (eager attention export).

    Returns the fused-operator counts (empty without fusion). The caller's parity gate decides
    whether the graph is right; the model is left with its original attention implementation.
    """
    if not fuse:
        export_onnx(model, path, opset)
        return {}
    raw = path.with_name(path.stem + ".raw.onnx")
    original = model.encoder.config._attn_implementation
    model.encoder.set_attn_implementation("eager")
    try:
        export_onnx(model, raw, opset)
    finally:
        model.encoder.set_attn_implementation(original)
    cfg = model.encoder.config
    stats = fuse_transformer(raw, path, cfg.num_attention_heads, cfg.hidden_size)
    raw.unlink()
    if not stats.get("Attention"):
        log.warning("attention fusion did not apply (fused: %s); the graph is correct but slower", stats)
    return stats


def torch_logits(
    model: CommentClassifier,
    tokenizer: Tokenizer,
    rule: ContextRule,
    items: Sequence[Item],
    special: SpecialIds,
    batch_size: int,
) -> np.ndarray:
    return predict_logits(model, tokenizer, rule, items, batch_size=batch_size, special=special)


def onnx_logits(
    model_path: Path,
    tokenizer: Tokenizer,
    rule: ContextRule,
    items: Sequence[Item],
    special: SpecialIds,
    n_labels: int,
    batch_size: int,
    threads: int | None = None,
) -> np.ndarray:
    """Logits through the serving code path (same windowing, batching and max as the Scorer)."""
    session = make_session(model_path, threads)
    per_item = encode_comments(tokenizer, items, rule, special)
    return window_logits(session, per_item, n_labels, special.pad, batch_size=batch_size)


def _worst(delta: np.ndarray, labels: Sequence[str], names: Sequence[str]) -> tuple[float, str, str]:
    row, col = np.unravel_index(int(np.argmax(delta)), delta.shape)
    return float(delta[row, col]), labels[int(col)], names[int(row)]


def check_parity(
    reference: np.ndarray,
    candidates: dict[int, np.ndarray],
    labels: Sequence[str],
    probe_names: Sequence[str],
    tolerance: float,
) -> ParityReport:
    """Compare probabilities of ONNX runs (keyed by batch size) with PyTorch; raise ParityError if off."""
    worst: tuple[float, str, str] = (0.0, labels[0], probe_names[0])
    per_label = dict.fromkeys(labels, 0.0)
    worst_batch = 0
    for batch, probs in candidates.items():
        delta = np.abs(probs.astype(np.float64) - reference.astype(np.float64))
        if not np.all(np.isfinite(delta)):
            bad = np.argwhere(~np.isfinite(delta))[0]
            raise ParityError(
                f"ONNX output for probe {probe_names[bad[0]]!r} label {labels[bad[1]]!r} is not finite "
                f"(batch size {batch}); the export is broken"
            )
        for j, label in enumerate(labels):
            per_label[label] = max(per_label[label], float(delta[:, j].max()))
        w = _worst(delta, labels, probe_names)
        if w[0] >= worst[0]:
            worst, worst_batch = w, batch
    report = ParityReport(
        worst[0], worst[1], worst[2], per_label, len(probe_names), sorted(candidates), tolerance
    )
    if worst[0] > tolerance:
        raise ParityError(
            f"ONNX fp32 differs from PyTorch by {worst[0]:.2e} in probability for label {worst[1]!r} "
            f"on probe {worst[2]!r} (batch size {worst_batch}); tolerance is {tolerance:.0e}. "
            "Check the exporter/opset or report the model architecture."
        )
    return report


# --------------------------------------------------------------------------- int8


def flag_agreement(
    a: np.ndarray, b: np.ndarray, thresholds: Sequence[float], labels: Sequence[str]
) -> tuple[float, dict[str, float]]:
    """Share of items whose flagged/not-flagged decision (any label >= threshold) is the same."""
    thr = np.asarray(thresholds, dtype=np.float32)
    fa, fb = a >= thr, b >= thr
    overall = float(np.mean(fa.any(axis=1) == fb.any(axis=1))) if len(a) else 1.0
    per_label = {lab: float(np.mean(fa[:, j] == fb[:, j])) if len(a) else 1.0 for j, lab in enumerate(labels)}
    return overall, per_label


# --------------------------------------------------------------------------- hybrid


def load_hybrid(run_dir: Path, labels: Sequence[str]) -> HybridPlan | None:
    """The stacker of ``RUN/stacker.json`` (``training/stacker.py``), refused when malformed or fitted
    on other models than the run's (its provenance), checked against the run's labels, with
    ``RUN/baseline/`` loaded when some label uses the n-gram model; None when the run has no stacker."""
    from commentmod.training import stacker

    path = Path(run_dir) / STACKER_FILE
    if not path.is_file():
        return None
    reason = stacker.stale_reason(Path(run_dir))
    if reason is not None:
        raise ExportError(
            f"{path} cannot be shipped: {reason}. Refit the stacker (`commentmod hybrid`) "
            "or export with --no-hybrid"
        )
    spec, thresholds = stacker.load_hybrid(Path(run_dir))
    if tuple(spec.labels) != tuple(labels):
        raise ExportError(f"{path} is for labels {list(spec.labels)}, the model for {list(labels)}; refit it")
    bad = {k: v for k, v in thresholds.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ExportError(f"{path}: thresholds {bad} are not probabilities in [0, 1]; refit it")
    baseline_dir = Path(run_dir) / BASELINE_DIR
    uses = [k for k in labels if spec.per_label[k].coef_ngram != 0.0]
    if not uses:
        return HybridPlan(spec, thresholds, None, baseline_dir)
    try:
        baseline = OnnxBaseline.load(baseline_dir)
    except BaselineError as exc:
        raise ExportError(f"{path} blends the n-gram model for {uses}, but {exc}") from exc
    if tuple(baseline.labels) != tuple(labels):
        raise ExportError(
            f"the n-gram model in {baseline_dir} is for labels {list(baseline.labels)}, "
            f"the transformer for {list(labels)}; retrain the baseline"
        )
    untrained = [k for k in uses if not baseline.trained.get(k, False)]
    if untrained:
        raise ExportError(
            f"{path} blends the n-gram model for {untrained}, but {baseline_dir} has no head for them; refit"
        )
    return HybridPlan(spec, thresholds, baseline, baseline_dir)


class ShippedProbs:
    """Served probabilities from raw logits, as the Scorer computes them: temperature + sigmoid, or
    the hybrid stack with the n-gram graph shipped in the artifact. The n-gram probabilities of an
    item list are computed once (the int8 gate scores the same items with every plan)."""

    def __init__(self, temperature: Sequence[float], spec: HybridSpec | None, ngram_path: Path | None):
        self.temperature = list(temperature)
        self.spec = spec
        self._session = make_session(ngram_path) if ngram_path is not None else None
        self._cache: dict[tuple[str, ...], np.ndarray] = {}

    def ngram(self, items: Sequence[Item]) -> np.ndarray | None:
        if self._session is None or self.spec is None:
            return None
        texts = tuple(text for text, _, _ in items)
        if texts not in self._cache:
            self._cache[texts] = ngram_probs(self._session, texts, len(self.spec.labels))
        return self._cache[texts]

    def __call__(self, logits: np.ndarray, items: Sequence[Item]) -> np.ndarray:
        if self.spec is None:
            return logits_to_probs(logits, self.temperature)
        return stack_probs(logits, self.ngram(items), self.spec)


def hybrid_parity_sample(validation_items: Sequence[Item] | None, n: int, seed: int = 0) -> list[Item]:
    """A seeded sample of up to ``n`` validation comments (the built-in sample without data)."""
    pool = list(validation_items) if validation_items else builtin_validation_items()
    if len(pool) <= n:
        return pool
    picked = np.sort(np.random.default_rng(seed).choice(len(pool), size=max(0, n), replace=False))
    return [pool[int(i)] for i in picked]


def check_hybrid_parity(
    reference: np.ndarray,
    served: np.ndarray,
    labels: Sequence[str],
    item_names: Sequence[str],
    tolerance: float,
) -> HybridParityReport:
    """Compare the Scorer's stacked probabilities with the Python blend; raise ParityError if off."""
    delta = np.abs(served.astype(np.float64) - reference.astype(np.float64))
    if not np.all(np.isfinite(delta)):
        bad = np.argwhere(~np.isfinite(delta))[0]
        raise ParityError(
            f"hybrid score for {item_names[bad[0]]!r} label {labels[bad[1]]!r} is not finite; "
            "the export is broken"
        )
    worst, label, item = _worst(delta, labels, item_names)
    per_label = {k: float(delta[:, j].max()) for j, k in enumerate(labels)}
    report = HybridParityReport(worst, label, item, per_label, len(item_names), tolerance)
    if worst > tolerance:
        raise ParityError(
            f"the Scorer's hybrid probabilities differ from the Python blend (PyTorch + n-gram + stacker) "
            f"by {worst:.2e} for label {label!r} on {item!r}; tolerance is {tolerance:.0e}. "
            "The serving stack and training disagree - please report it"
        )
    return report


def _gate_hybrid_parity(
    plan: HybridPlan,
    tmp: Path,
    model: CommentClassifier,
    tokenizer: Tokenizer,
    manifest: Manifest,
    probe_logits: np.ndarray,
    sample: Sequence[Item],
    batch_size: int,
    tolerance: float,
) -> HybridParityReport:
    """The Scorer class itself (fp32 graph, shipped ngram.onnx, stacker in ``manifest``) vs the
    Python blend on the probes + ``sample``."""
    from commentmod.serving.scorer import Scorer

    rule, special = manifest.context_rule, manifest.special_ids
    items = [p.item for p in PROBES] + list(sample)
    names = [p.name for p in PROBES] + [f"validation[{i}]" for i in range(len(sample))]
    logits = np.concatenate([probe_logits, torch_logits(model, tokenizer, rule, sample, special, batch_size)])
    texts = [text for text, _, _ in items]
    p_ngram = plan.baseline.predict_probs(texts) if plan.baseline is not None else None
    reference = stack_probs(logits, p_ngram, plan.spec)
    ngram_path = tmp / plan.spec.ngram_file
    scorer = Scorer(
        make_session(tmp / FP32_FILE),
        tokenizer,
        manifest,
        tmp,
        model_file=FP32_FILE,
        batch_size=batch_size,
        ngram_session=make_session(ngram_path) if plan.baseline is not None else None,
    )
    return check_hybrid_parity(reference, scorer.probabilities(items), manifest.labels, names, tolerance)


def hybrid_extra(
    plan: HybridPlan,
    labels: Sequence[str],
    thresholds: Sequence[float],
    temperature: Sequence[float],
    parity: HybridParityReport,
) -> dict[str, Any]:
    """Manifest ``extra`` entries of a hybrid artifact."""
    out: dict[str, Any] = {
        "hybrid": plan.spec.to_dict(),
        "hybrid_parity": asdict(parity),
        "transformer": {
            "thresholds": dict(zip(labels, thresholds, strict=True)),
            "temperature": dict(zip(labels, temperature, strict=True)),
            "note": "reference only: the artifact serves the stacker's thresholds and applies no temperature",
        },
    }
    if plan.baseline is not None:
        meta = {k: v for k, v in plan.baseline.meta.items() if k != "files"}
        out["ngram"] = {"file": plan.spec.ngram_file, "source": f"{BASELINE_DIR}/{BASELINE_ONNX}", **meta}
    return out


MODE_NAMES = {"blend": "blend (transformer + n-gram)", "transformer": "transformer", "ngram": "n-gram"}


def render_hybrid_section(manifest: Manifest) -> str:
    """The model card's hybrid section: per label which model is used, and why."""
    spec = HybridSpec.from_dict(manifest.extra["hybrid"])
    lines = [
        "## Hybrid model",
        "",
        "Served scores combine the transformer (comment + article context) and a character n-gram "
        f"model (`{spec.ngram_file}`, comment text only), per label: "
        "`p = sigmoid(c_t * transformer_logit + c_n * logit(p_ngram) + b)` (raw transformer logit, "
        "max over windows, no temperature)"
        + (f"; stacker fitted on {spec.fitted_on}." if spec.fitted_on else "."),
        "",
        "| label | model | c_t | c_n | b | threshold | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in spec.labels:
        s = spec.per_label[label]
        lines.append(
            f"| {label} | {MODE_NAMES[s.mode]} | {s.coef_transformer:.4f} | {s.coef_ngram:.4f} | "
            f"{s.intercept:.4f} | {manifest.thresholds[label]:.3f} | {(s.why or '-').replace('|', '/')} |"
        )
    parity = manifest.extra.get("hybrid_parity")
    if parity:
        lines += [
            "",
            f"Export checked that the served scores equal the training blend on {parity['n_items']} comments "
            f"(max |Δp| {parity['max_abs_delta']:.1e}).",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- manifest, card


def data_sources_from_run(info: RunInfo) -> tuple[DataSource, ...]:
    """RunInfo.data_sources dicts → DataSource (accepts licence/license and rows/n_rows spellings)."""
    out = []
    for src in info.data_sources:
        name = src.get("name") or src.get("source") or "unknown"
        licence = src.get("licence") or src.get("license") or "unknown"
        rows = int(src.get("rows", src.get("n_rows", src.get("count", 0))) or 0)
        out.append(DataSource(str(name), str(licence), rows, bool(src.get("commercial_ok", False))))
    return tuple(out)


def library_versions() -> dict[str, str]:
    versions = {}
    for dist in (
        "commentmod",
        "onnx",
        "onnxruntime",
        "onnx-ir",
        "torch",
        "transformers",
        "tokenizers",
        "numpy",
    ):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def render_model_card(manifest: Manifest) -> str:
    """A short model card from the manifest (used when the run dir has no MODEL_CARD.md)."""
    rule = manifest.context_rule
    hybrid = "hybrid" in manifest.extra
    lines = [
        f"# {manifest.name}",
        "",
        "Multilingual comment-moderation classifier for news sites (Romanian first-class, also English, "
        "Ukrainian and Russian), exported by `commentmod export`.",
        "",
        "## Intended use",
        "",
        "Triage for human moderators: surface comments that are likely abusive, mocking or off-topic so "
        "a person reviews them first. Not for automatic removal or for judging people.",
        "",
        "## Labels and thresholds",
        "",
        "| label | threshold | temperature | meaning |" if not hybrid else "| label | threshold | meaning |",
        "|---|---|---|---|" if not hybrid else "|---|---|---|",
    ]
    for label in manifest.labels:
        temp = "" if hybrid else f" {manifest.temperature.get(label, 1.0):.3f} |"
        lines.append(
            f"| {label} | {manifest.thresholds[label]:.3f} |{temp} {LABEL_DESCRIPTIONS.get(label, '')} |"
        )
    score_rule = (
        "Model outputs logits; score = sigmoid(logit / temperature)."
        if not hybrid
        else "Scores combine the transformer's logits with a character n-gram model (see Hybrid model)."
    )
    lines += [
        "",
        "## Inputs",
        "",
        f"Comment first, then article title and start of text as context; at most {rule.max_length} tokens "
        f"per window; longer comments are split into overlapping windows ({rule.stride} tokens shared) and "
        f"the maximum per label is taken. {score_rule}",
        "",
        f"Quantization: {manifest.quantization}.",
        "",
        *([render_hybrid_section(manifest)] if hybrid else []),
        "## Training data and licences",
        "",
    ]
    if manifest.data_sources:
        lines += ["| source | licence | rows | commercial use |", "|---|---|---|---|"]
        lines += [
            f"| {s.name} | {s.licence} | {s.rows} | {'yes' if s.commercial_ok else 'no'} |"
            for s in manifest.data_sources
        ]
        if not all(s.commercial_ok for s in manifest.data_sources):
            lines += ["", "Some sources do not allow commercial use; check the licences before deploying."]
    else:
        lines.append("No data sources recorded (untrained or test model).")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- orchestration


def _prepare_target(out_dir: Path, force: bool) -> Path:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise ExportError(f"{out_dir} already exists and is not empty; pass --force to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def externalise_weights(path: Path) -> Path:
    """Move a model's weights to ``<name>.data`` next to it (ONNX external data).

    ONNX Runtime memory-maps external initializers instead of copying them out of the
    protobuf, which lowers the scorer's peak RSS by about the model size and loads faster.
    """
    data_name = path.name + ".data"
    model = onnx.load(str(path))
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    return path.with_name(data_name)


def _self_check(tmp: Path, probe_items: Sequence[Item], served_probs: np.ndarray, batch_size: int) -> None:
    """Load the finished artifact the way serving does and compare with the gated numbers."""
    from commentmod.serving.scorer import Scorer

    got = Scorer.load(tmp, batch_size=batch_size).probabilities(probe_items)
    delta = float(np.abs(got - served_probs).max())
    if delta > 1e-5:
        raise ExportError(
            f"the written artifact scores the probes {delta:.2e} away from the checked model; "
            "this is a bug in the export - please report it"
        )


def _gate_int8(
    tmp: Path,
    options: ExportOptions,
    probes_fp32: np.ndarray,
    agree_fp32: np.ndarray,
    onnx_probs: Callable[[Path, Sequence[Item]], np.ndarray],
    probe_items: Sequence[Item],
    agree_items: Sequence[Item],
    agree_source: str,
    labels: Sequence[str],
    thresholds: Sequence[float],
    special: SpecialIds,
) -> list[FidelityReport]:
    reports: list[FidelityReport] = []
    int8_path = tmp / MODEL_FILE
    for plan in quant_plans(options.quantize_embeddings):
        try:
            excluded = quantize_int8(tmp / FP32_FILE, int8_path, plan, special)
        except QuantizationError as exc:
            log.warning("int8 plan %r skipped: %s", plan.name, exc)
            continue
        p_probe = onnx_probs(int8_path, probe_items)
        delta = np.abs(p_probe.astype(np.float64) - probes_fp32)
        max_d, label, probe = _worst(delta, labels, [p.name for p in PROBES])
        p_agree = onnx_probs(int8_path, agree_items)
        agreement, per_label = flag_agreement(agree_fp32, p_agree, thresholds, labels)
        passed = max_d <= options.int8_max_delta and agreement >= options.int8_min_agreement
        reports.append(
            FidelityReport(
                plan=plan.name,
                op_types=list(plan.op_types),
                nodes_excluded=excluded,
                max_abs_delta=max_d,
                label=label,
                probe=probe,
                agreement=agreement,
                per_label_agreement=per_label,
                n_agreement_items=len(agree_items),
                agreement_source=agree_source,
                passed=passed,
                max_delta_tolerance=options.int8_max_delta,
                min_agreement=options.int8_min_agreement,
            )
        )
        log.info(
            "int8 plan %r: max |Δp| %.4f (%s on %s), flag agreement %.4f on %d items -> %s",
            plan.name,
            max_d,
            label,
            probe,
            agreement,
            len(agree_items),
            "pass" if passed else "fail",
        )
        if passed:
            return reports
    tried = "; ".join(
        f"{r.plan}: max |Δp| {r.max_abs_delta:.4f} ({r.label} on {r.probe}), agreement {r.agreement:.4f}"
        for r in reports
    )
    raise QuantizationFidelityError(
        f"no int8 plan passed (need max |Δp| <= {options.int8_max_delta} and flag agreement >= "
        f"{options.int8_min_agreement}); tried {tried}. Export with --no-int8 to ship fp32."
    )


def export_artifact(
    run_dir: Path,
    out_dir: Path,
    options: ExportOptions = ExportOptions(),
    validation_items: Sequence[Item] | None = None,
    validation_source: str = "",
) -> ExportResult:
    """Export ``run_dir`` to ``out_dir``; nothing is written at ``out_dir`` unless every gate passes.

    Long because it orders every gate (see the module docstring); the steps are the helpers above.
    """
    start = time.perf_counter()
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    model, info = CommentClassifier.load(run_dir)
    rule = info.rule
    special = SpecialIds()
    labels = tuple(info.labels)
    tokenizer = Tokenizer.from_file(str(run_dir / TOKENIZER_FILE))
    temperature = [float(info.temperature.get(k, 1.0)) for k in labels]
    thresholds = [float(info.thresholds[k]) for k in labels]
    name = options.name or run_dir.resolve().name
    hybrid = load_hybrid(run_dir, labels) if options.hybrid else None
    if hybrid is None:
        why = "--no-hybrid" if not options.hybrid else f"{run_dir / STACKER_FILE} not found"
        log.info("the artifact is not hybrid (%s): transformer only", why)
    else:
        modes = {k: hybrid.spec.per_label[k].mode for k in labels}
        log.info("hybrid artifact: %s", ", ".join(f"{k}: {v}" for k, v in modes.items()))
    served_thresholds = thresholds if hybrid is None else [hybrid.thresholds[k] for k in labels]
    stub = Manifest(
        name=name,
        labels=labels,
        thresholds=dict(zip(labels, served_thresholds, strict=True)),
        context_rule=rule,
        special_ids=special,
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        output_kind="logits",
        # a hybrid artifact applies no temperature (the stacker's coefficients replace it)
        temperature=dict(zip(labels, temperature if hybrid is None else [1.0] * len(labels), strict=True)),
        data_sources=data_sources_from_run(info),
        library_versions=library_versions(),
        extra={} if hybrid is None else {"hybrid": hybrid.spec.to_dict()},
    )
    tmp = _prepare_target(out_dir, options.force)
    try:
        fused = export_fp32(model, tmp / FP32_FILE, options.opset, options.fuse)
        ngram_path = None
        if hybrid is not None and hybrid.baseline is not None:
            ngram_path = tmp / hybrid.spec.ngram_file
            shutil.copyfile(hybrid.baseline_dir / BASELINE_ONNX, ngram_path)
        ship = ShippedProbs(temperature, None if hybrid is None else hybrid.spec, ngram_path)
        probe_items = [p.item for p in PROBES]
        probe_names = [p.name for p in PROBES]

        def logits_of(path: Path, items: Sequence[Item], batch_size: int = options.batch_size) -> np.ndarray:
            return onnx_logits(path, tokenizer, rule, items, special, len(labels), batch_size)

        def served_of(path: Path, items: Sequence[Item]) -> np.ndarray:
            return ship(logits_of(path, items), items)

        probe_logits = torch_logits(model, tokenizer, rule, probe_items, special, options.batch_size)
        fp32_logits = {b: logits_of(tmp / FP32_FILE, probe_items, b) for b in (1, options.batch_size)}
        parity = check_parity(
            logits_to_probs(probe_logits, temperature),
            {b: logits_to_probs(v, temperature) for b, v in fp32_logits.items()},
            labels,
            probe_names,
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
            hybrid_parity = _gate_hybrid_parity(
                hybrid,
                tmp,
                model,
                tokenizer,
                stub,
                probe_logits,
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
        del model

        fidelity: list[FidelityReport] = []
        shipped_int8 = options.int8
        int8_failure: str | None = None
        if options.int8:
            if validation_items:
                agree_items, agree_source = list(validation_items), validation_source or "validation data"
            else:
                agree_items = probe_items + builtin_validation_items()
                agree_source = "probe set + built-in sample"
            try:
                fidelity = _gate_int8(
                    tmp,
                    options,
                    probes_fp32=ship(fp32_logits[options.batch_size], probe_items).astype(np.float64),
                    agree_fp32=served_of(tmp / FP32_FILE, agree_items),
                    onnx_probs=served_of,
                    probe_items=probe_items,
                    agree_items=agree_items,
                    agree_source=agree_source,
                    labels=labels,
                    thresholds=served_thresholds,
                    special=special,
                )
            except QuantizationFidelityError as exc:
                if not options.int8_fallback_fp32:
                    raise
                log.warning("%s; shipping the fp32 model instead (--int8-fallback-fp32)", exc)
                shipped_int8 = False
                int8_failure = str(exc)
        if shipped_int8:
            if not options.keep_fp32:
                (tmp / FP32_FILE).unlink()
            chosen = fidelity[-1]
            quantization = f"int8 {chosen.plan}"
        else:
            os.replace(tmp / FP32_FILE, tmp / MODEL_FILE)
            quantization = "none"

        served_probs = served_of(tmp / MODEL_FILE, probe_items)
        model_names = [n for n in (MODEL_FILE, FP32_FILE) if (tmp / n).is_file()]
        for n in model_names:
            externalise_weights(tmp / n)
        shutil.copyfile(run_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        extra: dict[str, Any] = {
            "exporter": "torch.onnx.export (TorchScript, dynamo=False)"
            + (", onnxruntime BERT fusion" if options.fuse else ""),
            "fused_operators": fused,
            "opset": options.opset,
            "base_model": info.base_model,
            "parity": asdict(parity),
            "int8": [asdict(r) for r in fidelity],
            "variants": {MODEL_FILE: "int8" if shipped_int8 else "fp32"}
            | ({FP32_FILE: "fp32"} if shipped_int8 and options.keep_fp32 else {}),
        }
        if int8_failure is not None:
            extra["int8_failure"] = int8_failure
        if hybrid is not None and hybrid_parity is not None:
            extra |= hybrid_extra(hybrid, labels, thresholds, temperature, hybrid_parity)
        manifest = replace(stub, quantization=quantization, extra=extra)
        _write_model_card(run_dir, tmp, manifest)
        files = [f.name for f in tmp.iterdir() if f.is_file()]
        manifest = replace(manifest, files=hash_files(tmp, files))
        write_manifest(tmp, manifest)
        _self_check(tmp, probe_items, served_probs, options.batch_size)
        sizes = {f: (tmp / f).stat().st_size for f in files}
        _move_into_place(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    seconds = time.perf_counter() - start
    log.info("exported %s to %s in %.1fs (%s)", name, out_dir, seconds, quantization)
    return ExportResult(out_dir, manifest, parity, fidelity, sizes, seconds, hybrid_parity)


def _write_model_card(run_dir: Path, tmp: Path, manifest: Manifest) -> None:
    """Copy the run's MODEL_CARD.md (+ the PR curves it links) or render one; a hybrid artifact's
    card gets the per-label model section appended."""
    card_src = run_dir / MODEL_CARD_FILE
    if not card_src.is_file():
        (tmp / MODEL_CARD_FILE).write_text(render_model_card(manifest), encoding="utf-8")
        return
    shutil.copyfile(card_src, tmp / MODEL_CARD_FILE)
    for figure in sorted(run_dir.glob("pr_*.png")):  # the PR curves the card links
        shutil.copyfile(figure, tmp / figure.name)
    if "hybrid" in manifest.extra:
        card = card_src.read_text(encoding="utf-8").rstrip("\n")
        section = render_hybrid_section(manifest)
        (tmp / MODEL_CARD_FILE).write_text(f"{card}\n\n{section}", encoding="utf-8")

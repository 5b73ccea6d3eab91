"""Fitting the hybrid model's stacker on a run directory and a data build, and ``RUN/stacker.json``.

:func:`fit_hybrid` trains the n-gram model into ``RUN/baseline/`` when needed
(:func:`ensure_ngram`), scores the validation split with both models, fits the stacker
(:mod:`commentmod.training.fit.stacker`, pure functions over arrays) and writes
``RUN/stacker.json``. The file's format (:func:`save_hybrid`, :func:`load_hybrid`) and its
freshness rules (:func:`stale_reason`), which ``commentmod evaluate``, ``commentmod hybrid`` and
the artifact export rely on, live here too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...model.errors import ManifestError
from ...model.manifest_io import sha256_file
from ...serving.hybrid import HybridSpec
from .emoji_rule import choose_emoji_rule
from .stacker import DEFAULT_MARGIN, StackerError, fit_stacker, stacker_thresholds

logger = logging.getLogger(__name__)

STACKER_NAME = "stacker.json"
NGRAM_DIR = "baseline"
# the share of flagged-worthy comments the shipped thresholds are tuned for (max F1 at this base rate,
# see calibration.prior_shift_weight): public validation sets hold 25-60 % positives, a news site's
# comment stream a few per cent, and max F1 at the validation rate flags too many clean comments
DEFAULT_BASE_RATE = 0.15


# --------------------------------------------------------------------------- stacker.json


def save_hybrid(
    run_dir: Path,
    spec: HybridSpec,
    thresholds: Mapping[str, float],
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``RUN/stacker.json``: ``{"spec": ..., "thresholds": ..., "provenance": ...}``."""
    missing = [k for k in spec.labels if k not in thresholds]
    if missing:
        raise StackerError(f"no threshold for label(s) {missing}")
    data = {
        "spec": spec.to_dict(),
        "thresholds": {k: float(thresholds[k]) for k in spec.labels},
        "provenance": dict(provenance or {}),
    }
    path = Path(run_dir) / STACKER_NAME
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_stacker_json(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / STACKER_NAME
    if not path.is_file():
        raise StackerError(
            f"{run_dir} has no {STACKER_NAME}; fit it with `commentmod hybrid --model {run_dir}`"
        )
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StackerError(f"{path} is not valid JSON ({exc}); refit with `commentmod hybrid`") from exc
    return data


def load_hybrid(run_dir: Path) -> tuple[HybridSpec, dict[str, float]]:
    """The stacker and its thresholds from ``RUN/stacker.json``."""
    data = read_stacker_json(run_dir)
    try:
        spec = HybridSpec.from_dict(data["spec"])
        thresholds = {k: float(data["thresholds"][k]) for k in spec.labels}
    except (KeyError, TypeError, ValueError, ManifestError) as exc:
        raise StackerError(
            f"{Path(run_dir) / STACKER_NAME} is malformed ({exc}); refit with `commentmod hybrid`"
        ) from exc
    return spec, thresholds


def current_provenance(run_dir: Path) -> dict[str, str | None]:
    """Fingerprints of the two models a stacker was fitted on (to notice a stale ``stacker.json``)."""
    from .baseline_onnx import ONNX_NAME
    from .modeling import WEIGHTS_NAME

    onnx = Path(run_dir) / NGRAM_DIR / ONNX_NAME
    return {
        "transformer_sha256": sha256_file(Path(run_dir) / WEIGHTS_NAME),
        "ngram_sha256": sha256_file(onnx) if onnx.is_file() else None,
    }


def stale_reason(run_dir: Path) -> str | None:
    """Why ``RUN/stacker.json`` cannot be used as is (missing, malformed, other models), or None."""
    try:
        load_hybrid(run_dir)
        saved = read_stacker_json(run_dir).get("provenance", {})
    except StackerError as exc:
        return str(exc)
    now = current_provenance(run_dir)
    words = {"transformer_sha256": "transformer", "ngram_sha256": "n-gram"}
    changed = [words[k] for k, v in now.items() if saved.get(k) != v]
    return f"{STACKER_NAME} was fitted with another {' and '.join(changed)} model" if changed else None


# --------------------------------------------------------------------------- a run and a data build


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class LoadedRun:
    """A trained run directory, loaded once: the PyTorch model, its tokenizer and its RunInfo."""

    run_dir: Path
    model: Any
    tokenizer: Any
    info: Any

    @classmethod
    def load(cls, run_dir: Path) -> LoadedRun:
        from tokenizers import Tokenizer

        from .modeling import CommentClassifier

        model, info = CommentClassifier.load(Path(run_dir))
        return cls(Path(run_dir), model, Tokenizer.from_file(str(Path(run_dir) / "tokenizer.json")), info)

    def logits(
        self, items: Sequence[Any], batch_size: int = 32, device: str = "auto", rule: Any = None
    ) -> np.ndarray:
        """Raw logits ``[N, L]`` (max over windows, before temperature); ``rule``: another input
        rule than the run's (default: the run's)."""
        from .predict import predict_logits

        dev = resolve_device(device)
        self.model.to(dev)
        rule = self.info.context_rule if rule is None else rule
        return predict_logits(self.model, self.tokenizer, rule, items, batch_size, device=dev)

    def temperature(self) -> np.ndarray:
        return np.asarray([float(self.info.temperature.get(k, 1.0)) for k in self.info.labels])


def ngram_trained_on(bl_dir: Path) -> str | None:
    from .baseline_onnx import META_NAME

    path = Path(bl_dir) / META_NAME
    if not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8")).get("extra", {}).get("dataset")
    return str(value) if value else ""


def same_path(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def ensure_ngram(run_dir: Path, data_dir: Path, *, retrain_stale: bool = True) -> tuple[Any, bool]:
    """The n-gram model of ``RUN/baseline/`` (ONNX), trained now on the train split (thresholds on the
    validation split) when missing, or, with ``retrain_stale``, when trained on another dataset.
    Returns ``(OnnxBaseline, trained_now)``."""
    from ..data.build_io import load_split
    from ..report.evaluate import EvalData
    from .baseline_onnx import OnnxBaseline, train_and_save

    bl_dir = Path(run_dir) / NGRAM_DIR
    trained_on = ngram_trained_on(bl_dir)
    if trained_on is not None and (not retrain_stale or not trained_on or same_path(trained_on, data_dir)):
        if trained_on and not same_path(trained_on, data_dir):
            logger.warning(
                "the n-gram model in %s was trained on %s, not on %s", bl_dir, trained_on, data_dir
            )
        return OnnxBaseline.load(bl_dir), False
    if trained_on:
        logger.info(
            "the n-gram model in %s was trained on %s; retraining on %s", bl_dir, trained_on, data_dir
        )
    train = EvalData.from_records(load_split(data_dir, "train"))
    val = EvalData.from_records(load_split(data_dir, "validation"))
    logger.info(
        "training the n-gram model on %d rows (thresholds on %d validation rows)", len(train), len(val)
    )
    start = time.perf_counter()
    train_and_save(
        train.texts,
        train.y,
        val.texts,
        val.y,
        bl_dir,
        extra={"dataset": str(data_dir), "split": "train"},
        train_synthetic=train.synthetic,
        val_synthetic=val.synthetic,
    )
    logger.info("n-gram model trained and saved to %s in %.1fs", bl_dir, time.perf_counter() - start)
    return OnnxBaseline.load(bl_dir), True


def sample_rows(n: int, max_rows: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random sample of ``max_rows`` of ``n`` rows (all when None or larger).

    Random, never the first rows: splits are stored grouped by source (one language at the head).
    """
    if max_rows is None or max_rows >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _threshold_mode(info: Any) -> tuple[str, float | None]:
    """The run's threshold rule (``threshold_mode``/``target_precision`` of its training config)."""
    cfg = getattr(info, "training_config", None) or {}
    if cfg.get("threshold_mode") == "precision":
        return "precision", float(cfg.get("target_precision", 0.9))
    return "f1", None


# --------------------------------------------------------------------------- fit_hybrid


def _validation_rows(
    data_dir: Path, labels: Sequence[str], max_rows: int | None, seed: int
) -> tuple[Any, str]:
    """The validation split (or its seeded sample) as ``EvalData``, and the ``fitted_on`` words."""
    from ..data.build_io import load_split
    from ..report.evaluate import EvalData

    records = load_split(data_dir, "validation")
    picked = sample_rows(len(records), max_rows, seed)
    val = EvalData.from_records([records[int(i)] for i in picked], labels)
    if not len(val):
        raise StackerError(f"{data_dir} has no validation rows; the stacker is fitted on validation")
    sampled = f", a seeded random sample of {len(records):,}" if len(val) < len(records) else ""
    return val, f"{len(val):,} validation rows of {data_dir}{sampled}"


def _score_both(
    run: LoadedRun, ngram: Any, val: Any, batch_size: int, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """Transformer logits and n-gram probabilities of the validation rows (timed in the log)."""
    start = time.perf_counter()
    lt = run.logits(val.items(), batch_size, device)
    logger.info(
        "hybrid: transformer logits for %d validation rows in %.1fs", len(val), time.perf_counter() - start
    )
    start = time.perf_counter()
    pn = ngram.predict_probs(val.texts)
    logger.info("hybrid: n-gram probabilities in %.1fs", time.perf_counter() - start)
    return lt, pn


def fit_hybrid(
    run_dir: Path,
    data_dir: Path,
    *,
    max_validation_rows: int | None = None,
    batch_size: int = 32,
    device: str = "auto",
    seed: int = 0,
    folds: int = 5,
    margin: float = DEFAULT_MARGIN,
    base_rate: float | None = DEFAULT_BASE_RATE,
    run: LoadedRun | None = None,
    transformer_emoji: str = "keep",
) -> tuple[HybridSpec, dict[str, float]]:
    """Fit the stacker of ``run_dir`` on ``data_dir``'s validation split and write ``RUN/stacker.json``.

    Trains the n-gram model into ``RUN/baseline/`` first when it is missing or was trained on another
    dataset. ``max_validation_rows``: a seeded random sample of the validation split (default: all).
    ``transformer_emoji`` (keep/strip/auto, :mod:`.emoji_rule`): whether the transformer reads emoji;
    a switch is saved in the run info (the export and the Scorer follow it).
    """
    run_dir, data_dir = Path(run_dir), Path(data_dir)
    run = run or LoadedRun.load(run_dir)
    labels = tuple(run.info.labels)
    ngram, _ = ensure_ngram(run_dir, data_dir)
    if tuple(ngram.labels) != labels:
        raise StackerError(f"the n-gram model has labels {ngram.labels}, the transformer {labels}")
    val, fitted_on = _validation_rows(data_dir, labels, max_validation_rows, seed)
    lt, pn = _score_both(run, ngram, val, batch_size, device)
    start, was_stripped = time.perf_counter(), run.info.context_rule.strip_emoji

    def fit(logits: np.ndarray) -> HybridSpec:
        return fit_stacker(
            logits, pn, val.y, labels, folds=folds, seed=seed, margin=margin, fitted_on=fitted_on
        )

    def score(rule: Any, items: Sequence[Any]) -> np.ndarray:
        return run.logits(items, batch_size, device, rule=rule)

    lt, emoji, fitted = choose_emoji_rule(run, val.items(), lt, fit, transformer_emoji, score)
    if emoji.strip != was_stripped:
        run.info.save(run_dir)  # the rule switched: export and Scorer read it from the run info
    spec = fitted if fitted is not None else fit(lt)
    mode, target = _threshold_mode(run.info)
    thresholds = stacker_thresholds(spec, lt, pn, val.y, mode, target, base_rate)
    logger.info("hybrid: stacker fitted in %.1fs", time.perf_counter() - start)
    provenance = {
        **current_provenance(run_dir),
        "dataset": str(data_dir),
        "validation_rows": len(val),
        "threshold_base_rate": base_rate,
        "seed": seed,
        "transformer_emoji": emoji.to_dict(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _save_and_log(run_dir, spec, thresholds, provenance)
    return spec, thresholds


def _save_and_log(
    run_dir: Path, spec: HybridSpec, thresholds: dict[str, float], provenance: dict[str, Any]
) -> None:
    path = save_hybrid(run_dir, spec, thresholds, provenance)
    for name in spec.labels:
        s = spec.per_label[name]
        logger.info("hybrid %s: %s, threshold %.3f - %s", name, s.mode, thresholds[name], s.why)
    logger.info("wrote %s", path)

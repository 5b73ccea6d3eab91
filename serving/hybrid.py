"""The hybrid model's serving half: the character n-gram input layout and the per-label stacker.

A hybrid artifact holds two models: the transformer (``model.onnx``: comment + article, logits) and
the character n-gram model (``ngram.onnx``: comment text only, probabilities; trained by
``commentmod.training.fit.baseline``). A small stacker, fitted on validation data by
``commentmod.training.fit.stacker``, combines them per label::

    z = coef_transformer * transformer_logit + coef_ngram * logit(p_ngram) + intercept
    p = sigmoid(z)

``transformer_logit`` is the raw model output (max over windows, before temperature). ``mode`` says
what the export decided for the label: ``blend`` (both coefficients free), ``transformer``
(``coef_ngram == 0``) or ``ngram`` (``coef_transformer == 0``); ``why`` says why, in words. The
same :func:`stack_probs` runs in training (evaluation, export gates) and in the Scorer, so the two
cannot drift apart. numpy only: this module is part of the torch-free serving package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..model.errors import ManifestError
from ..model.inputs import clean_text
from ..model.numeric import logit, sigmoid

HYBRID_FORMAT = 1
NGRAM_FILE = "ngram.onnx"
MODES = ("blend", "transformer", "ngram")
PAD = "<pad>"
PROB_EPS = 1e-6


@dataclass(frozen=True)
class LabelStack:
    """How one label's shipped score is computed from the two models."""

    mode: str
    coef_transformer: float
    coef_ngram: float
    intercept: float
    why: str = ""
    validation: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ManifestError(f"hybrid mode is {self.mode!r}; expected one of {list(MODES)}")
        values = (self.coef_transformer, self.coef_ngram, self.intercept)
        if not all(isinstance(v, int | float) and np.isfinite(v) for v in values):
            raise ManifestError(f"hybrid coefficients must be finite numbers, got {values}")
        if self.mode == "transformer" and self.coef_ngram != 0.0:
            raise ManifestError("hybrid mode 'transformer' needs coef_ngram == 0")
        if self.mode == "ngram" and self.coef_transformer != 0.0:
            raise ManifestError("hybrid mode 'ngram' needs coef_transformer == 0")


@dataclass(frozen=True)
class HybridSpec:
    """The stacker for every label, in the model's label order."""

    labels: tuple[str, ...]
    per_label: Mapping[str, LabelStack]
    ngram_file: str = NGRAM_FILE
    fitted_on: str = ""
    format: int = HYBRID_FORMAT

    def __post_init__(self) -> None:
        missing = [k for k in self.labels if k not in self.per_label]
        if missing:
            raise ManifestError(f"hybrid stacker has no entry for label(s) {missing}")

    @property
    def needs_ngram(self) -> bool:
        return any(self.per_label[k].coef_ngram != 0.0 for k in self.labels)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HybridSpec:
        if data.get("format") != HYBRID_FORMAT:
            raise ManifestError(
                f"hybrid stacker format is {data.get('format')!r}, this commentmod reads {HYBRID_FORMAT}; "
                "re-export the artifact"
            )
        try:
            per_label = {
                str(k): LabelStack(
                    mode=str(v["mode"]),
                    coef_transformer=float(v["coef_transformer"]),
                    coef_ngram=float(v["coef_ngram"]),
                    intercept=float(v["intercept"]),
                    why=str(v.get("why", "")),
                    validation=dict(v.get("validation", {})),
                )
                for k, v in dict(data["per_label"]).items()
            }
            return cls(
                labels=tuple(str(k) for k in data["labels"]),
                per_label=per_label,
                ngram_file=str(data.get("ngram_file", NGRAM_FILE)),
                fitted_on=str(data.get("fitted_on", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"hybrid stacker is malformed ({exc!r}); re-export the artifact") from exc


def stack_probs(
    transformer_logits: np.ndarray, ngram_probs: np.ndarray | None, spec: HybridSpec
) -> np.ndarray:
    """Shipped probabilities ``[N, L]`` (float32) from transformer logits and n-gram probabilities.

    ``ngram_probs`` may be ``None`` (or contain NaN) only for labels whose ``coef_ngram`` is 0.
    """
    lt = np.asarray(transformer_logits, dtype=np.float64)
    n, n_labels = lt.shape
    if n_labels != len(spec.labels):
        raise ValueError(f"transformer logits have {n_labels} labels, the stacker {len(spec.labels)}")
    ln = np.zeros_like(lt) if ngram_probs is None else logit(np.nan_to_num(ngram_probs, nan=0.5), PROB_EPS)
    if ngram_probs is not None and ln.shape != lt.shape:
        raise ValueError(f"n-gram probabilities have shape {ln.shape}, transformer logits {lt.shape}")
    out = np.empty((n, n_labels), dtype=np.float64)
    for j, name in enumerate(spec.labels):
        s = spec.per_label[name]
        if s.coef_ngram != 0.0 and ngram_probs is None:
            raise ValueError(f"label {name!r} blends the n-gram model but no n-gram probabilities were given")
        out[:, j] = sigmoid(s.coef_transformer * lt[:, j] + s.coef_ngram * ln[:, j] + s.intercept)
    return out.astype(np.float32)


def layout_for_onnx(text: str) -> str:
    """The text the n-gram ONNX graph sees: cleaned, lower-cased words joined by two spaces, padded by one.

    Char n-grams of this string that cross a word boundary contain a space in their middle, and
    ``char_wb`` n-grams never do, so counting the vocabulary's n-grams here equals ``char_wb``.
    """
    return layout_cleaned(clean_text(text))


def layout_cleaned(text: str) -> str:
    """:func:`layout_for_onnx` of a text already through ``clean_text`` (``Item.text``)."""
    words = text.lower().split()
    return " " + "  ".join(words) + " " if words else ""


def chars_for_onnx(texts: Sequence[str]) -> np.ndarray:
    """The n-gram ONNX input: one row of single characters per text, right-padded with :data:`PAD`."""
    return chars_of_layouts([layout_for_onnx(t) for t in texts])


def chars_of_layouts(laid: Sequence[str]) -> np.ndarray:
    """:func:`chars_for_onnx` of texts already laid out (:func:`layout_for_onnx`)."""
    width = max([1, *(len(t) for t in laid)])
    out = np.full((len(laid), width), PAD, dtype=object)
    for i, t in enumerate(laid):
        out[i, : len(t)] = list(t)
    return out

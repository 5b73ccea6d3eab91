"""The short model card of an artifact, rendered from its manifest alone.

Used by ``commentmod export`` when the run has no ``MODEL_CARD.md`` of its own
(:func:`render_artifact_card`), and for the hybrid section appended to a run's card
(:func:`render_artifact_hybrid`). The run's full card is :mod:`.model_card`.
"""

from __future__ import annotations

from ...model.labels import LABEL_DESCRIPTIONS
from ...model.manifest import Manifest
from ...serving.hybrid import HybridSpec

ARTIFACT_MODE_NAMES = {
    "blend": "blend (transformer + n-gram)",
    "transformer": "transformer",
    "ngram": "n-gram",
}


def render_artifact_hybrid(manifest: Manifest) -> str:
    """The artifact card's hybrid section: per label which model is used, and why."""
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
            f"| {label} | {ARTIFACT_MODE_NAMES[s.mode]} | {s.coef_transformer:.4f} | {s.coef_ngram:.4f} | "
            f"{s.intercept:.4f} | {manifest.thresholds[label]:.3f} | {(s.why or '-').replace('|', '/')} |"
        )
    if manifest.context_rule.strip_emoji:
        lines += [
            "",
            "The transformer reads each comment without its emoji (`context_rule.strip_emoji`, chosen on "
            "validation by `--transformer-emoji`): an emoji reaches the scores only through the n-gram "
            'model, whose training data holds emoji counterfactuals ("has an emoji" is not a label).',
        ]
    parity = manifest.extra.get("hybrid_parity")
    if parity:
        lines += [
            "",
            f"Export checked that the served scores equal the training blend on {parity['n_items']} comments "
            f"(max |Δp| {parity['max_abs_delta']:.1e}).",
        ]
    return "\n".join(lines) + "\n"


def _artifact_label_rows(manifest: Manifest, hybrid: bool) -> list[str]:
    """The artifact card's label table (a hybrid artifact applies no temperature)."""
    lines = [
        "| label | threshold | temperature | meaning |" if not hybrid else "| label | threshold | meaning |",
        "|---|---|---|---|" if not hybrid else "|---|---|---|",
    ]
    for label in manifest.labels:
        temp = "" if hybrid else f" {manifest.temperature.get(label, 1.0):.3f} |"
        lines.append(
            f"| {label} | {manifest.thresholds[label]:.3f} |{temp} {LABEL_DESCRIPTIONS.get(label, '')} |"
        )
    return lines


def _artifact_sources(manifest: Manifest) -> list[str]:
    """The artifact card's data-source table, with a warning when some source is non-commercial."""
    if not manifest.data_sources:
        return ["No data sources recorded (untrained or test model)."]
    lines = ["| source | licence | rows | commercial use |", "|---|---|---|---|"]
    lines += [
        f"| {s.name} | {s.licence} | {s.rows} | {'yes' if s.commercial_ok else 'no'} |"
        for s in manifest.data_sources
    ]
    if not all(s.commercial_ok for s in manifest.data_sources):
        lines += ["", "Some sources do not allow commercial use; check the licences before deploying."]
    return lines


def render_artifact_card(manifest: Manifest) -> str:
    """A short model card from an artifact's manifest (export uses it when the run has no MODEL_CARD.md)."""
    rule = manifest.context_rule
    hybrid = "hybrid" in manifest.extra
    score_rule = (
        "Model outputs logits; score = sigmoid(logit / temperature)."
        if not hybrid
        else "Scores combine the transformer's logits with a character n-gram model (see Hybrid model)."
    )
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
        *_artifact_label_rows(manifest, hybrid),
        "",
        "## Inputs",
        "",
        f"Comment first, then article title and start of text as context; at most {rule.max_length} tokens "
        f"per window; longer comments are split into overlapping windows ({rule.stride} tokens shared) and "
        f"the maximum per label is taken. {score_rule}",
        "",
        f"Quantization: {manifest.quantization}.",
        "",
        *([render_artifact_hybrid(manifest)] if hybrid else []),
        "## Training data and licences",
        "",
        *_artifact_sources(manifest),
    ]
    return "\n".join(lines) + "\n"

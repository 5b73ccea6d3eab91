"""The model card's "Changes since parent" section of a retrained model (``commentmod retrain``).

Rendered from plain mappings, the lineage (:class:`commentmod.training.retrain.versions.Lineage`)
and the gate's verdict (:meth:`commentmod.training.retrain.gate.GateVerdict.to_dict`), so this module
depends on neither; the export appends the file it is written to (``CHANGES_SINCE_PARENT.md`` in the
run directory) to the artifact's card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

COMPARISONS = (("base_test", "(a) base test split"), ("new_test", "(b) held-out new labels"))


def _rows(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{counts.get(k, 0):,} {k}" for k in ("train", "validation", "test"))


def _table(comparison: Mapping[str, Any]) -> list[str]:
    lines = [
        "| label | language | positives | negatives | parent PR-AUC | new PR-AUC | change | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in comparison.get("cells", []):
        verdict = "ok" if c["passed"] else "**fails**"
        lines.append(
            f"| {c['label']} | {c['lang']} | {c['positives']} | {c['negatives']} | {c['parent']:.4f} | "
            f"{c['child']:.4f} | {c['difference']:+.4f} | {verdict} |"
        )
    if not comparison.get("cells"):
        lines.append("| - | - | - | - | - | - | - | no cell to judge |")
    return lines


def _skipped(skipped: Sequence[Mapping[str, Any]]) -> list[str]:
    if not skipped:
        return []
    cells = ", ".join(f"{s['label']} x {s['lang']} ({s['positives']}+/{s['negatives']}-)" for s in skipped)
    return ["", f"Not judged (too few rows or no PR-AUC): {cells}."]


def render_changes(lineage: Mapping[str, Any], verdict: Mapping[str, Any]) -> str:
    """The section as Markdown: where the model comes from, then the gate's table per comparison."""
    snapshot = str(lineage.get("label_snapshot", ""))
    lines = [
        "## Changes since parent",
        "",
        f"Version {lineage['version']} (`{lineage['model_id']}`), retrained ({lineage['mode']} mode) on "
        f"{lineage['created_at']} from version {lineage['parent_version']} (`{lineage['parent_id']}`) "
        f"with the label store snapshot `{snapshot[:16]}` (new labels split by article: "
        f"{_rows(lineage.get('new_rows', {}))}) and a replay sample of the parent's data "
        f"({_rows(lineage.get('replay_rows', {}))}).",
        "",
        "Promotion gate (PR-AUC per label x language, new model vs parent): "
        + "; ".join(f"{title}: {verdict[key]['rule']}" for key, title in COMPARISONS if key in verdict)
        + f". Verdict: {'passed' if verdict.get('passed') else 'refused'}.",
    ]
    for key, title in COMPARISONS:
        if key in verdict:
            lines += [
                "",
                f"### {title}",
                "",
                *_table(verdict[key]),
                *_skipped(verdict[key].get("skipped", [])),
            ]
    return "\n".join(lines) + "\n"

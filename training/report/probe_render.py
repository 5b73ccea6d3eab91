"""The shortcut probe's Markdown section: :func:`render_probe_md` compares models' probe reports.

Reads the dicts :func:`.probe.probe_report` returns (one row per check, one column per model, then
the same per language); :data:`CHECKS` names the paths into those dicts it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .probe import ProbeError


def _fmt_rate(r: Mapping[str, Any] | None) -> str:
    if not r:
        return "–"
    if r["rate"] is None:
        return f"– (0/{r['n']})"
    return f"{100.0 * r['rate']:.1f} % ({r['flagged']}/{r['n']})"


def _fmt_verdict(passed: bool | None) -> str:
    return "–" if passed is None else ("pass" if passed else "**FAIL**")


def _get(section: Mapping[str, Any], *path: str) -> Any:
    node: Any = section
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


# (row title, target text, path into a section, kind of cell)
CHECKS: Final = (
    ("sincere emoji comments flagged mocking", "≤ 10 %", ("sincere_emoji", "mocking"), "rate"),
    ("sincere emoji comments flagged abusive", "", ("sincere_emoji", "abusive"), "rate"),
    ("sincere emoji comments flagged off_topic", "", ("sincere_emoji", "off_topic"), "rate"),
    ("mocking recall, no emoji", "", ("mocking", "recall_no_emoji"), "rate"),
    ("mocking recall, with emoji", "", ("mocking", "recall_emoji"), "rate"),
    ("mocking gap (with − without emoji)", "within ±10 pts", ("mocking", "gap_points"), "gap"),
    ("mocking pairs flagged only with emoji", "", ("mocking", "pairs"), "pairs"),
    ("abusive recall, insult in long polite text", "", ("abusive", "recall_insult_long"), "rate"),
    ("abusive flagged, long clean text", "", ("abusive", "flag_rate_clean_long"), "rate"),
    ("off_topic recall, spam without links", "", ("off_topic", "recall_spam_no_link"), "rate"),
    ("civil disagreement flagged (any label)", "", ("disagree_civil", "any"), "rate"),
)
TARGET_OF_CHECK: Final = {0: "sincere_emoji_mocking", 5: "mocking_emoji_gap"}
LANG_CHECKS: Final = (0, 3, 4, 5, 7, 9, 10)


def _cell(section: Mapping[str, Any], check: int) -> str:
    _, _, path, style = CHECKS[check]
    value = _get(section, *path)
    if style == "rate":
        return _fmt_rate(value)
    if style == "gap":
        return "–" if value is None else f"{value:+.1f} pts"
    return "–" if not value else f"{value['emoji_only']}/{value['n']}"


def _table(header: Sequence[str], body: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def _overall_rows(reports: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """check, target, then each model's overall cell (with its verdict on the two targeted checks)."""
    body = []
    for c, (title, target, _, _) in enumerate(CHECKS):
        cells = []
        for report in reports.values():
            cell = _cell(report["overall"], c)
            if c in TARGET_OF_CHECK:
                cell += " " + _fmt_verdict(report["targets"][TARGET_OF_CHECK[c]]["passed"])
            cells.append(cell)
        body.append([title, target, *cells])
    return body


def _lang_rows(reports: Mapping[str, Mapping[str, Any]], langs: Iterable[str]) -> list[list[str]]:
    """lang, check, then each model's cell for the :data:`LANG_CHECKS` of every language."""
    body = []
    for lang in langs:
        for c in LANG_CHECKS:
            cells = []
            for report in reports.values():
                section = report["by_lang"].get(lang, {})
                cell = _cell(section, c)
                if c in TARGET_OF_CHECK:
                    cell += " " + _fmt_verdict(_get(section, "targets", TARGET_OF_CHECK[c], "passed"))
                cells.append(cell)
            body.append([lang, CHECKS[c][0], *cells])
    return body


def render_probe_md(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown comparing models' :func:`.probe.probe_report` dicts: a row per check, a column per model."""
    if not reports:
        raise ProbeError("no reports to render; pass {model name: probe_report(...)}")
    names = list(reports)
    first = reports[names[0]]
    lines = [
        "## Shortcut probe",
        "",
        f"Counterfactual probe set (`probe/probe.jsonl`, {first['n']} hand-written comments in "
        f"{', '.join(first['by_lang'])}). Rate = share flagged at each model's thresholds, with "
        "(flagged/n). Gap = mocking recall with emoji minus without, in points. A model that flags "
        "nothing meets both targets: read them together with the recall rows.",
        "",
        *_table(["check", "target", *names], _overall_rows(reports)),
        "",
        "Targets met: " + ", ".join(f"{n} {_fmt_verdict(reports[n]['passed'])}" for n in names) + ".",
        "",
        "### Per language",
        "",
    ]
    lines += _table(["lang", "check", *names], _lang_rows(reports, first["by_lang"]))
    return "\n".join(lines) + "\n"

"""Toxic Spans (SemEval-2021 Task 5): English Civil Comments posts with toxic character offsets.

Raw files: ``SemEval2021/tsd_train.csv`` and ``SemEval2021/tsd_trial.csv`` (comma-separated, columns
``spans,text``; ``spans`` is a JSON list of character offsets such as ``"[8, 9, 10]"``; texts contain
quoted newlines). The official test split is held out of this copy and the ``raw/`` per-annotator files
are not used (PROVENANCE: they are a superset of the SemEval splits, test included).

Every post was pre-selected as toxic by a majority of Civil Comments raters; span annotators then marked
the toxic words (ground truth = offsets chosen by >= 2 of 3 raters). So the source never says "not toxic",
and "toxic" is wider than our ``abusive`` (it includes untargeted swearing). Mapping:

- ``abusive`` = **1** when the post has at least one toxic span that is not a bare expletive.
- ``abusive`` = **None** when the span list is empty: the post was still judged toxic by Civil Comments
  raters, but the span raters did not agree on any words (whole-post toxicity, or disagreement), so we
  cannot tell. Never 0: this dataset has no negatives; pair it with other sources for those.
- ``abusive`` = **None** when every span is only untargeted swearing from ``expletives`` ("damn",
  "crap", "shit", ...): LABELING.md says profanity not aimed at anyone is not abusive, and the spans
  alone cannot tell us whether it was aimed. Pass ``expletives=()`` to count those as 1.
- ``mocking``, ``off_topic``: None (not annotated).

Other fields: no post or article id in the files, so id = ``civil-toxic-spans:<split>:<sha1(text)[:12]>``
(texts are unique per split) and group = the id; no article context; lang ``en``; licence ``CC0-1.0``
(repository LICENSE).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    clean_comment,
    read_csv,
    short_hash,
)

SOURCE = "civil-toxic-spans"
LICENCE = "CC0-1.0"
SPLIT_FILES = {"train": "SemEval2021/tsd_train.csv", "trial": "SemEval2021/tsd_trial.csv"}
EXPLETIVES: frozenset[str] = frozenset(
    {
        "damn", "damned", "dammit", "damnit", "goddamn", "goddamned", "darn", "heck", "hell",
        "crap", "crappy", "shit", "shitty", "bullshit", "bs", "fuck", "fucking", "fuckin", "fucked",
        "freaking", "frigging", "friggin", "effing", "wtf", "suck", "sucks", "sucked",
    }
)  # fmt: skip
_WORD = re.compile(r"[a-z']+")


def parse_spans(cell: str, *, where: str) -> list[int]:
    """``"[1, 2, 3]"`` -> ``[1, 2, 3]``; :class:`ConverterError` if it is not a JSON list of ints."""
    try:
        spans = json.loads(cell) if cell.strip() else []
    except json.JSONDecodeError:
        raise ConverterError(f"{where}: spans must be a JSON list of offsets, found {cell[:60]!r}") from None
    if not isinstance(spans, list) or not all(isinstance(i, int) for i in spans):
        raise ConverterError(f"{where}: spans must be a JSON list of integer offsets, found {cell[:60]!r}")
    return spans


def span_segments(offsets: Sequence[int], text: str) -> list[str]:
    """The text pieces covered by runs of consecutive offsets (offsets outside the text are ignored)."""
    pieces: list[str] = []
    run: list[int] = []
    for i in sorted(set(o for o in offsets if 0 <= o < len(text))):
        if run and i != run[-1] + 1:
            pieces.append(text[run[0] : run[-1] + 1])
            run = []
        run.append(i)
    if run:
        pieces.append(text[run[0] : run[-1] + 1])
    return pieces


def abusive_from_spans(offsets: Sequence[int], raw_text: str, expletives: Collection[str]) -> LabelValue:
    """1 if some span is more than bare swearing, None if there are no spans or only swearing."""
    segments = [s for s in span_segments(offsets, raw_text) if s.strip()]
    if not segments:
        return None
    for segment in segments:
        words = _WORD.findall(segment.lower())
        if not words or not all(w.strip("'") in expletives for w in words):
            return 1
    return None


def convert(
    folder: Path,
    *,
    splits: Sequence[str] = ("train", "trial"),
    expletives: Collection[str] = EXPLETIVES,
) -> Iterator[CommentRecord]:
    """Records from the SemEval-2021 toxic-spans splits in ``folder``; see the module docstring."""
    unknown = [s for s in splits if s not in SPLIT_FILES]
    if unknown:
        raise ConverterError(f"unknown split(s) {unknown}; this copy has {sorted(SPLIT_FILES)}")
    expletive_set = frozenset(w.lower() for w in expletives)
    records = RecordMaker(SOURCE, LICENCE, "en", own_group=True)
    for split in splits:
        path = Path(folder) / SPLIT_FILES[split]
        for rowno, row in enumerate(read_csv(path, ("spans", "text")), 1):
            text = clean_comment(row["text"])
            if not text:
                continue
            # offsets index the raw text, so segments are cut from it before cleaning
            offsets = parse_spans(row["spans"], where=f"{path}: data row {rowno}")
            abusive = abusive_from_spans(offsets, row["text"], expletive_set)
            record = records.make(f"{SOURCE}:{split}:{short_hash(text)}", text, {"abusive": abusive})
            if record is not None:
                yield record

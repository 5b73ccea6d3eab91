"""Ukrainian/Russian/surzhyk abusive YouTube comments (Andrusyak et al., RASLAN 2018), ``labled.csv``.

Raw format: comma CSV, header ``id, video_id, author, text, abusive``; ``abusive`` is ``True``/``False``.
Texts are already lowercased with punctuation stripped (original casing and emoji are lost).

Mapping: abusive True -> abusive = 1, False -> 0. Caveat (PROVENANCE): labelling was partly
lexicon-driven, so some positives are profanity not aimed at anyone, which LABELING.md would not
call abusive; kept as the source says. mocking, off_topic: None (not annotated; the video titles
are not in the data, so off-topic cannot be judged).

Language: per comment, by script (PROVENANCE heuristic): a comment with Ukrainian-only letters
(і ї є ґ) and none of the Russian-only letters (ы э ъ ё) is ``uk``; everything else (Russian, surzhyk
with Russian letters, or neither marker) is ``ru``, since most of the data is Russian or mixed.
``lang="uk"``/``"ru"`` forces one code for every row.

group = the YouTube ``video_id`` (comments under one video share a split); id = the YouTube comment id;
no article context (only the video id is known). licence ``unknown`` (no licence anywhere in the repo).

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord
from ._common import ConverterError, RecordMaker, clean_comment, read_csv
from ._dedup import merged

SOURCE = "ua-surzhyk-abusive-youtube"
LICENCE = "unknown"
FILE = "labled.csv"
_UK_ONLY = frozenset("іїєґ")
_RU_ONLY = frozenset("ыэъё")
_BOOL = {"true": 1, "false": 0, "1": 1, "0": 0}


def guess_lang(text: str) -> str:
    """``uk`` when the text has Ukrainian-only letters and no Russian-only ones, else ``ru``."""
    letters = set(text.lower())
    if letters & _UK_ONLY and not letters & _RU_ONLY:
        return "uk"
    return "ru"


@merged
def convert(folder: Path, *, lang: str | None = None) -> Iterator[CommentRecord]:
    """Records from ``folder/labled.csv`` (one per non-empty comment)."""
    path = Path(folder) / FILE
    records = RecordMaker(SOURCE, LICENCE)
    for n, row in enumerate(read_csv(path, ("id", "video_id", "text", "abusive")), start=1):
        text = clean_comment(row["text"])
        if not text:
            continue
        raw_label = row["abusive"].strip().lower()
        if raw_label not in _BOOL:
            raise ConverterError(f"{path} row {n}: abusive is {row['abusive']!r}; expected True or False")
        record = records.make(
            row["id"].strip(),
            text,
            {"abusive": _BOOL[raw_label]},
            lang=lang or guess_lang(text),
            group=f"{SOURCE}:video:{row['video_id'].strip()}",
        )
        if record is not None:
            yield record

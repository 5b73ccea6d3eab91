"""ROFF: Romanian offensive tweets (OLID scheme), ``OLID_ROFF.tsv``.

Raw format: tab-separated, header ``Tweet, Offensive, Targeted, Target``; tags NOT/OFF, NULL/UNT/TIN,
NULL/IND/GRP/OTH. ``OLID_ROFF.tsv`` is used, not ``ROFF.tsv``: the numeric file collapses UNT into 0
(PROVENANCE caveat).

Mapping (LABELING.md: abusive = attacks on people; profanity not aimed at anyone is *not* abusive):

- ``OFF`` + ``TIN`` (targeted insult/threat at an individual, group or other) -> abusive = 1
- ``OFF`` + ``UNT`` (untargeted profanity/swearing) -> abusive = ``untargeted`` (default 0, as the
  guide says untargeted profanity is not abusive; pass ``untargeted=None`` to mask these rows' label
  instead, or 1 for the plain OLID "offensive" reading)
- ``NOT`` -> abusive = 0
- mocking, off_topic: None (not annotated).

Text: the tweets carry literal ``\\n`` and ``\\"`` escapes and a few HTML entities from scraping;
``unescape=True`` turns them back into a newline, a quote and the character. @mentions are kept.
No thread/article: no context, ``group`` is the record's own id (the default). lang ``ro``;
licence ``unknown`` (no licence stated anywhere in the repository).

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    clean_comment,
    read_csv,
    short_hash,
)
from ._dedup import merged

SOURCE = "roff"
LICENCE = "unknown"
FILE = "OLID_ROFF.tsv"


def _unescape(text: str) -> str:
    return html.unescape(text.replace("\\n", "\n").replace('\\"', '"'))


def abusive_label(offensive: str, targeted: str, *, untargeted: LabelValue, where: str) -> LabelValue:
    """OLID level A/B tags -> abusive (see module docstring)."""
    off, tgt = offensive.strip().upper(), targeted.strip().upper()
    if off == "NOT":
        return 0
    if off == "OFF" and tgt == "TIN":
        return 1
    if off == "OFF" and tgt == "UNT":
        return untargeted
    raise ConverterError(f"{where}: unexpected OLID tags Offensive={offensive!r} Targeted={targeted!r}")


@merged
def convert(folder: Path, *, untargeted: LabelValue = 0, unescape: bool = True) -> Iterator[CommentRecord]:
    """Records from ``folder/OLID_ROFF.tsv`` (id = hash of the text)."""
    path = Path(folder) / FILE
    records = RecordMaker(SOURCE, LICENCE, "ro")
    rows = read_csv(path, ("Tweet", "Offensive", "Targeted"), delimiter="\t")
    for n, row in enumerate(rows, start=2):
        raw = _unescape(row["Tweet"]) if unescape else row["Tweet"]
        text = clean_comment(raw)
        if not text:
            continue
        abusive = abusive_label(row["Offensive"], row["Targeted"], untargeted=untargeted, where=f"{path}:{n}")
        yield records.record(short_hash(text), text, {"abusive": abusive})

"""UCC, the Unhealthy Comments Corpus (Globe and Mail comments from SOCC), ``val.csv`` (+ others if present).

Raw format: comma CSV, header ``_unit_id, _trusted_judgments, comment`` then, per attribute, a 0/1
column and a ``<attribute>:confidence`` column (CrowdFlower aggregate: the share of trust-weighted
annotators behind that 0/1 answer). Attributes: antagonize, condescending, dismissive, generalisation,
generalisation_unfair, healthy, hostile, sarcastic. Only ``val.csv`` is here (train.csv was not
obtainable, test.csv is held out); whichever of ``files`` exist are read.

Per attribute, a value is *sure* when its confidence is at least ``min_confidence`` (default 0.55,
which drops near ties). Each label is a three-valued OR over its source attributes:
1 if any source attribute is surely 1; 0 if all are surely 0 and no "unsure" attribute is 1 (at
any confidence); else None.

- abusive <- ``hostile`` (harsh, aggressive, insulting, threatening) or ``antagonize`` (insulting,
  provocative, trolling; the positives are mostly name-calling: "nut jobs like you", "you're just a
  troll"). Unsure: ``generalisation_unfair`` (sweeping claims about a group can be dehumanising or
  merely crude), so such a comment gets None unless hostile/antagonize says 1.
- mocking <- ``sarcastic`` or ``condescending`` (patronising put-downs such as "maybe you should become
  a pollster and be wrong like all the rest of them" are derision in LABELING.md's sense). Unsure:
  ``dismissive`` ("what planet do you live on?" belittles, but plain brush-offs do not mock).
- off_topic: None (not annotated). The comments' articles are not in this file: no context.

All attribute lists and the threshold are parameters. group = the record's own id (no thread or
article id in the file); id = ``_unit_id``. lang ``en``; licence ``CC-BY-NC-SA-4.0``.

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    any_label,
    binary,
    clean_comment,
    read_csv,
)
from ._dedup import merged

SOURCE = "ucc-unhealthy"
LICENCE = "CC-BY-NC-SA-4.0"
FILES = ("train.csv", "val.csv", "test.csv")


def attribute_value(row: Mapping[str, str], name: str, *, min_confidence: float, where: str) -> LabelValue:
    """The 0/1 answer for ``name``, or None when its confidence is below ``min_confidence``."""
    value = binary(row[name], where=f"{where} {name}")
    raw = row.get(f"{name}:confidence", "").strip()
    try:
        confidence = float(raw) if raw else 1.0
    except ValueError:
        raise ConverterError(f"{where}: {name}:confidence is {raw!r}, not a number") from None
    return value if confidence >= min_confidence else None


def combine(
    row: Mapping[str, str],
    sources: Sequence[str],
    unsure: Sequence[str],
    *,
    min_confidence: float,
    where: str,
) -> LabelValue:
    """Three-valued OR of ``sources``; a positive ``unsure`` attribute turns a 0 into None."""
    label = any_label(attribute_value(row, a, min_confidence=min_confidence, where=where) for a in sources)
    if label == 0 and any(binary(row[a], where=f"{where} {a}") == 1 for a in unsure):
        return None
    return label


@merged
def convert(
    folder: Path,
    *,
    files: Sequence[str] = FILES,
    min_confidence: float = 0.55,
    abusive_from: Sequence[str] = ("hostile", "antagonize"),
    abusive_unsure: Sequence[str] = ("generalisation_unfair",),
    mocking_from: Sequence[str] = ("sarcastic", "condescending"),
    mocking_unsure: Sequence[str] = ("dismissive",),
) -> Iterator[CommentRecord]:
    """Records from the UCC split files present in ``folder`` (one per comment)."""
    folder = Path(folder)
    present = [name for name in files if (folder / name).is_file()]
    if not present:
        raise ConverterError(f"none of {list(files)} found in {folder}; is this the ucc-unhealthy folder?")
    attributes = (*abusive_from, *abusive_unsure, *mocking_from, *mocking_unsure)
    records = RecordMaker(SOURCE, LICENCE, "en")
    for name in present:
        path = folder / name
        for n, row in enumerate(read_csv(path, ("_unit_id", "comment", *attributes)), start=1):
            text = clean_comment(row["comment"])
            if not text:
                continue
            rid = records.new_id(row["_unit_id"].strip(), text)
            if rid is None:
                continue
            where = f"{path} row {n}"
            labels = {
                "abusive": combine(
                    row, abusive_from, abusive_unsure, min_confidence=min_confidence, where=where
                ),
                "mocking": combine(
                    row, mocking_from, mocking_unsure, min_confidence=min_confidence, where=where
                ),
            }
            yield records.record(rid, text, labels)

"""SFU Constructiveness and Toxicity Corpus: Globe and Mail opinion-article comments.

Raw format: ``SFU_constructiveness_toxicity.csv`` (comma CSV, CrowdFlower export, quoted newlines).
Columns used: ``_unit_id``, ``comment``, ``title``, ``globe_url``/``url``, ``is_toxic_popular_answer_1``
(1..4) and ``is_toxic:confidence_answer1``.

Toxicity scale: the crowd answered "How toxic is the comment?" with Very toxic / Toxic / Mildly toxic /
Not toxic; stored as 1..4 with 1 = Not toxic ... 4 = Very toxic (not stated in the README; the counts
902/177/35/7 only fit that order).

Mapping -> abusive (LABELING.md: attacks on people; sharp criticism is not abusive):

- level >= ``abusive_min_level`` (default 3: Toxic, Very toxic) -> abusive = 1
- level <= ``clean_max_level`` (default 1: Not toxic) -> abusive = 0
- in between (Mildly toxic: snark such as "Another load of tosh from a GTA Liberal") -> None
- a popular answer with confidence below ``min_confidence`` (default 0: keep all) -> None
- mocking: None. off_topic: None. PROVENANCE suggests "not constructive" as a weak off-topic proxy,
  but the guide says general reactions and unhelpful comments are *not* off-topic, so it is not used.

Context: each comment carries its article's title (the " - The Globe and Mail" suffix removed);
the article body is not in the data, so article_text = None. group = the article (so all comments of
one article share a split); id = ``_unit_id``. lang ``en``; licence ``CC-BY-NC-SA-4.0``.

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    clean_comment,
    clean_optional,
    parse_int,
    read_csv,
    short_hash,
)
from ._dedup import merged

SOURCE = "sfu-ctc"
LICENCE = "CC-BY-NC-SA-4.0"
FILE = "SFU_constructiveness_toxicity.csv"
TITLE_SUFFIX = " - The Globe and Mail"


def toxicity_label(
    level: int, confidence: float, *, abusive_min_level: int, clean_max_level: int, min_confidence: float
) -> LabelValue:
    """Toxicity level 1..4 (1 = not toxic) -> abusive 1/0/None (see module docstring)."""
    if confidence < min_confidence:
        return None
    if level >= abusive_min_level:
        return 1
    if level <= clean_max_level:
        return 0
    return None


def _title(raw: str) -> str | None:
    title = clean_optional(raw)
    if title and title.endswith(TITLE_SUFFIX):
        title = title[: -len(TITLE_SUFFIX)].strip() or None
    return title


@merged
def convert(
    folder: Path,
    *,
    abusive_min_level: int = 3,
    clean_max_level: int = 1,
    min_confidence: float = 0.0,
) -> Iterator[CommentRecord]:
    """Records from ``folder/SFU_constructiveness_toxicity.csv`` (one per comment)."""
    if not 1 <= clean_max_level < abusive_min_level <= 4:
        raise ValueError(
            f"need 1 <= clean_max_level ({clean_max_level}) < abusive_min_level ({abusive_min_level}) <= 4"
        )
    path = Path(folder) / FILE
    records = RecordMaker(SOURCE, LICENCE, "en")
    columns = ("_unit_id", "comment", "title", "is_toxic_popular_answer_1")
    for n, row in enumerate(read_csv(path, columns), start=1):
        text = clean_comment(row["comment"])
        if not text:
            continue
        where = f"{path} row {n}"
        level = parse_int(row["is_toxic_popular_answer_1"], where=where)
        if not 1 <= level <= 4:
            raise ConverterError(f"{where}: is_toxic_popular_answer_1 is {level}; expected 1..4")
        conf_raw = row.get("is_toxic:confidence_answer1", "").strip()
        try:
            confidence = float(conf_raw) if conf_raw else 1.0
        except ValueError:
            raise ConverterError(
                f"{where}: is_toxic:confidence_answer1 is {conf_raw!r}, not a number"
            ) from None
        title = _title(row["title"])
        article = (row.get("globe_url") or row.get("url") or title or "").strip()
        abusive = toxicity_label(
            level,
            confidence,
            abusive_min_level=abusive_min_level,
            clean_max_level=clean_max_level,
            min_confidence=min_confidence,
        )
        record = records.make(
            row["_unit_id"].strip(),
            text,
            {"abusive": abusive},
            article_title=title,
            group=f"{SOURCE}:article{short_hash(article)}",
        )
        if record is not None:
            yield record

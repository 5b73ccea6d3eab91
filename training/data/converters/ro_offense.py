"""RO-Offense: Romanian reader comments from the sports news site gsp.ro, 4-class offensive labels.

Raw file: ``train.csv`` (comma-separated, standard quoting, CRLF rows, quoted newlines; columns
``id, text, label``). The official test split is held out of this copy; the ``*_ner.csv`` variants
(named entities masked) are not used.

Label schema (GermEval style): ``OTHER`` (non-offensive), ``PROFANITY`` (curse words not directed at a
person or group), ``INSULT`` (targeted contempt), ``ABUSE`` (threats, dehumanising, racist/homophobic...).

Mapping:

- ``INSULT``, ``ABUSE`` -> ``abusive`` 1.
- ``PROFANITY`` -> ``abusive`` ``profanity_as`` (default **1**, as the project brief decided: all three
  offensive classes count as abusive). Note that LABELING.md says profanity not aimed at anyone is *not*
  abusive, which is exactly this class's definition; pass ``profanity_as=0`` to follow the guide
  strictly, or ``None`` to leave it out of the abusive loss.
- ``OTHER`` -> ``abusive`` 0.
- ``mocking``, ``off_topic``: None (not annotated).

Dropped: rows with empty text, exact repeats of an (id, text) pair (one id appears twice in the file,
once as mojibake; text cleaning repairs the mojibake so the copies coincide).

Other fields: id = ``ro-offense:<id>``; no thread/article ids in the file, so group = the id and there
is no context; lang ``ro``; licence ``Apache-2.0`` (repository LICENSE and HF card).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import ConverterError, RecordMaker, check_label_param, clean_comment, read_csv

SOURCE = "ro-offense"
LICENCE = "Apache-2.0"
FILE_NAME = "train.csv"
OFFENSE_CLASSES = ("OTHER", "PROFANITY", "INSULT", "ABUSE")


def abusive_from_class(label: str, *, profanity_as: LabelValue, where: str) -> LabelValue:
    """``abusive`` for a GermEval-style class (OTHER/PROFANITY/INSULT/ABUSE, case-insensitive)."""
    name = label.strip().upper()
    if name not in OFFENSE_CLASSES:
        raise ConverterError(f"{where}: label is {label!r}; expected one of {OFFENSE_CLASSES}")
    if name == "OTHER":
        return 0
    if name == "PROFANITY":
        return profanity_as
    return 1


def offense_rows(
    path: Path, key_column: str, profanity_as: LabelValue
) -> Iterator[tuple[int, dict[str, str], str, LabelValue]]:
    """``(row number, row, cleaned text, abusive)`` of a GermEval-style CSV with ``key_column``,
    ``text`` and ``label`` columns (RO-Offense, FB-RO-Offense); rows with empty text are skipped.
    """
    check_label_param("profanity_as", profanity_as, (1, 0, None))
    for rowno, row in enumerate(read_csv(path, (key_column, "text", "label")), 1):
        text = clean_comment(row["text"])
        if text:
            where = f"{path}: data row {rowno}"
            yield rowno, row, text, abusive_from_class(row["label"], profanity_as=profanity_as, where=where)


def convert(folder: Path, *, profanity_as: LabelValue = 1) -> Iterator[CommentRecord]:
    """Records from ``folder/train.csv``; see the module docstring for the mapping."""
    records = RecordMaker(SOURCE, LICENCE, "ro", own_group=True)
    for rowno, row, text, abusive in offense_rows(Path(folder) / FILE_NAME, "id", profanity_as):
        record = records.make(f"{SOURCE}:{row['id'].strip() or f'row{rowno}'}", text, {"abusive": abusive})
        if record is not None:
            yield record

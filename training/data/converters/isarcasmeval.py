"""iSarcasmEval (SemEval-2022 Task 6): English and Arabic tweets with author-provided sarcasm labels.

Raw files (comma-separated, standard quoting):

- ``train/train.En.csv``: unnamed index column, ``tweet``, ``sarcastic`` (0/1, by the tweet's author),
  ``rephrase`` (the author's non-sarcastic rewording), and for sarcastic tweets the expert category flags
  ``sarcasm, irony, satire, understatement, overstatement, rhetorical_question`` (empty otherwise).
- ``train/train.Ar.csv``: ``id, text, sarcastic, rephrase, dialect`` (no category flags).

The official test files are held out of this copy.

Mapping (only ``mocking``; ``abusive`` and ``off_topic`` are None: not annotated, and tweets have no
article):

- ``sarcastic`` = 0 -> ``mocking`` 0. (Non-sarcastic tweets can in principle still taunt someone;
  we accept that small noise.)
- English ``sarcastic`` = 1 with an expert category in ``mocking_categories`` (default ``sarcasm`` =
  "critical towards an addressee", ``satire`` = "underlying disagreement and mocking") -> 1.
- English ``sarcastic`` = 1 with only other categories (``irony``, ``understatement``,
  ``overstatement``, ``rhetorical_question``) -> **None**: LABELING.md says irony about a situation with
  no one to ridicule is not mocking, and these categories do not say whether anyone is targeted.
- ``sarcastic`` = 1 without any category (all Arabic rows) -> ``uncategorised_sarcastic_as`` (default 1).
- Optional ``include_rephrases=True`` adds each author rephrase as an extra record with ``mocking`` 0
  (a hard negative; same group as its tweet so the pair never straddles a split). Off by default.

Dropped: rows with empty text. ``dialect`` is not kept (no field for it).

Other fields: id = ``isarcasmeval:en:<index>`` / ``isarcasmeval:ar:<id>``; group = the id (tweets have
no thread); lang ``en`` / ``ar``; licence ``MIT`` (repository LICENSE).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    binary,
    check_label_param,
    clean_comment,
    read_csv,
)

SOURCE = "isarcasmeval"
LICENCE = "MIT"
CATEGORIES = ("sarcasm", "irony", "satire", "understatement", "overstatement", "rhetorical_question")
# lang -> (file, id column, text column)
FILES = {
    "en": ("train/train.En.csv", "", "tweet"),
    "ar": ("train/train.Ar.csv", "id", "text"),
}


def mocking_label(
    sarcastic: int,
    categories: Collection[str],
    mocking_categories: Collection[str],
    uncategorised_sarcastic_as: LabelValue,
) -> LabelValue:
    """``mocking`` from the author's sarcasm flag and the expert categories set on the row."""
    if not sarcastic:
        return 0
    if not categories:
        return uncategorised_sarcastic_as
    return 1 if any(c in mocking_categories for c in categories) else None


def convert(
    folder: Path,
    *,
    langs: Sequence[str] = ("en", "ar"),
    mocking_categories: Collection[str] = ("sarcasm", "satire"),
    uncategorised_sarcastic_as: LabelValue = 1,
    include_rephrases: bool = False,
) -> Iterator[CommentRecord]:
    """Records from the iSarcasmEval training files in ``folder``; see the module docstring."""
    if bad_langs := [x for x in langs if x not in FILES]:
        raise ConverterError(f"unknown lang(s) {bad_langs}; this dataset has {sorted(FILES)}")
    if bad_cats := [x for x in mocking_categories if x not in CATEGORIES]:
        raise ConverterError(f"unknown category(ies) {bad_cats}; the expert categories are {CATEGORIES}")
    check_label_param("uncategorised_sarcastic_as", uncategorised_sarcastic_as, (1, 0, None))
    records = RecordMaker(SOURCE, LICENCE, own_group=True)
    for lang in langs:
        file_name, id_col, text_col = FILES[lang]
        path = Path(folder) / file_name
        for rowno, row in enumerate(read_csv(path, (text_col, "sarcastic")), 1):
            text = clean_comment(row[text_col])
            if not text:
                continue
            where = f"{path}: data row {rowno}"
            sarcastic = binary(row["sarcastic"], where=f"{where} sarcastic")
            categories = [c for c in CATEGORIES if row.get(c, "").strip() and binary(row[c], where=where)]
            base = f"{SOURCE}:{lang}:{row.get(id_col, '').strip() or rowno}"
            mocking = mocking_label(sarcastic, categories, mocking_categories, uncategorised_sarcastic_as)
            record = records.make(base, text, {"mocking": mocking}, lang=lang)
            if record is None:
                continue
            yield record
            rephrase = clean_comment(row.get("rephrase"))
            if include_rephrases and sarcastic and rephrase and rephrase != text:
                yield records.record(
                    f"{record.id}:rephrase", rephrase, {"mocking": 0}, lang=lang, group=record.id
                )

"""Russian Language Toxic Comments (2ch.hk + pikabu.ru), re-split copy: ``train.csv``, ``val.csv``.

Raw format: comma CSV, header ``comment,labels``; ``labels`` 0 = non-toxic, 1 = toxic; texts often end
in a newline inside the quoted field (stripped). ``test.csv`` is held out and absent here; any of
``files`` that is missing is skipped with a warning, but at least one must exist.

Mapping: toxic -> abusive = 1, non-toxic -> abusive = 0. The Kaggle "toxic" label is insults, obscene
attacks and hate, which is the guide's *abusive*; known noise: some political statements are marked
toxic. mocking, off_topic: None (not annotated).

ids are a hash of the text (the rows have no id; the source's train/val split is not kept: the split
is the catalog's job). No thread/article: no context,
group = the record's own id. lang ``ru``; licence ``unknown`` (no licence in the repository; Kaggle
terms not verified).

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from ....model.record import CommentRecord
from ._common import (
    ConverterError,
    RecordMaker,
    binary,
    clean_comment,
    read_csv,
    short_hash,
)
from ._dedup import merged

SOURCE = "ru-toxic-2ch-pikabu"
LICENCE = "unknown"
FILES = ("train.csv", "val.csv", "test.csv")

log = logging.getLogger(__name__)


@merged
def convert(folder: Path, *, files: Sequence[str] = FILES) -> Iterator[CommentRecord]:
    """Records from the split files present in ``folder`` (one per distinct comment)."""
    folder = Path(folder)
    present = [name for name in files if (folder / name).is_file()]
    if not present:
        raise ConverterError(
            f"none of {list(files)} found in {folder}; is this the ru-toxic-2ch-pikabu folder?"
        )
    for name in files:
        if name not in present and name != "test.csv":
            log.warning("%s: %s not found, skipped", SOURCE, folder / name)
    records = RecordMaker(SOURCE, LICENCE, "ru")
    for name in present:
        path = folder / name
        for n, row in enumerate(read_csv(path, ("comment", "labels")), start=1):
            text = clean_comment(row["comment"])
            if not text:
                continue
            abusive = binary(row["labels"], where=f"{path} row {n}")
            yield records.record(short_hash(text), text, {"abusive": abusive})

"""SemEval-2018 Task 3: irony in English tweets, ``SemEval2018-T3-train-taskB_emoji.txt``.

Raw format: tab-separated ``Tweet Index<TAB>Label<TAB>Tweet text`` with a header line, read with
``csv.QUOTE_NONE`` (tweets contain unbalanced quotes; default quoting merges lines). The ``_emoji``
flavour keeps the original emoji (the non-emoji files spell them out as ``:face_with_tears_of_joy:``).
Task B labels: 0 = not ironic, 1 = verbal irony by polarity clash, 2 = situational irony,
3 = other verbal irony (task A is just B > 0, so task B is used).

Mapping -> mocking (LABELING.md: sarcasm, mock praise, derision of someone = yes; "irony about a
situation with no one to ridicule" = no):

- 1 (polarity clash: says the opposite of what it means; the task paper notes it is mostly sarcasm)
  -> mocking = ``clash`` (default 1)
- 2 (situational irony: the world is ironic, nobody is ridiculed) -> mocking = ``situational``
  (default 0, as the guide's umbrella example)
- 3 (other verbal irony: hyperbole, understatement, rhetorical questions; sometimes derisive,
  sometimes not) -> mocking = ``other`` (default None: unsure)
- 0 (not ironic; mostly background tweets from the same users) -> mocking = ``not_ironic``
  (default 0; a non-ironic tweet can still jeer at someone, a small known noise)
- abusive, off_topic: None (not annotated).

Irony hashtags (#not, #sarcasm) were removed by the organisers, so they leak no label. Tweets have
no thread: group = the record's own id; id = the tweet index. lang ``en``; licence ``research-only``:
the README says CC BY-NC-SA 4.0 but also that the data are "exclusively reserved for the
participants ... for academic purposes only" and must not be redistributed (Twitter ToS); the
stricter reading is used.

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    clean_comment,
    parse_int,
    require_file,
)
from ._dedup import merged

SOURCE = "semeval2018-irony"
LICENCE = "research-only"
FILE = "SemEval2018-T3-train-taskB_emoji.txt"


def read_semeval_tsv(path: Path) -> Iterator[tuple[int, str, str, str]]:
    """``(line number, index, label, text)`` rows of a SemEval-2018 T3 file (QUOTE_NONE, header skipped)."""
    require_file(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["tweet index", "label"]:
            raise ConverterError(
                f"{path}: header is {header!r}; expected 'Tweet index<TAB>Label<TAB>Tweet text'"
            )
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) < 3:
                raise ConverterError(
                    f"{path}:{reader.line_num}: expected 3 tab-separated fields, got {row!r}"
                )
            # a tab inside the tweet would split it: join the rest back
            yield reader.line_num, row[0].strip(), row[1].strip(), "\t".join(row[2:])


@merged
def convert(
    folder: Path,
    *,
    file: str = FILE,
    not_ironic: LabelValue = 0,
    clash: LabelValue = 1,
    situational: LabelValue = 0,
    other: LabelValue = None,
) -> Iterator[CommentRecord]:
    """Records from the task-B file in ``folder`` (one per tweet)."""
    path = Path(folder) / file
    mapping: dict[int, LabelValue] = {0: not_ironic, 1: clash, 2: situational, 3: other}
    records = RecordMaker(SOURCE, LICENCE, "en")
    for line, index, label, raw in read_semeval_tsv(path):
        klass = parse_int(label, where=f"{path}:{line}")
        if klass not in mapping:
            raise ConverterError(f"{path}:{line}: label {klass} is not a task-B class 0-3")
        text = clean_comment(raw)
        if not text:
            continue
        record = records.make(index, text, {"mocking": mapping[klass]})
        if record is not None:
            yield record

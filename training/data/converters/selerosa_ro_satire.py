"""SeLeRoSa: sentence-level Romanian satire detection (sentences of news articles), ``selerosa.csv``.

Raw format: comma CSV, header ``index, news_id, sentence, domain, label_0, label_1, label_2, label,
split``; ``label_0..2`` are three annotators' votes (1 = satirical), ``label`` their majority.

Mapping -> mocking. LABELING.md's *mocking* is ridicule/derision of someone (sarcasm, mock praise,
caricature); a joke that targets no one is not mocking. Satirical news sentences (Times New
Roman style) almost always ridicule a person, party or institution by caricature and mock
seriousness, so a satirical sentence is taken as mocking = 1 and a regular news sentence as
mocking = 0. This is a *weak, auxiliary* signal: journalistic register, not reader comments, and a
few satirical sentences only set up a joke. To keep it clean the default needs all three annotators
to agree (``positive_min_votes=3``, ``negative_max_votes=0``); split votes give mocking = None.
``positive_min_votes=2, negative_max_votes=1`` reproduces the published majority ``label``.
abusive, off_topic: None (not annotated).

Context: the sentences *are* article text, so there is no separate article; article_title/text stay
None. group = ``news_id`` (sentences of one article stay in one split). id = the ``index`` column.
Named-entity placeholders (``<PERSON>``, ``<ORG>``...) and ``@URL`` are kept as the dataset has them.
lang ``ro``; licence ``CC-BY-NC-SA-4.0`` (dataset; the MIT licence covers only the code).

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord
from ._common import RecordMaker, binary, clean_comment, read_csv, vote_label
from ._dedup import merged

SOURCE = "selerosa-ro-satire"
LICENCE = "CC-BY-NC-SA-4.0"
FILE = "selerosa.csv"
VOTES = ("label_0", "label_1", "label_2")


@merged
def convert(
    folder: Path, *, positive_min_votes: int = 3, negative_max_votes: int = 0
) -> Iterator[CommentRecord]:
    """Records from ``folder/selerosa.csv`` (one per sentence)."""
    path = Path(folder) / FILE
    records = RecordMaker(SOURCE, LICENCE, "ro")
    for n, row in enumerate(read_csv(path, ("index", "news_id", "sentence", *VOTES)), start=1):
        text = clean_comment(row["sentence"])
        if not text:
            continue
        votes = sum(binary(row[col], where=f"{path} row {n} {col}") for col in VOTES)
        mocking = vote_label(
            votes, positive_min_votes=positive_min_votes, negative_max_votes=negative_max_votes
        )
        yield records.record(
            row["index"].strip(), text, {"mocking": mocking}, group=f"{SOURCE}:news{row['news_id'].strip()}"
        )

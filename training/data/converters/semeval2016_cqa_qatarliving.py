"""SemEval-2016 Task 3 CQA (Qatar Living forum): comments judged against the question they answer.

Raw format: ``derived_relq_comment_pairs.csv`` (comma CSV, one row per comment, flattened from the
official XML; only train-part2 is here, the dev set is held out). Columns used: ``RELQ_ID``,
``RelQSubject``, ``RelQBody``, ``RELC_ID``, ``RelCText``, ``RELC_RELEVANCE2RELQ``
(Good / PotentiallyUseful / Bad, crowd-judged relevance of the comment to *its own* question).

Mapping -> off_topic, with the question as the "article": article_title = question subject,
article_text = question body (None when empty).

- ``Good`` (answers the question) -> off_topic = 0.
- ``PotentiallyUseful`` (useful information on the question's subject) -> off_topic =
  ``potentially_useful``, default 0: LABELING.md says tangents that stay with the subject are on topic.
- ``Bad`` -> off_topic = ``bad``, default **None**. The official definition of Bad is "no useful
  information": another question, thanks, dialogue with another user, a joke, irony, an attack,
  non-English. Most of that is on topic by LABELING.md ("thanks", general reactions, follow-up
  questions and chat about the question's subject are *not* off-topic); in a random sample of
  Bad comments only about one in ten was about something else. Writing 1 would teach the model that
  "thanks mate" is off-topic, so Bad is masked by default. ``bad=1`` uses it as the (noisy)
  relevance proxy instead.
- abusive, mocking: None (Bad includes "irony, attack of other users", but they are not singled out).

Data fixes: the release replaced every comma by ``;``; ``restore_commas`` (default on) turns ``;``
back into ``,`` in question and comment. A related question recurs under several original questions
(same thread, different ``RELQ_ID``): rows are de-duplicated on (subject, body, comment) and the
group is a hash of the question subject+body, so one thread never straddles splits; id = the first
``RELC_ID`` seen. lang ``en``; licence ``research-only`` (official README: "free for general research
use"; commercial use not addressed).

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
    read_csv,
    short_hash,
)
from ._dedup import merged

SOURCE = "semeval2016-cqa-qatarliving"
LICENCE = "research-only"
FILE = "derived_relq_comment_pairs.csv"
COLUMNS = ("RELQ_ID", "RelQSubject", "RelQBody", "RELC_ID", "RelCText", "RELC_RELEVANCE2RELQ")


def _fix(text: str, restore_commas: bool) -> str:
    return text.replace(";", ",") if restore_commas else text


@merged
def convert(
    folder: Path,
    *,
    bad: LabelValue = None,
    potentially_useful: LabelValue = 0,
    restore_commas: bool = True,
) -> Iterator[CommentRecord]:
    """Records from ``folder/derived_relq_comment_pairs.csv`` (one per distinct question+comment)."""
    path = Path(folder) / FILE
    mapping: dict[str, LabelValue] = {"Good": 0, "PotentiallyUseful": potentially_useful, "Bad": bad}
    seen: set[tuple[str, str, str]] = set()
    records = RecordMaker(SOURCE, LICENCE, "en")
    for n, row in enumerate(read_csv(path, COLUMNS), start=1):
        relevance = row["RELC_RELEVANCE2RELQ"].strip()
        if relevance not in mapping:
            raise ConverterError(
                f"{path} row {n}: RELC_RELEVANCE2RELQ is {relevance!r}; expected one of {sorted(mapping)}"
            )
        text = clean_comment(_fix(row["RelCText"], restore_commas))
        title = clean_optional(_fix(row["RelQSubject"], restore_commas))
        body = clean_optional(_fix(row["RelQBody"], restore_commas))
        key = (title or "", body or "", text)
        if not text or key in seen:
            continue
        seen.add(key)
        yield records.record(
            row["RELC_ID"].strip(),
            text,
            {"off_topic": mapping[relevance]},
            article_title=title,
            article_text=body,
            group=f"{SOURCE}:q{short_hash(key[0], key[1])}",
        )

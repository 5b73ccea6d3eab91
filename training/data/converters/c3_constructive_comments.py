"""C3, the Constructive Comments Corpus (English Globe and Mail comments, crowd vote counts).

Raw file: ``C3_anonymized.csv`` (comma-separated, standard quoting, CRLF rows; the characteristic
cells hold newline-separated ``name:votes`` pairs such as ``"sarcastic:2\\nno_non_con:3"``).

The characteristics are vote counts from two crowd experiments, not gold labels:
``non_constructive_characteristics`` come from the constructiveness experiment
(``njudgements_constructiveness_expt`` judges, mostly 5), ``toxicity_characteristics`` from the
toxicity experiment (``njudgements_toxicity_expt`` judges, mostly 5, sometimes 3). Each
characteristic's votes become a three-valued label: **1** when votes >= ``positive_min_votes``
(default 2, the threshold PROVENANCE suggests), **0** when votes <= ``negative_max_votes``
(default 0: no judge chose it), **None** in between (a lone vote is too weak to call either way;
set ``negative_max_votes=1`` to read it as 0). Several characteristics feeding one label are OR-ed
(1 if any is 1, 0 if all are 0, else None).

Mapping:

- ``off_topic`` <- ``non_relevant`` (non-constructive characteristic "not relevant to the article").
- ``mocking``   <- ``sarcastic`` (non-constructive) OR ``teasing`` (toxicity).
- ``abusive``   <- ``personal_attack`` OR ``abusive`` (toxicity). Not used: ``inflammatory``,
  ``provocative``, ``embarrassment``, ``no_respect`` (provocation/disrespect of views is not a personal
  attack under LABELING.md), and ``crowd_toxicity_level`` (a scalar mix of all toxicity kinds).
- A label whose experiment has no judges recorded for the row is None.

Dropped: rows with empty text. ``crowd_discard`` votes are ignored (few rows, and the text is still a real
comment). ``pp_comment_text`` (tokenised copy) is not used; ``comment_text`` is.

Other fields: id = ``comment_counter`` (e.g. ``source1_26023945_62``), group = ``article_id``
(the article itself is not in the file, so ``article_title``/``article_text`` are None), lang = ``en``.
Licence: not stated by the mirror or README_C3 -> ``unknown`` (check the Kaggle/SFU terms before
commercial use).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    any_label,
    clean_comment,
    parse_int,
    read_csv,
    vote_label,
)

SOURCE = "c3-constructive-comments"
LICENCE = "unknown"
FILE_NAME = "C3_anonymized.csv"
NONCON = "non_constructive_characteristics"
TOXIC = "toxicity_characteristics"
REQUIRED = ("article_id", "comment_counter", "comment_text", NONCON, TOXIC)
# vote column -> its judge-count column; characteristic -> its vote column
EXPERIMENTS = {
    NONCON: "njudgements_constructiveness_expt",
    TOXIC: "njudgements_toxicity_expt",
}
CHARACTERISTICS = {
    **dict.fromkeys(
        ("non_relevant", "sarcastic", "provocative", "unsubstantial", "no_respect", "no_non_con"), NONCON
    ),
    **dict.fromkeys(
        ("teasing", "personal_attack", "abusive", "embarrassment", "inflammatory", "no_toxic"), TOXIC
    ),
}


def parse_votes(cell: str, *, where: str) -> dict[str, int]:
    """``"sarcastic:2\\nno_non_con:3"`` -> ``{"sarcastic": 2, "no_non_con": 3}`` (blank lines skipped)."""
    votes: dict[str, int] = {}
    for raw in cell.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, sep, count = line.rpartition(":")
        if not sep or not name.strip():
            raise ConverterError(f"{where}: expected 'name:votes' lines, found {line!r}")
        votes[name.strip()] = votes.get(name.strip(), 0) + parse_int(count, where=where)
    return votes


def _check_names(names: Sequence[str], param: str) -> None:
    unknown = [n for n in names if n not in CHARACTERISTICS]
    if unknown:
        raise ConverterError(
            f"{param}: unknown C3 characteristic(s) {unknown}; known: {sorted(CHARACTERISTICS)}"
        )


def _judges(row: dict[str, str], column: str, votes: dict[str, int]) -> int:
    """Number of judges of an experiment; if the count is blank, 1 when any vote is recorded, else 0."""
    value = row.get(EXPERIMENTS[column], "").strip()
    try:
        return int(float(value)) if value else (1 if votes else 0)
    except ValueError:
        return 1 if votes else 0


def _label(
    votes: dict[str, dict[str, int]],
    judges: dict[str, int],
    names: Sequence[str],
    positive_min_votes: int,
    negative_max_votes: int,
) -> LabelValue:
    """OR of the per-characteristic vote labels; None for a characteristic whose experiment had no judges."""
    return any_label(
        None
        if judges[CHARACTERISTICS[n]] <= 0
        else vote_label(
            votes[CHARACTERISTICS[n]].get(n, 0),
            positive_min_votes=positive_min_votes,
            negative_max_votes=negative_max_votes,
        )
        for n in names
    )


def convert(
    folder: Path,
    *,
    positive_min_votes: int = 2,
    negative_max_votes: int = 0,
    off_topic_from: Sequence[str] = ("non_relevant",),
    mocking_from: Sequence[str] = ("sarcastic", "teasing"),
    abusive_from: Sequence[str] = ("personal_attack", "abusive"),
) -> Iterator[CommentRecord]:
    """Records from ``folder/C3_anonymized.csv``; see the module docstring for the mapping."""
    sources = {"abusive": abusive_from, "mocking": mocking_from, "off_topic": off_topic_from}
    for param, names in sources.items():
        _check_names(names, f"{param}_from")
    path = Path(folder) / FILE_NAME
    records = RecordMaker(SOURCE, LICENCE, "en")
    for rowno, row in enumerate(read_csv(path, REQUIRED), 1):
        text = clean_comment(row["comment_text"])
        if not text:
            continue
        votes = {col: parse_votes(row[col], where=f"{path}: data row {rowno} {col}") for col in EXPERIMENTS}
        judges = {col: _judges(row, col, votes[col]) for col in EXPERIMENTS}
        record_id = records.new_id(f"{SOURCE}:{row['comment_counter'].strip() or f'row{rowno}'}", text)
        if record_id is None:
            continue
        yield records.record(
            record_id,
            text,
            {
                name: _label(votes, judges, names, positive_min_votes, negative_max_votes)
                for name, names in sources.items()
            },
            group=f"{SOURCE}:article:{row['article_id'].strip()}",
        )

"""FB-RO-Offense: Romanian comments on political Facebook live broadcasts, 4-class offensive labels.

Raw file: ``train.csv`` (comma-separated, standard quoting, CRLF rows; columns ``sender, no_reacts,
text, label``; ``sender`` is a pseudonym such as ``$USER0999``). The official test split is held out
of this copy; ``ro-fb-offense.csv`` (the full file, train + test) is deliberately not read.

Same GermEval-style schema as RO-Offense (``OTHER``, ``PROFANITY``, ``INSULT``, ``ABUSE``), same mapping
(see :mod:`commentmod.training.data.converters.ro_offense`):

- ``INSULT``, ``ABUSE`` -> ``abusive`` 1; ``OTHER`` -> 0.
- ``PROFANITY`` -> ``profanity_as`` (default **1** per the project brief; LABELING.md would say 0 for
  untargeted swearing, pass ``profanity_as=0`` or ``None`` to follow it).
- ``mocking``, ``off_topic``: None (not annotated; Facebook broadcasts have no article).

Dropped: rows with empty text; exact duplicate rows of one sender. ``no_reacts`` is not used.

Other fields: no comment ids in the file, so id = ``ro-fb-offense:<sha1(sender, text)[:12]>``;
group = the sender (``ro-fb-offense:sender:<sender>``), so one author's comments stay in one split
(the broadcast is not recorded); lang ``ro``; licence ``Apache-2.0`` (repository LICENSE, HF card).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import RecordMaker, short_hash
from .ro_offense import offense_rows

SOURCE = "ro-fb-offense"
LICENCE = "Apache-2.0"
FILE_NAME = "train.csv"


def convert(folder: Path, *, profanity_as: LabelValue = 1) -> Iterator[CommentRecord]:
    """Records from ``folder/train.csv``; see the module docstring for the mapping."""
    records = RecordMaker(SOURCE, LICENCE, "ro", own_group=True)
    for _, row, text, abusive in offense_rows(Path(folder) / FILE_NAME, "sender", profanity_as):
        sender = row["sender"].strip()
        record = records.make(
            f"{SOURCE}:{short_hash(sender, text)}",
            text,
            {"abusive": abusive},
            group=f"{SOURCE}:sender:{sender}" if sender else None,  # None: the record's own id
        )
        if record is not None:
            yield record

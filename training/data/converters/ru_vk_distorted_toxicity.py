"""Russian Distorted Toxicity: VK comments under news-media posts, ``russian_distorted_toxicity.tsv``.

Raw format: tab-separated, header ``comment_id, source, comments, distortion, toxicity, corrected``;
``source`` is the VK group (медуза / лентач / дождь), ``toxicity`` 0/1, ``distortion`` 0/1 (obfuscated
abusive spelling), ``corrected`` the de-obfuscated text of distorted rows.

Mapping: toxicity 1 -> abusive = 1, 0 -> abusive = 0 (single annotator; "toxic" here is insults and
obscene attacks, the guide's *abusive*). mocking, off_topic: None (not annotated).

Text: the original ``comments`` (obfuscated spellings are what moderation has to catch), or the
``corrected`` text with ``use_corrected=True``. VK reply markup ``[id123|Имя]`` / ``[club1|Name]`` is
turned into the plain name (``strip_mentions``), as a reply on a news site would show it. Empty
comments (stickers/images, ~100) are skipped. The posts the comments answer are not in the data, so
there is no article context; the VK group is too coarse for a split group, so group = the record's
own id. id = ``<group>:<comment_id>``. lang ``ru``; licence ``MIT`` (DATASTATEMENT.md).

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord
from ._common import RecordMaker, binary, clean_comment, read_csv
from ._dedup import merged

SOURCE = "ru-vk-distorted-toxicity"
LICENCE = "MIT"
FILE = "russian_distorted_toxicity.tsv"
GROUPS = {"медуза": "meduza", "лентач": "lentach", "дождь": "dozhd"}

_MENTION = re.compile(r"\[(?:id|club|public)\d+\|([^\]]*)\]")


def strip_vk_mentions(text: str) -> str:
    """``[id123|Имя], привет`` -> ``Имя, привет``."""
    return _MENTION.sub(r"\1", text)


@merged
def convert(
    folder: Path, *, use_corrected: bool = False, strip_mentions: bool = True
) -> Iterator[CommentRecord]:
    """Records from ``folder/russian_distorted_toxicity.tsv`` (one per non-empty comment)."""
    path = Path(folder) / FILE
    records = RecordMaker(SOURCE, LICENCE, "ru")
    rows = read_csv(path, ("comment_id", "source", "comments", "toxicity"), delimiter="\t")
    for n, row in enumerate(rows, start=1):
        raw = row["comments"]
        if use_corrected and row.get("corrected", "").strip():
            raw = row["corrected"]
        if strip_mentions:
            raw = strip_vk_mentions(raw)
        text = clean_comment(raw)
        if not text:
            continue
        group_name = row["source"].strip()
        rid = records.new_id(f"{GROUPS.get(group_name, group_name)}:{row['comment_id'].strip()}", text)
        if rid is None:
            continue
        yield records.record(rid, text, {"abusive": binary(row["toxicity"], where=f"{path} row {n}")})

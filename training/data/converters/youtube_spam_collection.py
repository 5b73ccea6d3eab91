"""YouTube Spam Collection (UCI): comments under five music videos, ``Youtube0N-<Artist>.csv``.

Raw format: comma CSV per video, header ``COMMENT_ID, AUTHOR, DATE, CONTENT, label`` (``CLASS`` in
other mirrors); label 1 = spam, 0 = ham. ``CONTENT`` is YouTube's HTML (``<br />``, ``<a href>``,
``&#39;``) and usually ends in an invisible U+FEFF. Only the files present are read (the Shakira file
is held out here).

Mapping -> off_topic (LABELING.md: ads, spam, channel promotion are off-topic):

- spam -> off_topic = 1
- ham -> off_topic = ``ham`` (default 0): legitimate comments are overwhelmingly reactions to the
  song/video. Off-topic chat that is not spam is not separated by the source, a small known noise.
- abusive, mocking: None (not annotated; some ham comments insult or mock, unlabelled).

Context: the video plays the article's part. The files name the artist only; ``video_titles`` (default
on) sets article_title to the video's title (from the UCI description of the collection, e.g.
"Katy Perry - Roar") so the model sees what the comments sit under; article_text = None. With
``video_titles=False`` there is no context.

Text: HTML is rendered (``<br>`` -> newline, tags dropped keeping their text, entities decoded) and
BOMs removed. group: ``group_by="author"`` (default) keeps each author's comments together, since
spammers paste the same message under several videos and the same author in train and test would
leak; ``"video"`` groups by video (only five groups). id = ``<video>:<COMMENT_ID>``. lang ``en``
(some comments are in other languages); licence ``unknown`` (mirror has none; UCI terms not checked).

Repeated texts (same text and context) are merged into one record by ``_dedup.merged``; a label the
repeats disagree on becomes None.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    binary,
    clean_comment,
    read_csv,
    short_hash,
)
from ._dedup import merged

SOURCE = "youtube-spam-collection"
LICENCE = "unknown"
VIDEO_TITLES = {
    "Psy": "PSY - Gangnam Style (강남스타일) M/V",
    "KatyPerry": "Katy Perry - Roar",
    "LMFAO": "LMFAO ft. Lauren Bennett, GoonRock - Party Rock Anthem",
    "Eminem": "Eminem - Love The Way You Lie ft. Rihanna",
    "Shakira": "Shakira - Waka Waka (This Time for Africa)",
}
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def html_to_text(text: str) -> str:
    """Rendered text of a comment's HTML: ``<br>`` -> newline, tags dropped (text kept), entities decoded."""
    return html.unescape(_TAG.sub("", _BR.sub("\n", text)))


def video_name(path: Path) -> str:
    """``Youtube04-Eminem.csv`` -> ``Eminem``."""
    stem = path.stem
    return stem.split("-", 1)[1] if "-" in stem else stem


@merged
def convert(
    folder: Path, *, ham: LabelValue = 0, video_titles: bool = True, group_by: str = "author"
) -> Iterator[CommentRecord]:
    """Records from every ``Youtube*.csv`` in ``folder`` (one per distinct comment per video)."""
    if group_by not in ("author", "video"):
        raise ValueError(f"group_by is {group_by!r}; use 'author' or 'video'")
    files = sorted(Path(folder).glob("Youtube*.csv"))
    if not files:
        raise ConverterError(
            f"no Youtube*.csv files in {folder}; is this the youtube-spam-collection folder?"
        )
    for path in files:
        video = video_name(path)
        records = RecordMaker(SOURCE, LICENCE, "en")  # ids are unique per video file
        first = next(read_csv(path, ("COMMENT_ID", "CONTENT")), None)
        if first is not None and "label" not in first and "CLASS" not in first:
            raise ConverterError(f"{path}: no 'label' or 'CLASS' column; found {sorted(first)}")
        for n, row in enumerate(read_csv(path, ("COMMENT_ID", "CONTENT")), start=1):
            text = clean_comment(html_to_text(row["CONTENT"]))
            if not text:
                continue
            rid = records.new_id(f"{video}:{row['COMMENT_ID'].strip()}", text)
            if rid is None:
                continue
            spam = binary(row.get("label", row.get("CLASS", "")), where=f"{path} row {n}")
            author = clean_comment(row.get("AUTHOR", "")) or rid
            group = f"video:{video}" if group_by == "video" else f"author:{short_hash(author)}"
            yield records.record(
                rid,
                text,
                {"off_topic": 1 if spam else ham},
                article_title=VIDEO_TITLES.get(video) if video_titles else None,
                group=f"{SOURCE}:{group}",
            )

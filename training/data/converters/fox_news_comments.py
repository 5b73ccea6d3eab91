"""Fox News user comments (Gao & Huang 2017): English comments labelled hateful / not, with article context.

Raw file: ``fox-news-comments.json`` (JSON lines; keys ``title`` = article headline, ``meta`` = the
article's meta description, ``text`` = the comment, ``label`` 1 = hateful / 0 = not, ``prev``/``succ``
= neighbouring comments, ``user``, ``mentions``).

Mapping:

- ``abusive`` = 1 for ``label`` 1 (hateful: demeaning/threatening people, mostly for their identity).
- ``abusive`` = ``non_hateful_as`` (default **0**) for ``label`` 0. The annotators judged every comment
  for hate, so label 0 is a real judgement, but "hateful" is narrower than our ``abusive``: a few
  label-0 comments are plain personal insults ("Ignorant troll."). We accept that noise by default;
  pass ``non_hateful_as=None`` to use only the positives.
- ``mocking``, ``off_topic``: None (not annotated; the comments are all under their own article).

Context: ``article_title`` = ``title``, ``article_text`` = ``meta`` (a ~180-character summary; there is no
article body). Dropped: ``prev``/``succ`` (our record has no thread context), ``user``, ``mentions``,
rows with empty text.

Other fields: no comment ids in the file, so id = ``fox-news-comments:<sha1(title, user, text)[:12]>``;
group = the article (``fox-news-comments:article:<sha1(title)[:12]>``, 8 articles in this copy);
lang ``en``; licence ``MIT`` as stated by the README (the LICENSE file is a copy-pasted AngularJS MIT
text, see PROVENANCE).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    RecordMaker,
    binary,
    check_label_param,
    clean_comment,
    clean_optional,
    read_jsonl,
    short_hash,
)

SOURCE = "fox-news-comments"
LICENCE = "MIT"
FILE_NAME = "fox-news-comments.json"


def convert(folder: Path, *, non_hateful_as: LabelValue = 0) -> Iterator[CommentRecord]:
    """Records from ``folder/fox-news-comments.json``; see the module docstring for the mapping."""
    check_label_param("non_hateful_as", non_hateful_as, (0, None))
    path = Path(folder) / FILE_NAME
    records = RecordMaker(SOURCE, LICENCE, "en")
    for lineno, obj in enumerate(read_jsonl(path, ("title", "text", "label")), 1):
        text = clean_comment(str(obj["text"] or ""))
        if not text:
            continue
        title = clean_optional(str(obj.get("title") or ""))
        hateful = binary(obj["label"], where=f"{path}: record {lineno} label")
        record = records.make(
            f"{SOURCE}:{short_hash(title or '', str(obj.get('user') or ''), text)}",
            text,
            {"abusive": 1 if hateful else non_hateful_as},
            article_title=title,
            article_text=clean_optional(str(obj.get("meta") or "")),
            group=f"{SOURCE}:article:{short_hash(title or '')}",
        )
        if record is not None:
            yield record

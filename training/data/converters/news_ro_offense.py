"""News-RO-Offense: Romanian comments from the Cluj news site "Știri de Cluj", with their articles.

Raw files (comma-separated, standard quoting, CRLF rows):

- ``comments.csv``: ``comment_id, reply_to_comment_id, comment_nr, content_id, comment_text, LABEL``.
- ``articles.csv``: ``content_id, article_date, Title, Tags, Content`` (full article body).

Mapping (``LABEL``):

- 1 targeted insult, 2 racist, 3 homophobic, 4 sexist -> ``abusive`` 1.
- 0 non-offensive -> ``abusive`` 0. (Spam/ads are also labelled 0: that says nothing about topic.)
- ``mocking``, ``off_topic``: None (not annotated; some label-0 comments are spam, but nobody marked
  which, so we must not write 0 for ``off_topic``).

Context: ``article_title`` = the article's ``Title``, ``article_text`` = its ``Content`` (joined on
``content_id``; a comment whose article is missing gets no context, with a warning count logged).
Dropped: rows with empty text, exact repeats of a (comment_id, text) pair; ``Tags``, dates and the reply
structure are not kept.

Other fields: id = ``news-ro-offense:<comment_id>``; group = the article
(``news-ro-offense:article:<content_id>``); lang ``ro``; licence ``Apache-2.0`` (repository LICENSE).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ....model.record import CommentRecord
from ._common import (
    ConverterError,
    RecordMaker,
    clean_comment,
    clean_optional,
    parse_int,
    read_csv,
)

log = logging.getLogger(__name__)

SOURCE = "news-ro-offense"
LICENCE = "Apache-2.0"
LABEL_NAMES = {0: "non-offensive", 1: "targeted insult", 2: "racist", 3: "homophobic", 4: "sexist"}


def read_articles(path: Path) -> dict[str, tuple[str | None, str | None]]:
    """``content_id`` -> (title, body) from ``articles.csv``."""
    return {
        row["content_id"].strip(): (clean_optional(row["Title"]), clean_optional(row["Content"]))
        for row in read_csv(path, ("content_id", "Title", "Content"))
    }


def convert(folder: Path, *, with_context: bool = True) -> Iterator[CommentRecord]:
    """Records from ``folder/comments.csv`` (+ ``articles.csv`` as context); see the module docstring."""
    folder = Path(folder)
    articles = read_articles(folder / "articles.csv") if with_context else {}
    path = folder / "comments.csv"
    records = RecordMaker(SOURCE, LICENCE, "ro")
    missing_articles = 0
    for rowno, row in enumerate(read_csv(path, ("comment_id", "content_id", "comment_text", "LABEL")), 1):
        text = clean_comment(row["comment_text"])
        if not text:
            continue
        label = parse_int(row["LABEL"], where=f"{path}: data row {rowno} LABEL")
        if label not in LABEL_NAMES:
            raise ConverterError(f"{path}: data row {rowno}: LABEL is {label}; expected one of {LABEL_NAMES}")
        content_id = row["content_id"].strip()
        title, body = articles.get(content_id, (None, None))
        if with_context and content_id not in articles:
            missing_articles += 1
        record = records.make(
            f"{SOURCE}:{row['comment_id'].strip() or f'row{rowno}'}",
            text,
            {"abusive": int(label != 0)},
            article_title=title,
            article_text=body,
            group=f"{SOURCE}:article:{content_id}",
        )
        if record is not None:
            yield record
    if missing_articles:
        log.warning(
            "%s: %d comment(s) reference an article missing from articles.csv", path, missing_articles
        )

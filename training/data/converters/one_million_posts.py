"""One Million Posts (DER STANDARD, German): the moderator-annotated subset, incl. off-topic.

Raw file: ``posts_labeled.csv`` (comma-separated, standard quoting, bodies contain quoted CRLF/LF
newlines). **Long format**: one row per (post, annotated category) with columns ``ID_Post,
ID_Parent_Post, ID_Article, ID_User, CreatedAt, Status, Headline, Body, PositiveVotes, NegativeVotes,
Category, Value, Fold``; the post's fields repeat on each of its rows. We pivot on ``ID_Post``.

Annotation is by the newspaper's professional forum moderators; ``Value`` is the consolidated 0/1.

Mapping:

- ``off_topic`` <- ``OffTopic`` (1/0); None when the post has no OffTopic annotation.
- ``abusive``   <- ``Inappropriate`` OR ``Discriminating`` (``abusive_categories``). Inappropriate =
  insults, derogatory or vulgar posts against the community rules; Discriminating = sexist, racist or
  otherwise discriminating statements (LABELING.md: dehumanising talk about a group). Three-valued OR:
  1 if either is 1, 0 if both are annotated 0, None if not annotated.
- ``mocking``: None (not annotated; ``SentimentNegative`` is not mocking).
- Not used: the Sentiment*, ``ArgumentsUsed``, ``PersonalStories``, ``PossiblyFeedback`` categories.
  Posts annotated only for those (about two thirds of posts here) carry none of our labels and are
  **dropped** unless ``keep_unlabelled=True``.

Context: the articles table was not obtained (PROVENANCE), so ``article_title``/``article_text`` are None
even though off-topic is judged against the article; ``group`` = ``one-million-posts:article:<ID_Article>``
keeps posts of one article in one split. Text = ``Headline`` (the post's own title, often empty) and
``Body`` joined by a newline. ``Status`` (online/deleted by a moderator) is not used.

Other fields: id = ``one-million-posts:<ID_Post>``; lang ``de``; licence ``CC-BY-NC-SA-4.0``
(data licence; the MIT licence covers only the repository's code). Non-commercial.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ....model.record import CommentRecord
from ._common import (
    ConverterError,
    RecordMaker,
    any_label,
    binary,
    clean_comment,
    read_csv,
)

SOURCE = "one-million-posts"
LICENCE = "CC-BY-NC-SA-4.0"
FILE_NAME = "posts_labeled.csv"
REQUIRED = ("ID_Post", "ID_Article", "Headline", "Body", "Category", "Value")


@dataclass
class Post:
    """One post with its category -> value annotations, gathered from the long-format rows."""

    post_id: str
    article_id: str
    headline: str
    body: str
    values: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(p for p in (clean_comment(self.headline), clean_comment(self.body)) if p)


def read_posts(path: Path) -> dict[str, Post]:
    """Pivot the long-format file: ``ID_Post`` -> :class:`Post` (first-seen order)."""
    posts: dict[str, Post] = {}
    for rowno, row in enumerate(read_csv(path, REQUIRED), 1):
        where = f"{path}: data row {rowno}"
        post_id = row["ID_Post"].strip()
        post = posts.get(post_id)
        if post is None:
            post = posts[post_id] = Post(post_id, row["ID_Article"].strip(), row["Headline"], row["Body"])
        category = row["Category"].strip()
        value = binary(row["Value"], where=f"{where} Value")
        if post.values.get(category, value) != value:
            raise ConverterError(
                f"{where}: post {post_id} has conflicting values for {category!r} "
                f"({post.values[category]} and {value}); expected one value per post and category"
            )
        post.values[category] = value
    return posts


def convert(
    folder: Path,
    *,
    abusive_categories: Collection[str] = ("Inappropriate", "Discriminating"),
    off_topic_category: str = "OffTopic",
    keep_unlabelled: bool = False,
) -> Iterator[CommentRecord]:
    """Records (one per post) from ``folder/posts_labeled.csv``; see the module docstring."""
    records = RecordMaker(SOURCE, LICENCE, "de")
    for post in read_posts(Path(folder) / FILE_NAME).values():
        labels = {
            "abusive": any_label(post.values.get(c) for c in abusive_categories),
            "off_topic": post.values.get(off_topic_category),
        }
        if not keep_unlabelled and all(v is None for v in labels.values()):
            continue
        text = post.text
        if not text:
            continue
        yield records.record(
            f"{SOURCE}:{post.post_id}", text, labels, group=f"{SOURCE}:article:{post.article_id}"
        )

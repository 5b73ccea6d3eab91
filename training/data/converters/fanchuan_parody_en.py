"""FanChuan parody benchmark, English subsets: Reddit and TikTok comments on Trump-related posts.

Raw files: ``Reddit-Trump/comments_{train,val}.csv`` and ``Tiktok-Trump/comments_{train,val}.csv``
(the test files are held out of this copy). Columns: ``id, comment_id, parent_comment_id, user_id,
parent_user_id, parent_content, content, support, parody``; ``parody`` (0/1, manual) marks a comment
that imitates the opposite side to ridicule it; ``support`` is sentiment and maps to nothing.

Mapping (only ``mocking``; ``abusive`` and ``off_topic`` are None):

- ``parody`` = 1 -> ``mocking`` 1 (mock praise, caricature: "She did a great job bringing up solid
  points").
- ``parody`` = 0 -> ``non_parody_as`` (default **None**). "Not parody" is not "not mocking": many of
  these comments ridicule openly without imitating anyone ("Surely you have a worm in your brain",
  "Where's the fucking LECTURN, Sarah?"), so as 0 they would be wrong negatives. Rows whose label is
  None are not yielded, so by default the source gives positives only.

Context: ``parent_content`` (the comment replied to; empty for top-level comments) -> ``article_text``;
the post or video itself is not in the data. group = the reply thread (comments linked through
``parent_comment_id`` within a subset), so a reply and its parent share a split. id =
``fanchuan-parody-en:<subset>:<comment_id>``; lang ``en``; licence ``MIT`` (LICENSE.txt; the comments
remain under the platforms' terms). One topic only (Trump), so topic words are a strong cue here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from ....model.record import CommentRecord, LabelValue
from ._common import (
    ConverterError,
    RecordMaker,
    binary,
    check_label_param,
    clean_comment,
    clean_optional,
    read_csv,
)

SOURCE = "fanchuan-parody-en"
LICENCE = "MIT"
SUBSETS = ("Reddit-Trump", "Tiktok-Trump")
FILES = ("train", "val", "test")
REQUIRED = ("comment_id", "parent_comment_id", "parent_content", "content", "parody")


def thread_roots(links: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Map each comment id to the root of its reply thread, from ``(comment_id, parent_id)`` pairs."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(node, node) != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for child, par in links:
        parent.setdefault(child, child)
        if par:
            parent.setdefault(par, par)
            a, b = find(child), find(par)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {node: find(node) for node in parent}


def convert(
    folder: Path,
    *,
    subsets: Sequence[str] = SUBSETS,
    files: Sequence[str] = ("train", "val"),
    non_parody_as: LabelValue = None,
) -> Iterator[CommentRecord]:
    """Records from the FanChuan English subsets in ``folder``; see the module docstring."""
    if bad := [s for s in subsets if s not in SUBSETS]:
        raise ConverterError(f"unknown subset(s) {bad}; the English subsets are {SUBSETS}")
    if bad := [f for f in files if f not in FILES]:
        raise ConverterError(f"unknown file(s) {bad}; use some of {FILES} (test is held out of this copy)")
    check_label_param("non_parody_as", non_parody_as)
    records = RecordMaker(SOURCE, LICENCE, "en")
    for subset in subsets:
        rows = []
        for name in files:
            path = Path(folder) / subset / f"comments_{name}.csv"
            rows += [(path, n, row) for n, row in enumerate(read_csv(path, REQUIRED), 1)]
        roots = thread_roots([(r["comment_id"].strip(), r["parent_comment_id"].strip()) for _, _, r in rows])
        tag = subset.split("-")[0].lower()
        for path, rowno, row in rows:
            text = clean_comment(row["content"])
            if not text:
                continue
            parody = binary(row["parody"], where=f"{path}: data row {rowno} parody")
            mocking = 1 if parody else non_parody_as
            if mocking is None:
                continue
            comment_id = row["comment_id"].strip()
            record = records.make(
                f"{SOURCE}:{tag}:{comment_id or f'{path.stem}-{rowno}'}",
                text,
                {"mocking": mocking},
                article_text=clean_optional(row["parent_content"]),
                group=f"{SOURCE}:{tag}:thread-{roots[comment_id]}",  # every row's id is in roots
            )
            if record is not None:
                yield record

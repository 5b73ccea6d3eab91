"""_dedup: merging repeated texts of one source."""

from __future__ import annotations

from collections.abc import Iterator

from commentmod.model.record import CommentRecord
from commentmod.training.data.converters._dedup import merge_duplicates, merge_labels, merged


def _rec(rid: str, text: str, title: str | None = None, **labels: int | None) -> CommentRecord:
    return CommentRecord(id=rid, text=text, source="s", licence="MIT", article_title=title, labels=labels)


def test_merge_labels() -> None:
    assert merge_labels([1, 1, None]) == 1
    assert merge_labels([0, 1]) is None
    assert merge_labels([None, None]) is None


def test_merge_duplicates_keeps_first_and_merges_labels() -> None:
    records = [
        _rec("a", "x", abusive=1, mocking=None),
        _rec("b", "y", abusive=0),
        _rec("c", "x", abusive=1, mocking=1),
        _rec("d", "x", title="other article", abusive=0),  # different context: kept
        _rec("e", "y", abusive=1),  # conflict, nothing else known: dropped
    ]
    out = list(merge_duplicates(records))
    assert [r.id for r in out] == ["a", "d"]
    assert out[0].labels == {"abusive": 1, "mocking": 1, "off_topic": None}
    kept = list(merge_duplicates(records, drop_unlabelled=False))
    assert [r.id for r in kept] == ["a", "b", "d"] and kept[1].labels["abusive"] is None


def test_merged_decorator() -> None:
    @merged
    def conv(n: int) -> Iterator[CommentRecord]:
        for i in range(n):
            yield _rec(str(i), "same", off_topic=1)

    assert [r.id for r in conv(3)] == ["0"]

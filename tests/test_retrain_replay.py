"""The base rows a retrain reads: the head's replay sample, and every base train row for the n-gram model."""

from __future__ import annotations

from pathlib import Path

from commentmod.model.record import CommentRecord
from commentmod.training.data.build_io import to_dataset_dict
from commentmod.training.retrain.replay import load_base_rows


def _record(i: int, split: str) -> CommentRecord:
    labels = {"abusive": i % 2, "mocking": None, "off_topic": 0}
    return CommentRecord(
        id=f"{split}-{i}", text=f"comment {i}", source="s", licence="MIT", lang="en", labels=labels
    )


def test_replay_is_a_sample_but_the_ngram_model_gets_every_train_row(tmp_path: Path) -> None:
    splits = {
        name: [_record(i, name) for i in range(n)]
        for name, n in {"train": 50, "validation": 10, "test": 10}.items()
    }
    to_dataset_dict(splits).save_to_disk(str(tmp_path / "build"))
    rows = load_base_rows(tmp_path / "build", replay=7, validation=None, test=None)
    assert len(rows.train) == 7
    assert [r.id for r in rows.train_all] == [f"train-{i}" for i in range(50)]
    assert {r.id for r in rows.train} <= {r.id for r in rows.train_all}
    assert rows.counts() == {"train": 7, "validation": 10, "test": 10}

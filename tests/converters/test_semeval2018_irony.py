"""semeval2018-irony converter: hand-made rows in the task-B TSV format (QUOTE_NONE), plus the real folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from commentmod.training.data.converters import get_converter
from commentmod.training.data.converters._common import ConverterError
from commentmod.training.data.converters.semeval2018_irony import FILE, convert

HEADER = "Tweet Index\tLabel\tTweet text\n"
LINES = [
    "1\t1\tSweet United Nations video. Just in time for Christmas. #imagine  http://t.co/fej2v3OUBR",
    '2\t0\t"Unbalanced quote starts here and never ends',
    "3\t2\tOf course it rained on the one day I left my umbrella \U0001f602",
    '4\t3\tOh "great", another Monday',
    "5\t0\t3 episodes left I'm dying over here ",
]


def _write(folder: Path, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILE).write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def test_task_b_mapping_quote_none(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path, LINES)))
    assert [r.id for r in records] == ["1", "2", "3", "4", "5"]  # the stray quote does not merge lines
    assert records[1].text == '"Unbalanced quote starts here and never ends'
    assert [r.labels["mocking"] for r in records] == [1, 0, 0, None, 0]
    assert records[2].text.endswith("\U0001f602")
    assert all(r.labels["abusive"] is None and r.labels["off_topic"] is None for r in records)
    assert all(r.lang == "en" and r.licence == "research-only" for r in records)


def test_params_and_errors(tmp_path: Path) -> None:
    records = list(convert(_write(tmp_path, LINES), situational=None, other=1, not_ironic=None))
    assert [r.labels["mocking"] for r in records] == [1, None, None, 1, None]
    with pytest.raises(ConverterError, match="task-B class"):
        list(convert(_write(tmp_path / "b", ["1\t7\tx"])))
    bad = tmp_path / "c"
    bad.mkdir()
    (bad / FILE).write_text("id,label,text\n1,0,x\n", encoding="utf-8")
    with pytest.raises(ConverterError, match="header"):
        list(convert(bad))


def test_real_folder(shared_dataset: Callable[[str], Path]) -> None:
    folder = shared_dataset("semeval2018-irony")
    records = list(get_converter("semeval2018_irony")(folder))
    assert 3800 <= len(records) <= 3834  # 3834 tweets (3817 if quotes were honoured)
    mocking = [r.labels["mocking"] for r in records]
    assert mocking.count(1) == 1390 and mocking.count(None) == 205  # task-B classes 1 and 3
    assert mocking.count(0) == len(records) - 1390 - 205

"""Scoring on Apache Spark (``commentmod.serving.spark``, ``commentmod score --engine spark``).

The Spark tests share one ``local[2]`` session for the module (driver memory 1 GiB, no UI) and are
marked ``spark`` and ``slow``; they run in CI with the ``[spark]`` extra and Java 17+ and are
skipped without them. The pure tests at the top (records, inputs, options) need neither.

The Spark path must give the single-process CLI's results: same rows, ids, statuses, flags and
scores (within 1e-6 on an fp32 artifact: an int8 artifact's scores depend on the batch a comment
is scored in, and Spark's batches are not the CLI's), error rows included.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from commentmod.serving.cli import main
from commentmod.serving.cli_spark import out_location, spark_failure
from commentmod.serving.readers import ReaderOptions
from commentmod.serving.readers.tabular import read_jsonl
from commentmod.serving.result import Result
from commentmod.serving.spark_inputs import SparkInputError, resolve_inputs
from commentmod.serving.spark_records import (
    LINE_COL,
    ROW_COL,
    SOURCE_COL,
    BatchPlan,
    records_of_batch,
    score_rows,
)

LABELS = ("abusive", "mocking", "off_topic")
SPARK = [pytest.mark.slow, pytest.mark.spark]
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


# --------------------------------------------------------------------------- inputs of both paths


def _write_jsonl(path: Path) -> None:
    texts = ["Ești un cretin, taci!", "Felicitări, geniu curat 🙄", "Vând Logan, detalii în privat", "ok"]
    lines = [
        json.dumps(
            {"id": f"j{i}", "text": f"{texts[i % 4]} {i}", "article_title": "Tramvaiul 101", "lang": "ro"}
        )
        for i in range(24)
    ]
    lines += [
        "",  # blank: no row
        json.dumps({"id": "j-int", "text": 5}),  # poisoned: a number as the text
        "not json",  # poisoned: invalid JSON (no id)
        "[1, 2]",  # poisoned: not an object
        json.dumps({"id": "j-empty", "text": "   "}),
        json.dumps({"id": "j-long", "text": "You are an idiot, really. " * 40}),  # cut to --max-chars
        '{"id": "j-surrogate", "text": "a \\udc80 b"}',
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "j-bytes", "text": "caf\xff"}\n')


def _write_parquet(path: Path) -> None:
    table = pa.table(
        {
            "comment_id": pa.array([101, 102, None, 104, 105], pa.int64()),  # null id: NAME:ROW as the CLI
            "body": [
                "Ce prostie de articol",
                None,
                "fără id",
                "Bravo, foarte bine",
                "Cumpăr apartament, sunați",
            ],
            "headline": ["Primăria", "Primăria", "Sport", None, "Anunțuri"],
        }
    )
    pq.write_table(table, path, row_group_size=2)


def _write_csv(path: Path) -> None:
    path.write_text(
        "id;text;title\n"
        'k1;"linia unu\nlinia doi";Vremea\n'
        "k2;=1+1 nu e formulă;\n"  # an empty title cell
        "k3;prea;multe;câmpuri\n"  # broken: 4 fields, the header has 3
        "k4;Idiotule!;Politică\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("spark-inputs")
    _write_jsonl(folder / "in.jsonl")
    _write_parquet(folder / "in.parquet")
    _write_csv(folder / "in.csv")
    return [str(folder / name) for name in ("in.jsonl", "in.parquet", "in.csv")]


# --------------------------------------------------------------------------- pure: no Spark


class RaisingScorer:
    """Scores every comment 0.5 but raises on a batch holding 'POISON' (the record the model chokes on)."""

    model_id = "raising@000000000000"
    labels = LABELS

    def score(self, items: Sequence[Any]) -> list[Result]:
        if any("POISON" in (item.text or "") for item in items):
            raise RuntimeError("the model cannot take this comment")
        scores = dict.fromkeys(LABELS, 0.5)
        return [Result(item.id, scores, dict.fromkeys(LABELS, True), True) for item in items]


def test_jsonl_lines_become_the_jsonl_readers_records(inputs: list[str]) -> None:
    path = Path(inputs[0])
    expected = list(read_jsonl(path))
    rows = [
        {LINE_COL: line, SOURCE_COL: f"file:{path}", ROW_COL: n}
        for n, line in enumerate(path.read_bytes().split(b"\n")[:-1])
    ]
    got = list(records_of_batch(rows, BatchPlan("jsonl", None)))
    assert len(got) == len(expected) == 31  # the blank line gives no record
    for mine, theirs in zip(got, expected, strict=True):
        assert (mine.id, mine.text, mine.article_title, mine.meta) == (
            theirs.id,
            theirs.text,
            theirs.article_title,
            theirs.meta,
        )
        assert mine.error == theirs.error
        assert mine.source == str(path)
    assert got[0].location == f"{path} (Spark row 0)"


def test_a_record_the_model_fails_on_is_an_error_row_and_the_batch_goes_on() -> None:
    texts = ["fine", "POISON here", "also fine", "fine again"]
    rows = [{"id": f"r{i}", "text": t, ROW_COL: i} for i, t in enumerate(texts)]
    plan = BatchPlan("rows", _columns(), row_numbers=True, default_source="frame")
    out = score_rows(rows, plan, RaisingScorer(), records_per_batch=4)
    assert [r["status"] for r in out] == ["ok", "error", "ok", "ok"]
    assert out[1]["id"] == "r1" and "cannot take this comment" in out[1]["error"]
    assert out[1]["error"].startswith("frame:row 2: ")
    assert out[1]["score_abusive"] is None and out[1]["flagged"] is False
    assert out[0]["score_abusive"] == 0.5 and out[0]["model"] == "raising@000000000000"


def _columns() -> Any:
    from commentmod.serving.readers.tabular import Columns

    return Columns(text="text", id="id", title=None, context=None, author=None)


def test_inputs_are_grouped_by_format_and_other_formats_refused(tmp_path: Path, inputs: list[str]) -> None:
    groups = resolve_inputs([*inputs, "s3a://news/2024/comments.parquet"])
    assert [(g.fmt, g.delimiter, len(g.paths)) for g in groups] == [
        ("jsonl", ",", 1),
        ("parquet", ",", 2),
        ("csv", ";", 1),
    ]
    assert groups[1].paths[1] == "s3a://news/2024/comments.parquet"
    (tmp_path / "d.xml").write_text("<disqus></disqus>", encoding="utf-8")
    with pytest.raises(SparkInputError, match="score it without --engine spark"):
        resolve_inputs([str(tmp_path / "d.xml")])
    with pytest.raises(SparkInputError, match="pass --format"):
        resolve_inputs(["s3a://news/comments/"])
    with pytest.raises(SparkInputError, match="does not exist"):
        resolve_inputs([str(tmp_path / "missing.jsonl")])


def test_out_uris_and_spark_failures_read_well() -> None:
    assert out_location(Path("s3a://bucket/scored.parquet")) == "s3a://bucket/scored.parquet"
    assert out_location(Path("/data/scored.parquet")) == "/data/scored.parquet"
    failure = Exception(
        "An error occurred while calling o1.parquet.\n  File worker.py, line 9\n"
        "commentmod.model.errors.ManifestError: model.onnx: sha256 mismatch; re-export\n\tat org.apache..."
    )
    assert spark_failure(failure) == "ManifestError: model.onnx: sha256 mismatch; re-export"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--resume"], "--resume is not supported"),
        (["--threads", "2"], "spark.task.cpus"),
        (["--spark-conf", "novalue"], "KEY=VALUE"),
    ],
)
def test_spark_cli_refuses_what_it_does_not_do(
    tmp_path: Path, inputs: list[str], extra: list[str], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    args = [
        "score",
        "--engine",
        "spark",
        inputs[0],
        "--model",
        str(tmp_path),
        "--out",
        str(tmp_path / "o.parquet"),
    ]
    assert main([*args, *extra]) == 2
    assert message in caplog.text
    assert main([*args[:-1], str(tmp_path / "o.jsonl")]) == 2
    assert "writes Parquet" in caplog.text


# --------------------------------------------------------------------------- Spark


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'commentmod[spark]')")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17+ (no java on PATH)")
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)  # the workers run this venv's Python
        session = (
            SparkSession.builder.master("local[2]")
            .appName("commentmod-tests")
            .config("spark.driver.memory", "1g")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()


@pytest.fixture(scope="module")
def fp32_artifact(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported without int8 (~5 s): scores that do not depend on the batch."""
    from commentmod.training.export.artifact import ExportOptions, export_artifact

    out = tmp_path_factory.mktemp("spark-artifact") / "tiny-fp32"
    export_artifact(tiny_run_dir, out, ExportOptions(int8=False, name="tiny-fp32"))
    return out


def _read(path: Path) -> tuple[pa.Schema, list[dict[str, Any]]]:
    table = ds.dataset(str(path), format="parquet").to_table()
    return table.schema.remove_metadata(), table.to_pylist()


@pytest.mark.slow
@pytest.mark.spark
def test_spark_cli_gives_the_single_process_results(
    spark: Any, fp32_artifact: Path, inputs: list[str], tmp_path: Path
) -> None:
    common = ["--model", str(fp32_artifact), "--max-chars", "300", "--no-progress"]
    assert main(["score", *inputs, *common, "--out", str(tmp_path / "cli.parquet")]) == 0
    spark_out = tmp_path / "spark.parquet"
    assert (
        main(["score", "--engine", "spark", *inputs, *common, "--out", str(spark_out), "--partitions", "3"])
        == 0
    )
    assert len([p for p in spark_out.glob("part-*.parquet")]) >= 2  # written by several tasks
    cli_schema, cli_rows = _read(tmp_path / "cli.parquet")
    spark_schema, spark_rows = _read(spark_out)
    assert spark_schema.equals(cli_schema, check_metadata=False)
    assert len(spark_rows) == len(cli_rows) == 31 + 5 + 4
    by_id = {r["id"]: r for r in spark_rows if r["id"] is not None}
    for row in (r for r in cli_rows if r["id"] is not None):
        mine = by_id[row["id"]]
        for column, value in row.items():
            if column.startswith("score_") and value is not None:
                assert mine[column] == pytest.approx(value, abs=1e-6), (row["id"], column)
            elif column == "error" and value is not None:  # after the location, which differs
                assert mine[column].removeprefix(mine["location"]) == value.removeprefix(row["location"])
            elif column != "location":
                assert mine[column] == value, (row["id"], column)
    assert by_id["j-int"]["status"] == "error" and by_id["j-surrogate"]["status"] == "ok"
    assert by_id["j-long"]["truncated_chars"] == 1040 and by_id["in.parquet:3"]["status"] == "ok"
    assert by_id["102"]["status"] == "empty"  # a null text: an empty comment
    assert by_id["104"]["location"].endswith("in.parquet:row 4")
    no_id = Counter((Path(r["source"]).name, r["status"]) for r in cli_rows if r["id"] is None)
    assert Counter((Path(r["source"]).name, r["status"]) for r in spark_rows if r["id"] is None) == no_id
    assert no_id == {("in.jsonl", "error"): 3, ("in.csv", "error"): 1}


@pytest.mark.slow
@pytest.mark.spark
def test_score_dataframe_with_poisoned_records_finishes(spark: Any, fp32_artifact: Path) -> None:
    from commentmod.serving.spark import output_columns, score_dataframe

    rows = [(f"d{i}", f"un comentariu obișnuit {i}", "Titlu") for i in range(20)]
    rows += [("huge", "x" * 5000, None), ("nothing", None, None), ("ctrl", "\x00\x1b[31m roșu", "T")]
    df = spark.createDataFrame(rows, "cid string, body string, headline string").repartition(3)
    options = ReaderOptions(max_record_bytes=4000)
    scored = score_dataframe(
        df, fp32_artifact, text_col="body", id_col="cid", title_col="headline", options=options
    )
    assert scored.columns == output_columns(LABELS)
    got = {r["id"]: r for r in scored.collect()}
    assert len(got) == 23 and all(got[f"d{i}"]["status"] == "ok" for i in range(20))
    assert got["huge"]["status"] == "error" and "max_record_bytes" in got["huge"]["error"]
    assert got["nothing"]["status"] == "empty" and got["nothing"]["score_abusive"] is None
    assert got["ctrl"]["status"] == "ok" and got["d0"]["model"].startswith("tiny-fp32@")
    assert got["d0"]["article_title"] == "Titlu" and got["d0"]["source"] == "dataframe"


@pytest.mark.slow
@pytest.mark.spark
def test_requests_are_checked_on_the_driver(spark: Any, fp32_artifact: Path) -> None:
    from commentmod.serving.spark import SparkScoringError, score_dataframe

    df = spark.createDataFrame([("a", "text")], "id string, text string")
    with pytest.raises(SparkScoringError, match="ONNX Runtime only"):
        score_dataframe(df, fp32_artifact, backend="openvino")
    with pytest.raises(SparkScoringError, match="title_col='headline' is not a column"):
        score_dataframe(df, fp32_artifact, title_col="headline")


@pytest.mark.slow
@pytest.mark.spark
def test_every_executor_checks_the_artifact(spark: Any, fp32_artifact: Path, tmp_path: Path) -> None:
    from commentmod.serving.spark import score_dataframe

    shared = Path(shutil.copytree(fp32_artifact, tmp_path / "shared-copy"))
    df = spark.createDataFrame([(str(i), f"comentariu {i}") for i in range(4)], "id string, text string")
    scored = score_dataframe(df, shared, ship_artifact=False)  # the driver's check passes here
    manifest = json.loads((shared / "commentmod.json").read_text(encoding="utf-8"))
    changed = next(name for name in manifest["files"] if name.endswith(".data"))
    with (shared / changed).open("ab") as fh:  # the copy changes before the job runs
        fh.write(b"\0")
    with pytest.raises(Exception, match="sha256") as failure:
        scored.collect()
    assert spark_failure(failure.value).startswith(f"ManifestError: sha256 of {shared / changed} is ")

    other = Path(shutil.copytree(fp32_artifact, tmp_path / "other"))
    scored = score_dataframe(df, other, ship_artifact=False)
    shutil.rmtree(other)  # another valid artifact takes its place before the job runs
    shutil.copytree(Path(__file__).resolve().parent / "golden" / "tiny-fp32", other)
    with pytest.raises(Exception, match="every executor must read the same artifact") as failure:
        scored.collect()
    assert spark_failure(failure.value).startswith("SparkScoringError: the executor's artifact")

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

from commentmod.serving.cli import build_parser, main
from commentmod.serving.cli_spark import check_output, spark_failure
from commentmod.serving.journal import OutputError
from commentmod.serving.readers import ReaderOptions
from commentmod.serving.readers.tabular import read_jsonl
from commentmod.serving.result import Result
from commentmod.serving.spark_inputs import SparkInputError, is_uri, resolve_inputs
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


def test_a_location_with_a_scheme_is_a_uri_and_anything_else_a_local_path() -> None:
    uris = ["hdfs:///data/o.parquet", "s3a://bucket/x", "file:///tmp/x", "file:/tmp/x", "gs://b/c/*.parquet"]
    assert all(is_uri(u) for u in uris)  # "file:/tmp/x": Hadoop's own spelling of a local URI
    local = ["/data/o.parquet", "o.parquet", "data/s3a://x", "C:/data/o.parquet", "odd:name.parquet"]
    assert not any(is_uri(p) for p in local)  # a scheme only at the start; "C:" is a drive letter


def test_uri_outputs_reach_spark_as_given_and_only_local_ones_are_checked(
    tmp_path: Path, inputs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    parser = build_parser("score")
    for out in ("hdfs:///data/out.parquet", "s3a://bucket//x.parquet", "file:///tmp/x.parquet"):
        args = parser.parse_args(["score", "--engine", "spark", inputs[0], "--model", "m", "--out", out])
        assert args.out == out  # not pathlib's "hdfs:/data/out.parquet"
    groups = resolve_inputs(inputs[:2])
    existing = tmp_path / "old.parquet"
    existing.mkdir()
    check_output(f"file://{existing}", groups, inputs[:2], overwrite=False)  # Spark's write refuses it
    with pytest.raises(OutputError, match="already exists"):
        check_output(str(existing), groups, inputs[:2], overwrite=False)
    with pytest.raises(OutputError, match="read back as the input"):
        check_output(inputs[1], groups, inputs[:2], overwrite=True)
    with pytest.raises(OutputError, match="writes Parquet"):
        check_output("s3a://bucket/scored.csv", groups, inputs[:2], overwrite=False)
    # the single-process path writes local files: a URI is refused, not made a folder named "s3a:"
    assert main(["score", inputs[0], "--model", str(tmp_path), "--out", "s3a://bucket/o.jsonl"]) == 2
    assert "use --engine spark for URIs" in caplog.text


def test_spark_failures_read_well() -> None:
    failure = Exception(
        "An error occurred while calling o1.parquet.\n  File worker.py, line 9\n"
        "commentmod.model.errors.ManifestError: model.onnx: sha256 mismatch; re-export\n\tat org.apache..."
    )
    assert spark_failure(failure) == "ManifestError: model.onnx: sha256 mismatch; re-export"


def test_the_driver_resolves_one_concrete_plan_for_every_executor() -> None:
    from commentmod.model.manifest import Manifest
    from commentmod.model.runtime_plans import RuntimePlan
    from commentmod.serving.artifact_check import model_id
    from commentmod.serving.spark import SparkScoringError, driver_plan, plan_request

    ort_int8 = RuntimePlan("onnxruntime", "int8", "model.onnx", "int8", passed=True, comments_per_s=116.0)
    ov_int8 = RuntimePlan(
        "openvino", "ov-int8", "model.ov-int8.xml", "int8", "f32", passed=True, comments_per_s=300.0
    )
    ov_bf16 = RuntimePlan(
        "openvino", "bf16", "model.fp32.onnx", "bf16", "bf16", ("bf16",), passed=True, comments_per_s=400.0
    )
    files = {f: f"{i}" * 64 for i, f in enumerate(["model.onnx", "model.ov-int8.xml", "model.ov-int8.bin"])}
    manifest = Manifest(
        name="m", quantization="int8", files=files, runtime_plans=(ort_int8, ov_int8, ov_bf16)
    )
    ort, both, bf16 = frozenset({"onnxruntime"}), frozenset({"onnxruntime", "openvino"}), frozenset({"bf16"})
    assert driver_plan(manifest, "auto", ort, bf16) == ort_int8  # no OpenVINO on the driver: ONNX Runtime
    assert driver_plan(manifest, "auto", both, frozenset()) == ov_int8  # no bf16 units: the int8 IR
    assert driver_plan(manifest, "auto", both, bf16) == ov_bf16
    assert driver_plan(manifest, "openvino", ort, frozenset()) == ov_int8  # asked for: the executors have it
    assert driver_plan(manifest, "onnxruntime", both, bf16) == ort_int8
    assert plan_request(manifest, ov_int8) == "ov-int8"
    # the model id the workers must report is the plan's file's, not model.onnx's
    assert model_id(manifest, ov_int8.file) != model_id(manifest) == model_id(manifest, ort_int8.file)
    bare = Manifest(name="m", quantization="none", files=files)  # exported before runtime plans
    chosen = driver_plan(bare, "auto", both, bf16)
    assert (chosen.backend, chosen.file, plan_request(bare, chosen)) == ("onnxruntime", "model.onnx", None)
    with pytest.raises(SparkScoringError, match="no OpenVINO plan"):
        driver_plan(bare, "openvino", both, bf16)
    with pytest.raises(SparkScoringError, match="'tensorrt' is not one of auto, onnxruntime, openvino"):
        driver_plan(manifest, "tensorrt", both, bf16)


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
def test_spark_cli_reads_and_writes_file_uris(
    spark: Any, fp32_artifact: Path, inputs: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri = f"file://{tmp_path}/scored.parquet"  # pathlib would make it "file:/..."
    command = ["score", "--engine", "spark", f"file://{inputs[1]}", inputs[0], "--out", uri]
    command += ["--model", str(fp32_artifact), "--no-progress", "--partitions", "2"]
    assert main(command) == 0
    _, rows = _read(tmp_path / "scored.parquet")
    assert len(rows) == 5 + 31
    assert {"101", "104", "j0", "j-int"} <= {r["id"] for r in rows}
    assert sum(Path(r["source"]).name == "in.parquet" for r in rows) == 5
    assert main(command) == 2  # an existing URI output: Spark's write refuses it
    assert "already exists" in caplog.text
    assert main([*command, "--overwrite"]) == 0
    assert len(_read(tmp_path / "scored.parquet")[1]) == 5 + 31


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
    with pytest.raises(SparkScoringError, match="no OpenVINO plan"):  # an fp32 export has no plans
        score_dataframe(df, fp32_artifact, backend="openvino")
    with pytest.raises(SparkScoringError, match="is not one of"):
        score_dataframe(df, fp32_artifact, backend="tensorrt")
    with pytest.raises(SparkScoringError, match="title_col='headline' is not a column"):
        score_dataframe(df, fp32_artifact, title_col="headline")


def test_workers_load_the_drivers_plan_or_fail_saying_so(fp32_artifact: Path) -> None:
    from dataclasses import replace

    from commentmod.serving.spark import SparkScoringError, artifact_ref, worker_scorer

    ref = artifact_ref(None, fp32_artifact, ship=False)  # not shipped: no Spark context needed
    assert (ref.backend, ref.plan, ref.model_file) == ("onnxruntime", None, "model.onnx")
    scorer = worker_scorer(ref, 1)
    assert scorer.model_id == ref.model_id and scorer.runtime.file == "model.onnx"
    other = replace(ref, backend="openvino", plan="ov-int8", model_file="model.ov-int8.xml")
    with pytest.raises(SparkScoringError, match="cannot run the driver's runtime plan openvino ov-int8"):
        worker_scorer(other, 1)


@pytest.mark.slow
@pytest.mark.spark
def test_spark_cli_passes_backend_to_the_driver(
    spark: Any, fp32_artifact: Path, inputs: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    command = ["score", "--engine", "spark", inputs[0], "--model", str(fp32_artifact), "--no-progress"]
    assert main([*command, "--out", str(tmp_path / "ov.parquet"), "--backend", "openvino"]) == 2
    assert "no OpenVINO plan" in caplog.text and not (tmp_path / "ov.parquet").exists()
    assert main([*command, "--out", str(tmp_path / "ort.parquet"), "--backend", "onnxruntime"]) == 0
    assert {r["model"] for r in _read(tmp_path / "ort.parquet")[1]} == {f"tiny-fp32@{_digest(fp32_artifact)}"}


def _digest(artifact: Path) -> str:
    from commentmod.model.manifest_io import read_manifest
    from commentmod.serving.artifact_check import model_digest

    return model_digest(read_manifest(artifact, verify=False))[:12]


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

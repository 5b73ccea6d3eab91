"""``commentmod score --engine spark``: the batch command on Apache Spark (the ``[spark]`` extra).

``commentmod score --engine spark INPUT... --model ARTIFACT --out OUT.parquet [--master URL]``
reads Parquet, JSONL and CSV with Spark (:mod:`commentmod.serving.spark_inputs`), scores them with
:func:`commentmod.serving.spark.score_prepared` in ``--partitions`` partitions and writes OUT as a
directory of Parquet part files with the columns of the single-process Parquet output. Rows are
not in input order (``source``, ``location`` and ``id`` name each row's origin). ``--backend`` is
resolved to one runtime plan on the driver (:func:`commentmod.serving.spark.driver_plan`), which
every executor runs.

Differences from the single-process path, each refused with a message rather than ignored:
``--resume`` (Spark retries failed tasks; rerun with ``--overwrite``), ``--threads`` (ONNX Runtime
threads are ``spark.task.cpus``: ``--spark-conf spark.task.cpus=N``), outputs other than Parquet.
Exit codes as ``commentmod score``: 0 done, 2 unusable request or a failed Spark job.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..model.errors import CommentmodError
from .cli_score import READER_LIMITS, TABLE_ROWS, _dest, format_summary, format_table
from .journal import OutputError
from .pipeline import Summary
from .readers import ReaderOptions
from .spark_inputs import InputGroup, SparkInputError, is_uri, local_paths, read_group, resolve_inputs

log = logging.getLogger("commentmod.score")

PARTITIONS_PER_CORE = 4  # default --partitions: at least this many per core of the cluster ...
ROWS_PER_PARTITION = 20_000  # ... and at most this many rows each (docs/scaling.md)
ENGINES = ("local", "spark")
_SPARK_ERROR = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Aborted|Exception)): (.+)$", re.MULTILINE)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--master`` and the Spark options of ``commentmod score``."""
    group = parser.add_argument_group("engine (--engine spark needs the [spark] extra and Java 17+)")
    group.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process (default); spark: Apache Spark, Parquet/JSONL/CSV in, Parquet out",
    )
    group.add_argument(
        "--master",
        default="local[*]",
        help="Spark master: local[N], spark://HOST:7077, yarn, k8s://... (default local[*])",
    )
    group.add_argument(
        "--partitions",
        type=int,
        default=None,
        metavar="N",
        help=f"Spark partitions the records are scored in (default: {PARTITIONS_PER_CORE} per core, "
        f"and at most {ROWS_PER_PARTITION:,} rows each)",
    )
    group.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. spark.task.cpus=2 or spark.executor.memory=4g (repeatable)",
    )
    group.add_argument(
        "--shared-artifact",
        action="store_true",
        help="--model is a path every executor reads (shared file system): do not ship it with addFile",
    )


class SparkRunError(CommentmodError):
    """Spark could not start, or its job failed (the message names the first error of the job)."""


def _refuse_unsupported(args: argparse.Namespace) -> None:
    if args.resume:
        raise SparkInputError(
            "--resume is not supported with --engine spark: Spark retries failed tasks "
            "itself; rerun with --overwrite"
        )
    if args.threads is not None:
        raise SparkInputError(
            "--threads is not used with --engine spark: ONNX Runtime runs "
            "spark.task.cpus threads per task; pass --spark-conf spark.task.cpus=N"
        )
    if args.partitions is not None and args.partitions < 1:
        raise SparkInputError(f"--partitions {args.partitions} must be 1 or more")


def check_output(out: str, groups: list[InputGroup], inputs: list[str], overwrite: bool) -> None:
    """A Parquet output that is not an input, not inside an input directory, and new unless ``overwrite``
    (a URI is Spark's to check: its write refuses an existing output without ``--overwrite``)."""
    if not out.rstrip("/").lower().endswith(".parquet"):
        raise OutputError(f"--engine spark writes Parquet: give --out a name ending in .parquet (got {out})")
    if is_uri(out):
        return
    dest = Path(out).resolve()
    if dest.exists() and not overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    folders = [Path(i).resolve() for i in inputs if not is_uri(i) and Path(i).is_dir()]
    for path in [*local_paths(groups), *folders]:
        real = path.resolve()
        if real == dest or real.is_relative_to(dest) or (real in folders and dest.is_relative_to(real)):
            raise OutputError(
                f"--out {out} would overwrite or be read back as the input {path}; write it elsewhere"
            )


def reader_options(args: argparse.Namespace) -> ReaderOptions:
    return ReaderOptions(
        text_col=args.text_col,
        id_col=args.id_col,
        title_col=args.title_col,
        context_col=args.context_col,
        **{_dest(flag): getattr(args, _dest(flag)) for flag in READER_LIMITS},
    )


def spark_settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SparkInputError(f"--spark-conf {pair!r}: write KEY=VALUE, e.g. spark.task.cpus=2")
        settings[key.strip()] = value.strip()
    return settings


def start_session(master: str, settings: dict[str, str], progress: bool) -> tuple[Any, bool]:
    """The active Spark session (reused as it is), or a new one; ``(session, created)``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkRunError(
            "--engine spark needs pyspark: pip install 'commentmod[spark]' (and Java 17+)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        log.info(
            "using the active Spark session (%s); --master and --spark-conf are not applied",
            active.sparkContext.master,
        )
        return active, False
    if master.startswith("local"):  # the workers run this Python (and so this commentmod)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("commentmod score")
    builder = builder.config("spark.ui.showConsoleProgress", "true" if progress else "false")
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate(), True
    except Exception as exc:  # the JVM or the master cannot be reached: say so, in one line
        raise SparkRunError(
            f"could not start Spark (master {master}): {exc}; Spark needs Java 17+ "
            "(java -version) and a reachable master"
        ) from exc


def spark_failure(exc: BaseException) -> str:
    """The first error a failed Spark job reports (a worker's Python error when there is one)."""
    text = str(exc)
    found = _SPARK_ERROR.findall(text)
    ours = [f"{kind}: {message}" for kind, message in found if not kind.startswith(("Py4J", "Spark"))]
    return (ours or [f"{kind}: {message}" for kind, message in found] or [text[:2000]])[0]


def score_groups(session: Any, groups: list[InputGroup], args: argparse.Namespace) -> tuple[Any, Any]:
    """The scored DataFrame of every input group (unioned) and the artifact's reference."""
    from .spark import artifact_ref, score_prepared

    ship = not args.shared_artifact
    ref = artifact_ref(session, args.model, ship=ship, max_chars=args.max_chars, backend=args.backend)
    options = reader_options(args)
    scored = []
    for group in groups:
        frame, plan = read_group(session, group, options)
        partitions = args.partitions or default_partitions(
            frame.count(), session.sparkContext.defaultParallelism
        )
        log.info("%s input: %d partition(s)", group.fmt, partitions)
        scored.append(
            score_prepared(frame.repartition(partitions), plan, ref, not args.no_text, args.records_per_batch)
        )
    return functools.reduce(lambda a, b: a.unionByName(b), scored), ref


def default_partitions(rows: int, cores: int) -> int:
    """At least :data:`PARTITIONS_PER_CORE` per core, and at most :data:`ROWS_PER_PARTITION` rows
    each (a task of the full int8 model then takes about 6 minutes on one core)."""
    return max(PARTITIONS_PER_CORE * cores, -(-rows // ROWS_PER_PARTITION), 1)


def summarise(session: Any, out: str, labels: tuple[str, ...]) -> Summary:
    """The summary of a written output (one small Spark job over its status and flag columns)."""
    from pyspark.sql import functions as F

    df = session.read.parquet(out)
    flags = [F.sum(F.col(f"flag_{label}").cast("int")).alias(label) for label in labels]
    totals = df.agg(
        F.count(F.lit(1)).alias("records"),
        F.sum(F.col("flagged").cast("int")).alias("any_flagged"),
        F.count("truncated_chars").alias("truncated"),
        *flags,
    ).first()
    status = {row["status"]: row["count"] for row in df.groupBy("status").count().collect()}
    return Summary(
        records=int(totals["records"]),
        status=Counter({k: int(v) for k, v in status.items()}),
        flagged=Counter({label: int(totals[label] or 0) for label in labels}),
        any_flagged=int(totals["any_flagged"] or 0),
        truncated=int(totals["truncated"]),
    )


def flagged_table(session: Any, out: str, labels: tuple[str, ...]) -> str:
    rows = [r.asDict() for r in session.read.parquet(out).where("flagged").limit(TABLE_ROWS).collect()]
    shaped = [
        {
            "id": r["id"],
            "text": r.get("text"),
            "scores": {label: r[f"score_{label}"] for label in labels},
            "flags": {label: r[f"flag_{label}"] for label in labels},
        }
        for r in rows
    ]
    return format_table(shaped, labels)


def run_spark(args: argparse.Namespace) -> int:
    """``commentmod score --engine spark``; returns the exit code."""
    started = time.perf_counter()
    session, created = None, False
    try:
        _refuse_unsupported(args)
        groups = resolve_inputs(args.inputs, args.format)
        out = str(args.out)  # a URI stays as given (hdfs:///x, s3a://b/x, file:///x)
        check_output(out, groups, list(args.inputs), args.overwrite)
        session, created = start_session(args.master, spark_settings(args.spark_conf), not args.no_progress)
        master = session.sparkContext.master
        ready = time.perf_counter()
        scored, ref = score_groups(session, groups, args)
        scored.write.mode("overwrite" if args.overwrite else "errorifexists").parquet(out)
        done = time.perf_counter()
        summary = summarise(session, out, ref.labels)
        if args.table:
            print(f"\nFlagged comments ({summary.any_flagged} of {summary.records}):")
            print(flagged_table(session, out, ref.labels))
            print()
    except CommentmodError as exc:
        log.error("%s", exc)
        return 2
    except Exception as exc:  # a failed Spark job (Py4J / PySpark errors carry the worker's error)
        log.error("the Spark job failed: %s", spark_failure(exc))
        log.debug("Spark failure", exc_info=True)
        return 2
    finally:
        if session is not None and created:
            session.stop()
    timing = f"spark {master}: session {ready - started:.1f} s, job {done - ready:.1f} s"
    print(f"{format_summary(summary, ref.labels, out)}  [{timing}]", file=sys.stderr)
    return 0

"""Score comments on Apache Spark (``pip install 'commentmod[spark]'``; Spark needs Java 17+).

Usage::

    from commentmod.serving.spark import score_dataframe

    scored = score_dataframe(spark.read.parquet("s3a://news/comments/"), "artifacts/full",
                             text_col="body", id_col="comment_id", title_col="headline")
    scored.write.parquet("s3a://news/scored/")

How it runs (``mapInPandas``):

* One :class:`~commentmod.serving.scorer.Scorer` per Python worker process, loaded on the first
  batch and cached in the process (:func:`worker_scorer`; Spark reuses its Python workers), never
  pickled: the runtime (ONNX Runtime or OpenVINO) is started in the worker. Its threads are the
  task's CPUs (``spark.task.cpus``; ONNX Runtime ignores ``OMP_NUM_THREADS``).
* The runtime plan is chosen once, on the driver (:func:`driver_plan`: ``backend``, the backends the
  driver has, its CPU), and every worker loads exactly that plan, or fails the job saying why
  (e.g. OpenVINO missing on an executor): executors never choose, so they never disagree.
* The artifact reaches the executors with ``SparkContext.addFile`` (default) or is read from a
  path every executor sees (``ship_artifact=False``). Every worker verifies it as ``Scorer.load``
  does (each file's sha256, the manifest's checksum) and checks that it is the driver's artifact
  (the same manifest bytes, runtime plan and model id); a mismatch fails the job with
  :class:`SparkScoringError`.
* Spark hands the worker Arrow batches of ``arrow_batch_rows`` rows
  (``spark.sql.execution.arrow.maxRecordsPerBatch``, set on the session); the worker scores them
  ``records_per_batch`` at a time, as ``commentmod score --batch-size``.
* Rows become records and records become output rows by the single-process code
  (:mod:`commentmod.serving.spark_records`): the output has the CLI's CSV/Parquet columns
  (:func:`output_schema`: ``score_<label>``, ``flag_<label>``, ``flagged``, ``status``, ``error``,
  ``model``, ...), and a bad row is an ``error`` row, never a failed job. Only a model failing on
  every one of :data:`~commentmod.serving.pipeline.MAX_FAILURE_STREAK` records in a row, or an
  artifact that fails its checks, fails the job.

An int8 artifact's scores depend slightly on the other comments of their model batch (dynamic
int8 ranges, see ``docs/artifact.md``); Spark batches differ from the CLI's, so int8 scores match
the CLI's to about 1e-2, fp32 scores to 1e-6 (``docs/scaling.md``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.errors import CommentmodError
from ..model.manifest import MANIFEST_NAME, MODEL_FILE, Manifest
from ..model.manifest_io import read_manifest, sha256_file
from ..model.runtime_plans import RuntimePlan
from .artifact_check import check_files, hybrid_spec, model_id
from .backends.base import RuntimeChoiceError
from .backends.choose import AUTO, CHOICES, ORT, choose_plan, describe, installed_backends
from .pipeline import DEFAULT_RECORDS_PER_BATCH
from .readers.base import AUTHOR_COLUMNS, ReaderOptions, pick_column
from .readers.tabular import Columns
from .scorer_inputs import DEFAULT_MAX_CHARS
from .spark_inputs import row_frame
from .spark_records import ROW_COL, SOURCE_COL, BatchPlan, score_rows
from .writers import flat_columns, parquet_schema

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from .scorer import Scorer

log = logging.getLogger("commentmod.spark")

BACKENDS = CHOICES  # auto, onnxruntime, openvino: resolved to one plan on the driver (driver_plan)
ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"
DEFAULT_ARROW_BATCH_ROWS = 1024  # rows per Arrow batch handed to a worker (a few MB of text)
_SHIPPED: dict[tuple[str, str], str] = {}  # (application id, shipped name) -> artifact path (driver)
_SCORERS: dict[tuple[str, ...], Scorer] = {}  # this worker process's scorers

__all__ = [
    "BACKENDS",
    "ArtifactRef",
    "SparkScoringError",
    "artifact_ref",
    "driver_plan",
    "output_schema",
    "score_dataframe",
    "score_prepared",
    "worker_scorer",
]


class SparkScoringError(CommentmodError):
    """A Spark scoring request that cannot run: unknown backend, missing column, wrong artifact."""


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise SparkScoringError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")


def driver_plan(
    manifest: Manifest, requested: str, installed: frozenset[str], cpu: frozenset[str]
) -> RuntimePlan:
    """The runtime plan every worker runs, chosen once on the driver (pure:
    :func:`~commentmod.serving.backends.choose.choose_plan` with the driver's ``installed`` backends
    and ``cpu`` capabilities). ``auto`` resolves to a concrete plan: OpenVINO only when the driver
    has it, else ONNX Runtime. A backend asked for by name is taken to be on the executors (the
    driver may lack it; a worker without it fails the job saying so)."""
    check_backend(requested)
    if requested != AUTO:
        installed = installed | {requested}
    try:
        return choose_plan(manifest.runtime_plans, requested, installed, cpu, manifest.quantization)
    except RuntimeChoiceError as exc:
        raise SparkScoringError(f"{exc} (Spark chooses the runtime plan on the driver)") from exc


def plan_request(manifest: Manifest, plan: RuntimePlan) -> str | None:
    """The plan name a worker passes to ``Scorer.load``: ``plan``'s when the manifest lists it, None
    for ONNX Runtime on ``model.onnx`` when no listed plan was chosen (the artifact's default)."""
    return plan.plan if plan in manifest.runtime_plans else None


def output_schema(labels: tuple[str, ...], include_text: bool = True) -> Any:
    """The Spark schema of the output: the CLI's Parquet columns and types
    (:func:`commentmod.serving.writers.parquet_schema`)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(parquet_schema(labels, include_text))


# --------------------------------------------------------------------------- the artifact


@dataclass(frozen=True)
class ArtifactRef:
    """What a worker needs to find the artifact and to check it is the driver's."""

    path: str  # the driver's directory (read as it is when not shipped)
    shipped_name: str | None  # its SparkFiles name when shipped with SparkContext.addFile
    model_id: str  # of the plan's model file
    manifest_sha256: str
    labels: tuple[str, ...]
    max_chars: int = DEFAULT_MAX_CHARS
    backend: str = ORT  # the driver's plan: never auto
    plan: str | None = None  # its name for Scorer.load (None: the artifact's model.onnx)
    model_file: str = MODEL_FILE  # the file the plan runs

    def directory(self) -> Path:
        if self.shipped_name is None:
            return Path(self.path)
        from pyspark import SparkFiles

        return Path(SparkFiles.get(self.shipped_name))


def artifact_ref(
    spark: Any,
    artifact: str | Path,
    ship: bool = True,
    max_chars: int = DEFAULT_MAX_CHARS,
    backend: str = AUTO,
) -> ArtifactRef:
    """Choose the runtime plan (:func:`driver_plan`), check the artifact on the driver (the plan's
    files and checksums, as ``Scorer.load``) and, with ``ship``, add it to the Spark context
    (``SparkContext.addFile``, recursive)."""
    from .backends.cpu import cpu_capabilities

    directory = Path(artifact).resolve()
    manifest = read_manifest(directory, verify=False)
    plan = driver_plan(manifest, backend, installed_backends(), cpu_capabilities())
    spec = hybrid_spec(manifest)
    check_files(directory, manifest, plan.file, spec.ngram_file if spec and spec.needs_ngram else None, True)
    log.info("every executor runs %s", describe(plan))
    name = None
    if ship:
        name = directory.name
        key = (spark.sparkContext.applicationId, name)
        shipped = _SHIPPED.get(key)
        if shipped is not None and shipped != str(directory):
            raise SparkScoringError(
                f"an artifact named {name!r} ({_SHIPPED[key]}) was already shipped to this Spark "
                f"application; {directory} cannot be shipped under the same name - copy it to a "
                "directory of another name, or pass a path every executor reads (ship_artifact=False)"
            )
        if shipped is None:  # Spark fetches a path once; the workers verify what they got
            spark.sparkContext.addFile(str(directory), recursive=True)
            _SHIPPED[key] = str(directory)
    return ArtifactRef(
        path=str(directory),
        shipped_name=name,
        model_id=model_id(manifest, plan.file),
        manifest_sha256=sha256_file(directory / MANIFEST_NAME),
        labels=tuple(manifest.labels),
        max_chars=max_chars,
        backend=plan.backend,
        plan=plan_request(manifest, plan),
        model_file=plan.file,
    )


def _load_plan(ref: ArtifactRef, directory: Path, threads: int) -> Scorer:
    """The Scorer of the driver's plan, exactly (:class:`SparkScoringError` when it cannot run here)."""
    from .scorer import Scorer

    wanted = f"{ref.backend} {ref.plan or 'default'} ({ref.model_file})"
    try:
        scorer = Scorer.load(
            directory,
            threads=threads,
            max_chars=ref.max_chars,
            verify=True,
            backend=ref.backend,
            plan=ref.plan,
        )
    except RuntimeChoiceError as exc:
        raise SparkScoringError(
            f"this executor cannot run the driver's runtime plan {wanted}: {exc}; install the same "
            "commentmod extras on every executor, or score with backend='onnxruntime' (--backend onnxruntime)"
        ) from exc
    if (scorer.runtime.backend, scorer.runtime.file) != (ref.backend, ref.model_file):
        raise SparkScoringError(
            f"the executor loaded {describe(scorer.runtime)}, the driver chose {wanted}: "
            "every executor must run the driver's plan - install the same commentmod on every executor"
        )
    return scorer


def worker_scorer(ref: ArtifactRef, threads: int) -> Scorer:
    """This process's Scorer of ``ref`` (loaded, verified and checked against the driver's once)."""
    directory = ref.directory()
    key = (str(directory), ref.model_id, ref.backend, ref.plan or "", str(threads), str(ref.max_chars))
    scorer = _SCORERS.get(key)
    if scorer is None:
        found = sha256_file(directory / MANIFEST_NAME)
        if found != ref.manifest_sha256:  # another artifact: say so before its plans are looked at
            raise _other_artifact(
                ref, directory, model_id(read_manifest(directory, verify=False), ref.model_file)
            )
        scorer = _load_plan(ref, directory, threads)
        if scorer.model_id != ref.model_id:
            raise _other_artifact(ref, directory, scorer.model_id)
        _SCORERS[key] = scorer
        log.info(
            "worker loaded %s (%s) from %s with %d thread(s)",
            scorer.model_id, describe(scorer.runtime), directory, threads,
        )  # fmt: skip
    return scorer


def _other_artifact(ref: ArtifactRef, directory: Path, found_id: str) -> SparkScoringError:
    found = sha256_file(directory / MANIFEST_NAME)
    return SparkScoringError(
        f"the executor's artifact {directory} is {found_id} (manifest sha256 {found[:12]}), "
        f"the driver's is {ref.model_id} ({ref.manifest_sha256[:12]}): every executor must read "
        "the same artifact - ship it (ship_artifact=True) or update the shared copy"
    )


def task_cpus(default: int = 1) -> int:
    """CPUs of the running Spark task (``spark.task.cpus``), else ``default``."""
    from pyspark import TaskContext

    context = TaskContext.get()
    try:
        return max(1, int(context.cpus())) if context is not None else default
    except (AttributeError, TypeError, ValueError):
        return default


# --------------------------------------------------------------------------- the worker


@dataclass(frozen=True)
class _Job:
    artifact: ArtifactRef
    plan: BatchPlan
    include_text: bool
    records_per_batch: int


def _partition_function(job: _Job) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function ``mapInPandas`` runs in the workers (closes over ``job`` only: no session)."""

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd
        import pyarrow as pa

        scorer = worker_scorer(job.artifact, task_cpus())
        schema = parquet_schema(job.artifact.labels, job.include_text)
        for frame in batches:
            rows = pa.Table.from_pandas(frame, preserve_index=False).to_pylist()
            out = score_rows(rows, job.plan, scorer, job.include_text, job.records_per_batch)
            yield pa.Table.from_pylist(out, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)

    return score_partition


def score_prepared(
    df: DataFrame,
    plan: BatchPlan,
    ref: ArtifactRef,
    include_text: bool = True,
    records_per_batch: int = DEFAULT_RECORDS_PER_BATCH,
    arrow_batch_rows: int = DEFAULT_ARROW_BATCH_ROWS,
) -> DataFrame:
    """The scored DataFrame of ``df``, whose rows :mod:`~commentmod.serving.spark_records` reads
    with ``plan`` (its columns, :data:`SOURCE_COL`, :data:`ROW_COL` ...)."""
    df.sparkSession.conf.set(ARROW_BATCH_CONF, str(arrow_batch_rows))
    job = _Job(ref, plan, include_text, records_per_batch)
    with warnings.catch_warnings():  # pandas >= 3: only Arrow <-> pandas of plain columns is used here
        warnings.filterwarnings("ignore", message=".*pandas >= 3", category=FutureWarning)
        return df.mapInPandas(_partition_function(job), output_schema(ref.labels, include_text))


# --------------------------------------------------------------------------- the public call


def _check_columns(df: DataFrame, named: dict[str, str | None]) -> None:
    for what, name in named.items():
        if name is not None and name not in df.columns:
            none = " (or None)" if what != "text_col" else ""
            raise SparkScoringError(
                f"{what}={name!r} is not a column of the DataFrame; its columns are {df.columns[:30]} - "
                f"pass the right name{none}"
            )


def score_dataframe(
    df: DataFrame,
    artifact: str | Path,
    text_col: str = "text",
    id_col: str | None = "id",
    title_col: str | None = None,
    context_col: str | None = None,
    backend: str = "auto",
    *,
    include_text: bool = True,
    max_chars: int = DEFAULT_MAX_CHARS,
    records_per_batch: int = DEFAULT_RECORDS_PER_BATCH,
    arrow_batch_rows: int = DEFAULT_ARROW_BATCH_ROWS,
    ship_artifact: bool = True,
    options: ReaderOptions | None = None,
) -> DataFrame:
    """Score a DataFrame of comments with an artifact: one output row per input row, the columns of
    ``commentmod score``'s Parquet output (see the module docstring). Lazy: nothing runs until
    the result is written or collected.

    ``text_col`` (required), ``id_col`` (None: ids ``dataframe:#KEY``), ``title_col`` and
    ``context_col`` (the article's title and text) name the input columns; an ``author`` column
    and the readers' meta columns (``created_at``, ``url``, ``lang`` ...) are carried when present.
    ``backend``: ``auto``, ``onnxruntime`` or ``openvino``, resolved to one runtime plan on the driver
    that every executor runs (:func:`driver_plan`). ``ship_artifact``: ship the artifact directory with
    ``SparkContext.addFile`` (False: every executor reads ``artifact`` itself, e.g. on a shared
    file system). ``options``: the reader limits (``max_record_bytes``, ``max_context_chars``).
    """
    from pyspark.sql import functions as F

    check_backend(backend)
    _check_columns(
        df, {"text_col": text_col, "id_col": id_col, "title_col": title_col, "context_col": context_col}
    )
    columns = Columns(text_col, id_col, title_col, context_col, pick_column(df.columns, AUTHOR_COLUMNS))
    options = options if options is not None else ReaderOptions()
    extra = [F.col(SOURCE_COL)] if SOURCE_COL in df.columns else []
    key = F.monotonically_increasing_id().alias(ROW_COL)
    prepared = row_frame(df, columns, [*extra, key], options.max_context_chars)
    plan = BatchPlan("rows", columns, options)
    ref = artifact_ref(df.sparkSession, artifact, ship=ship_artifact, max_chars=max_chars, backend=backend)
    return score_prepared(prepared, plan, ref, include_text, records_per_batch, arrow_batch_rows)


def output_columns(labels: tuple[str, ...], include_text: bool = True) -> list[str]:
    """The output's column names (the CLI's CSV/Parquet columns)."""
    return flat_columns(labels, include_text)

"""Batch scoring of comment dumps: records in, one output row per record out, resumable and safe.

Contract (``commentmod score``; the files are described in :mod:`commentmod.serving.journal`):

* The output is written in input order, appended and fsynced after every batch. For JSONL the
  output file is its own journal; ``.csv`` and ``.parquet`` are converted from the journal
  ``OUT.partial.jsonl`` at the end. ``resume`` keeps the complete rows already in the journal
  (cutting a torn last line), skips that many input records and appends the rest, so a run killed
  with ``kill -9`` or stopped by a full disk completes with no duplicate and no missing record.
* The output may not be an input (or a link to one, or inside an input directory); one run at a
  time holds ``OUT.lock``; ``OUT.inputs.json`` fingerprints the inputs and a resume refuses changed
  inputs.
* A record never stops a run: an exception while reading a file, cleaning, scoring or serialising
  one record becomes an ``error`` row with its location. A file that breaks mid-way yields the
  records read so far plus one error row, and the next file is read. Only an unusable output
  (:class:`OutputError`), a model failing on :data:`MAX_FAILURE_STREAK` records in a row
  (:class:`ScoringAborted`) or an interrupt stop the run, and then it can be resumed.
* Not scored (``empty``/``error``) is ``None``: ``scores`` and ``flags`` are null, ``flagged`` is false.
* Each input file is read once (a Disqus export whose posts come before their threads: once more,
  for the thread table): nothing is parsed to count records; progress compares the bytes the
  readers have read (:class:`ReadMeter`) with the inputs' total size. Records go to the scorer as
  they are (no dict in between), ``records_per_batch`` (``--batch-size``) at a time.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from ..model.errors import CommentmodError
from .journal import (
    OUTPUT_FORMATS,
    JournalState,
    JournalWriter,
    OutputError,
    OutputLock,
    check_fingerprint,
    check_output_paths,
    dump_row,
    input_fingerprint,
    journal_path,
    output_format,
    read_journal,
    write_fingerprint,
)
from .progress import Progress
from .readers import ReaderOptions, detect_format, expand_inputs, read_file
from .readers.base import InputRecord
from .readers.meter import ReadMeter
from .result import Result, not_scored
from .sanitize import clean_record
from .writers import finalise

log = logging.getLogger("commentmod.score")

DEFAULT_RECORDS_PER_BATCH = 64  # records read, scored, written and fsynced together (--batch-size)
MAX_FAILURE_STREAK = 200  # records in a row the model fails on before the run stops (broken model)
_FAILED = "scoring_failed"  # Result.extra key marking a record the model failed on

__all__ = [
    "OUTPUT_FORMATS",
    "OutputError",
    "ScorerLike",
    "ScoringAborted",
    "Summary",
    "journal_path",
    "output_format",
    "output_row",
    "read_files",
    "run_scoring",
    "score_inputs",
    "score_records",
]


class ScoringAborted(CommentmodError):
    """The model failed on every one of many records in a row: stop (and keep the output resumable)."""


class ScorerLike(Protocol):
    """What the pipeline needs of :class:`commentmod.serving.Scorer`."""

    @property
    def model_id(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    def score(self, items: Sequence[Any]) -> list[Result]:
        """One Result per item; the items are :class:`InputRecord` s, taken as they are."""
        ...


# --------------------------------------------------------------------------- reading


def file_size(path: Path) -> int:
    """Bytes of ``path``; 0 when it cannot be read (its reader says why)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_files(
    files: Sequence[Path],
    fmt: str = "auto",
    options: ReaderOptions | None = None,
    meter: ReadMeter | None = None,
) -> Iterator[InputRecord]:
    """Records of every file in order, each file read once; a file that cannot be read (or breaks
    mid-way) gives one error record where reading stopped, and the next file is read. A file with
    no records is named in one warning on stderr (for a page, the page reader's own, which says
    why). ``meter`` follows the bytes read, for progress."""
    options = options if options is not None else ReaderOptions()
    for path in files:
        if meter is not None:
            meter.begin(file_size(path))
        count = 0
        try:
            for record in read_file(path, fmt, options, meter):
                count += 1
                yield record
        except Exception as exc:  # any reader failure: the rest of this file is one error row
            where = f"{path} after record {count}" if count else str(path)
            what = "the rest of the file" if count else "the file"
            log.warning("%s: could not read %s: %s", path, what, exc)
            yield InputRecord(None, None, str(path), where, error=f"could not read {what}: {exc}")
            continue
        finally:
            if meter is not None:
                meter.end()
        if count == 0 and not _is_page(path, fmt):  # read_page has already warned, with the reason
            log.warning("%s: no comments found in this file (0 records)", path)


def _is_page(path: Path, fmt: str) -> bool:
    try:
        return (fmt if fmt != "auto" else detect_format(path)) == "page"
    except (CommentmodError, OSError):
        return False


# --------------------------------------------------------------------------- scoring


def error_result(record: InputRecord, message: str) -> Result:
    """The ``error`` Result of a record, its message prefixed with the record's location."""
    return not_scored(record.id, "error", f"{record.location}: {message}")


def _score_isolating(records: list[InputRecord], scorer: ScorerLike) -> list[Result]:
    """Results of ``records``; when the batch fails, each record is scored alone and a record
    that still fails becomes an error result."""
    if not records:
        return []
    try:
        results = scorer.score(records)
        if len(results) != len(records):
            raise ValueError(f"the scorer returned {len(results)} results for {len(records)} comments")
        return list(results)
    except Exception as exc:  # isolation boundary: find the record that fails
        if len(records) == 1:
            log.debug("scoring %s failed", records[0].location, exc_info=True)
            failed = error_result(records[0], f"could not score this comment: {type(exc).__name__}: {exc}")
            return [dataclasses.replace(failed, extra={_FAILED: True})]
        log.warning("a batch of %d records failed (%s); scoring them one by one", len(records), exc)
        return [res for rec in records for res in _score_isolating([rec], scorer)]


def score_records(
    records: Iterable[InputRecord], scorer: ScorerLike, records_per_batch: int = DEFAULT_RECORDS_PER_BATCH
) -> Iterator[list[tuple[InputRecord, Result]]]:
    """Batches of ``records_per_batch`` (record, result) pairs in input order. Records are cleaned
    first (surrogates, non-string text); unreadable records are never sent to the model; the others
    go to the scorer as they are; a record the model fails on becomes an error result."""
    it = iter(records)
    streak = 0
    while batch := [clean_record(r) for r in islice(it, max(1, records_per_batch))]:
        good = [r for r in batch if r.error is None]
        scored = iter(_score_isolating(good, scorer))
        out = []
        for record in batch:
            if record.error is not None:
                out.append((record, error_result(record, record.error)))
                continue
            result = next(scored)
            streak = streak + 1 if result.extra.get(_FAILED) else 0
            out.append((record, result))
        if streak >= MAX_FAILURE_STREAK:
            raise ScoringAborted(
                f"the model failed on {streak} records in a row (last: {out[-1][1].error}); "
                "the model or the machine is unusable - fix it and rerun with --resume"
            )
        yield out


def output_row(
    record: InputRecord, result: Result, model_id: str, include_text: bool = True
) -> dict[str, Any]:
    """The output schema: one row per input record - the record's fields, then the Result's as
    :meth:`Result.to_dict` serialises them for HTTP too (``scores`` rounded to 6 places,
    ``scores``/``flags`` null when not scored, ``truncated`` ``{"chars": n, "scored_chars": m}``
    when only the first ``m`` characters were scored, else null), then ``model`` and ``meta``."""
    row: dict[str, Any] = {
        "id": record.id,
        "source": record.source,
        "location": record.location,
        "author": record.author,
    }
    if include_text:
        row["text"] = record.text
    row["article_title"] = record.article_title
    row.update((k, v) for k, v in result.to_dict().items() if k != "id")
    row["model"] = model_id
    row["meta"] = dict(record.meta)
    return row


def _row_and_line(
    record: InputRecord, result: Result, model_id: str, include_text: bool
) -> tuple[dict[str, Any], str]:
    """The row and its JSONL line; a row that cannot be built or serialised becomes an error row."""
    try:
        row = output_row(record, result, model_id, include_text)
        return row, dump_row(row)
    except Exception as exc:  # isolation boundary: a strange value in one record (meta, id)
        bare = InputRecord(
            record.id if isinstance(record.id, str) else None, None, record.source, record.location
        )
        row = output_row(bare, error_result(bare, f"could not write this row: {exc}"), model_id, include_text)
        return row, dump_row(row)


# --------------------------------------------------------------------------- the run


@dataclass
class Summary:
    """Counts over every row of an output (including ``kept`` rows written before a resume)."""

    records: int = 0
    status: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    any_flagged: int = 0
    kept: int = 0
    truncated: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.records += 1
        self.status[row["status"]] += 1
        if row.get("flagged"):
            self.any_flagged += 1
        if row.get("truncated"):
            self.truncated += 1
        for label, flag in (row.get("flags") or {}).items():
            if flag:
                self.flagged[label] += 1


def _open_journal(
    out: Path,
    resume: bool,
    overwrite: bool,
    model_id: str,
    summary: Summary,
    fingerprint: dict[str, Any] | None,
) -> JournalState:
    """Check ``out`` may be (re)written, keep the rows of a resumed run; returns what was kept."""
    journal = journal_path(out)
    if out != journal and out.exists() and not overwrite:
        if resume and not journal.exists():
            raise OutputError(
                f"{out} is already complete; nothing to resume (use --overwrite to score again)"
            )
        if not resume:
            raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    state = JournalState()
    if journal.exists() and journal.stat().st_size > 0:
        if not resume and not overwrite:
            raise OutputError(
                f"{journal} already exists; pass --resume to continue that run or --overwrite to start again"
            )
        if resume:
            if fingerprint is not None:
                check_fingerprint(out, fingerprint)
            state = read_journal(journal, model_id, summary.add)
        else:
            journal.unlink()
    if fingerprint is not None:
        write_fingerprint(out, fingerprint)
    if state.rows or state.dropped_bytes:
        cut = f"; cut a torn last row ({state.dropped_bytes} bytes)" if state.dropped_bytes else ""
        log.info(
            "resuming %s: kept %d complete rows%s; skipping the first %d records",
            journal,
            state.rows,
            cut,
            state.rows,
        )
    return state


def run_scoring(
    records: Iterable[InputRecord],
    scorer: ScorerLike,
    out: Path,
    records_per_batch: int = DEFAULT_RECORDS_PER_BATCH,
    resume: bool = False,
    overwrite: bool = False,
    include_text: bool = True,
    progress: Progress | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> Summary:
    """Score ``records`` into ``out``; see the module docstring for the contract."""
    out = Path(out)
    output_format(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output directory {out.parent}: {exc}") from exc
    summary = Summary()
    with OutputLock(out):
        state = _open_journal(out, resume, overwrite, scorer.model_id, summary, fingerprint)
        summary.kept = state.rows
        it = iter(records)
        skipped = sum(1 for _ in islice(it, state.rows))
        if skipped < state.rows:
            raise OutputError(
                f"{journal_path(out)} holds {state.rows} rows but the inputs have only {skipped} records; "
                "they are not the inputs of that run - score again with --overwrite"
            )
        if progress is not None:
            progress.start(state.rows)
        with JournalWriter(journal_path(out)) as writer:
            for batch in score_records(it, scorer, records_per_batch):
                pairs = [_row_and_line(rec, res, scorer.model_id, include_text) for rec, res in batch]
                writer.write_lines([line for _, line in pairs])
                for row, _ in pairs:
                    summary.add(row)
                    if on_row is not None:
                        on_row(row)
                if progress is not None:
                    progress.update(len(pairs))
        finalise(journal_path(out), out, scorer.labels, include_text)
    return summary


def score_inputs(
    inputs: Sequence[str],
    scorer: ScorerLike,
    out: Path,
    fmt: str = "auto",
    options: ReaderOptions | None = None,
    records_per_batch: int = DEFAULT_RECORDS_PER_BATCH,
    resume: bool = False,
    overwrite: bool = False,
    include_text: bool = True,
    progress: Progress | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Summary:
    """``commentmod score``: expand ``inputs``, check the output against them, fingerprint them and
    score every record into ``out`` (the other arguments as for :func:`run_scoring`)."""
    out = Path(out)
    options = options if options is not None else ReaderOptions()
    files = expand_inputs(inputs)
    check_output_paths(out, files, inputs)
    settings = {
        "format": fmt,
        "include_text": include_text,
        "max_chars": getattr(scorer, "max_chars", None),  # a resume must score as the run began
        **dataclasses.asdict(options),
    }
    fingerprint = input_fingerprint(files, settings)
    meter = ReadMeter(total=sum(file_size(path) for path in files))
    if progress is not None:
        progress.measure(meter)
    return run_scoring(
        read_files(files, fmt, options, meter),
        scorer,
        out,
        records_per_batch=records_per_batch,
        resume=resume,
        overwrite=overwrite,
        include_text=include_text,
        progress=progress,
        on_row=on_row,
        fingerprint=fingerprint,
    )

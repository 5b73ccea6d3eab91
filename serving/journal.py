"""The output side of ``commentmod score``: where rows go, who may write them, and what they were read from.

* Paths: the output ``OUT``; its journal (``OUT`` itself for JSONL, ``OUT.partial.jsonl`` for CSV and
  Parquet); the lock ``OUT.lock`` (exists only while a run holds it); the input fingerprint
  ``OUT.inputs.json``.
* :func:`check_output_paths` refuses an output (or a sidecar) that is an input file, a link to one
  (same device and inode), inside an input directory that is expanded, or matched by an input glob.
* :class:`OutputLock` - an exclusive ``flock`` for the run; a second writer is refused at once.
* :func:`input_fingerprint` / :func:`fingerprint_changes` - paths, sizes, mtimes and sha256 of the
  first and last KiB of every input, plus the reading settings; ``--resume`` refuses any change.
* :func:`read_journal` - complete rows already written (a torn last line is dropped);
  :class:`JournalWriter` - appends rows unbuffered with ``fsync``; on a failed write (disk full) it
  truncates back to the last complete row and raises :class:`OutputError`.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.errors import CommentmodError

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
FINGERPRINT_VERSION = 1
_EDGE_BYTES = 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class OutputError(CommentmodError):
    """The output file cannot be written, locked or resumed."""


def output_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in OUTPUT_FORMATS:
        return suffix
    raise OutputError(f"output {path} has an unknown extension; use .jsonl, .csv or .parquet")


def journal_path(out: Path) -> Path:
    return out if output_format(out) == "jsonl" else out.with_name(out.name + ".partial.jsonl")


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


def fingerprint_path(out: Path) -> Path:
    return out.with_name(out.name + ".inputs.json")


def output_paths(out: Path) -> list[Path]:
    """Every file a run may write for ``out``."""
    paths = [out, journal_path(out), lock_path(out), fingerprint_path(out), out.with_name(out.name + ".tmp")]
    return list(dict.fromkeys(paths))


def describe_write_error(path: Path, exc: OSError) -> str:
    if exc.errno in _NO_SPACE:
        return (
            f"disk full (no space left, or the file size limit reached) while writing {path}: "
            f"{exc.strerror}; every complete row is kept - free some space and rerun with --resume"
        )
    return f"cannot write {path}: {exc}; every complete row is kept - fix it and rerun with --resume"


# --------------------------------------------------------------------------- output vs inputs


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def check_output_paths(out: Path, files: Sequence[Path], inputs: Iterable[str] = ()) -> None:
    """Refuse an output that would overwrite, or be read back as, an input (see the module docstring)."""
    if out.is_dir():
        raise OutputError(f"--out {out} is a directory; give a file name ending in .jsonl, .csv or .parquet")
    outs = output_paths(out)
    real_outs = {Path(os.path.realpath(p)): p for p in outs}
    inode_outs = {ino: p for p in outs if (ino := _inode(p)) is not None}
    for f in files:
        real, ino = Path(os.path.realpath(f)), _inode(f)
        hit = real_outs.get(real) or (inode_outs.get(ino) if ino is not None else None)
        if hit is not None:
            raise OutputError(
                f"--out {out} would write {hit}, which is the input file {f} (or a link to it); "
                "the input would be destroyed - choose an --out outside the inputs"
            )
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            folder = Path(os.path.realpath(path))
            for real, p in real_outs.items():
                if real.is_relative_to(folder):
                    raise OutputError(
                        f"--out {out} lies inside the input directory {item}, which is read recursively; "
                        f"{p.name} would be read back as input - write the output outside {item}"
                    )
        elif not path.exists() and any(c in item for c in "*?["):
            pattern = os.path.abspath(item)
            for p in outs:
                if fnmatch.fnmatch(os.path.abspath(p), pattern):
                    raise OutputError(
                        f"--out {out}: {p.name} matches the input pattern {item!r} and would be read "
                        "back as input on --resume - write the output elsewhere or narrow the pattern"
                    )


# --------------------------------------------------------------------------- lock


class OutputLock:
    """Exclusive lock on ``OUT.lock`` for one run (``with OutputLock(out): ...``); removed on exit."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = lock_path(out)
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise OutputError(
                    f"{self.out} is being written by another commentmod score (pid {holder}, lock "
                    f"{self.path}); wait for it to finish or choose another --out"
                ) from None
            # a finishing run unlinks the lock file: make sure we locked the file that is there now
            if _inode(self.path) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino):
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, str(os.getpid()).encode(), 0)
                except OSError as exc:
                    os.close(fd)
                    raise OutputError(describe_write_error(self.path, exc)) from exc
                self._fd = fd
                return self
            os.close(fd)
        raise OutputError(f"could not lock {self.path}: it keeps being replaced; is another run starting?")

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


# --------------------------------------------------------------------------- input fingerprint


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Identity of one input file: resolved path, size, mtime and sha256 of its first and last KiB."""
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            head = fh.read(_EDGE_BYTES)
            fh.seek(max(0, st.st_size - _EDGE_BYTES))
            tail = fh.read(_EDGE_BYTES)
    except OSError as exc:  # its reader reports it as an error row
        return {"path": os.path.realpath(path), "unreadable": exc.strerror or str(exc)}
    return {
        "path": os.path.realpath(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "head_sha256": _sha(head),
        "tail_sha256": _sha(tail),
    }


def input_fingerprint(files: Sequence[Path], settings: Mapping[str, Any]) -> dict[str, Any]:
    """What a run reads, in order, and how; stored beside the output and compared on ``--resume``."""
    return {
        "version": FINGERPRINT_VERSION,
        "settings": dict(settings),
        "files": [file_fingerprint(f) for f in files],
    }


_FILE_FIELDS = (
    ("unreadable", "readability"),
    ("size", "size"),
    ("mtime_ns", "modification time"),
    ("head_sha256", "first KiB"),
    ("tail_sha256", "last KiB"),
)


def fingerprint_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two fingerprints (empty when the inputs are unchanged)."""
    changes = []
    old_settings, new_settings = stored.get("settings", {}), current.get("settings", {})
    for key in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(key) != new_settings.get(key):
            changes.append(f"setting {key} was {old_settings.get(key)!r}, now {new_settings.get(key)!r}")
    old_files = {f["path"]: f for f in stored.get("files", [])}
    new_files = {f["path"]: f for f in current.get("files", [])}
    changes += [f"input {p} is no longer read" for p in old_files if p not in new_files]
    changes += [f"input {p} is new" for p in new_files if p not in old_files]
    for path, new in new_files.items():
        old = old_files.get(path)
        if old is None:
            continue
        what = [name for key, name in _FILE_FIELDS if old.get(key) != new.get(key)]
        if what:
            extra = f" ({old.get('size')} -> {new.get('size')} bytes)" if "size" in what else ""
            changes.append(f"input {path} changed: {', '.join(what)}{extra}")
    if not changes and [f["path"] for f in stored.get("files", [])] != list(new_files):
        changes.append("the inputs are read in a different order")
    return changes


def check_fingerprint(out: Path, current: Mapping[str, Any]) -> None:
    """Refuse to resume ``out`` when its inputs or reading settings changed since it was started."""
    path = fingerprint_path(out)
    if not path.exists():
        log.warning("%s has no input fingerprint (%s); cannot check that the inputs are unchanged", out, path)
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {path} ({exc}); start again with --overwrite") from exc
    changes = fingerprint_changes(stored, current)
    if changes:
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        raise OutputError(
            f"cannot resume {out}: the inputs changed since it was started ({shown}). Resuming would "
            "duplicate or skip records - restore the inputs, or score again with --overwrite"
        )


def write_fingerprint(out: Path, fingerprint: Mapping[str, Any]) -> None:
    path = fingerprint_path(out)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(fingerprint, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(describe_write_error(path, exc)) from exc


# --------------------------------------------------------------------------- the journal


@dataclass(frozen=True)
class JournalState:
    """What an existing journal held: ``rows`` complete rows kept, ``dropped_bytes`` of a torn tail cut."""

    rows: int = 0
    dropped_bytes: int = 0


def read_journal(journal: Path, model_id: str, on_row: Callable[[dict[str, Any]], None]) -> JournalState:
    """Count (and pass to ``on_row``) the complete rows of ``journal``; cut a torn last line."""
    rows = keep = 0
    with journal.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # torn last write of a killed run
            try:
                row = json.loads(raw)
            except ValueError:
                break
            if row.get("model") != model_id:
                raise OutputError(
                    f"{journal} was written with model {row.get('model')!r}, not {model_id!r}; "
                    "resume with the same model, or use --overwrite"
                )
            on_row(row)
            rows += 1
            keep += len(raw)
    size = journal.stat().st_size
    if size > keep:
        try:
            with journal.open("r+b") as fh:
                fh.truncate(keep)
        except OSError as exc:
            raise OutputError(describe_write_error(journal, exc)) from exc
    return JournalState(rows, size - keep)


def dump_row(row: Mapping[str, Any]) -> str:
    """One JSONL line; values JSON cannot hold (dates, bytes) are written as their ``str``."""
    return json.dumps(row, ensure_ascii=False, default=str) + "\n"


class JournalWriter:
    """Appends rows to the journal, one ``fsync`` per batch; a failed write leaves only complete rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fh = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise OutputError(describe_write_error(path, exc)) from exc
        self.size = os.fstat(self._fh.fileno()).st_size

    def write_lines(self, lines: Sequence[str]) -> None:
        """Append complete JSONL lines; text that UTF-8 cannot hold is replaced, never an error."""
        data = "".join(lines).encode("utf-8", errors="replace")
        view = memoryview(data)
        try:
            while view:
                written = self._fh.write(view)
                if not written:
                    raise OSError(errno.ENOSPC, "the file system accepted no more bytes")
                view = view[written:]
            os.fsync(self._fh.fileno())
        except OSError as exc:
            self._rollback()
            raise OutputError(describe_write_error(self.path, exc)) from exc
        self.size += len(data)

    def _rollback(self) -> None:
        try:
            os.ftruncate(self._fh.fileno(), self.size)
        except OSError as exc:  # the torn line is cut by read_journal on --resume anyway
            log.warning("could not cut the partial row at the end of %s: %s", self.path, exc)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

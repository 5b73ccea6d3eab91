"""Progress of a batch run: a tqdm bar on a terminal, periodic log lines elsewhere (cron, CI, pipes).

The total is an estimate made without parsing the inputs: Parquet footers give exact row
counts, JSONL and CSV files are counted by their line breaks (a byte scan, capped at
:data:`COUNT_BYTES_CAP`); any other input (XML, pages) leaves the total unknown, and
progress then shows records done and records/s without an ETA.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger("commentmod.score")

COUNT_BYTES_CAP = 4 << 30  # JSONL/CSV bytes scanned for line breaks before the total is left unknown
_LINE_COUNTED = {"jsonl": (".jsonl", ".ndjson"), "csv": (".csv", ".tsv")}


def _kind(path: Path, fmt: str) -> str | None:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return next((kind for kind, ends in _LINE_COUNTED.items() if suffix in ends), None)


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def estimate_records(files: Sequence[Path], fmt: str = "auto") -> int | None:
    """About how many records ``files`` hold, or ``None`` when that cannot be known cheaply."""
    total = scanned = 0
    for path in files:
        kind = _kind(path, fmt)
        try:
            if kind == "parquet":
                import pyarrow.parquet as pq

                total += pq.ParquetFile(str(path)).metadata.num_rows
                continue
            if kind not in _LINE_COUNTED:
                return None
            scanned += path.stat().st_size
            if scanned > COUNT_BYTES_CAP:
                return None
            total += max(0, _count_lines(path) - (kind == "csv"))
        except Exception:  # an unreadable file is reported by its reader, not here
            log.debug("cannot estimate the records of %s", path, exc_info=True)
            return None
    return total


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``start(initial)`` once (rows kept by a resume), then ``update(n)`` per batch, ``close()`` at the end.

    On a terminal it draws a tqdm bar; otherwise it logs a line every ``interval`` seconds.
    """

    def __init__(
        self,
        total: int | None = None,
        interval: float = 10.0,
        stream: TextIO | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.total = total
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.done = 0
        self._initial = 0
        self._bar: Any = None
        self._started = self._last = time.monotonic()

    def start(self, initial: int = 0) -> None:
        self.done = self._initial = initial
        self._started = self._last = time.monotonic()
        if self.terminal:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total, initial=initial, unit="rec", desc="scoring", file=self.stream, smoothing=0.1
            )

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """``scored 1,200 of about 5,000 records (24%), 150.2 records/s, ETA 0:00:25``."""
        elapsed = max(1e-9, (now if now is not None else time.monotonic()) - self._started)
        rate = (self.done - self._initial) / elapsed
        if self.total:
            parts = [f"scored {self.done:,} of about {self.total:,} records ({self.done / self.total:.0%})"]
        else:
            parts = [f"scored {self.done:,} records"]
        parts.append(f"{rate:.1f} records/s")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_clock((self.total - self.done) / rate)}")
        return ", ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

"""Progress of a batch run: a tqdm bar on a terminal, periodic log lines elsewhere (cron, CI, pipes).

Nothing is read to count the records first: the fraction done and the ETA come from the bytes of
the inputs read so far against their total size (a :class:`ReadMeter` the readers keep up to
date, attached with :meth:`Progress.measure`). Without one, or when the inputs are empty,
progress shows records done and records/s only.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from .readers.meter import ReadMeter

log = logging.getLogger("commentmod.score")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _size(n: float) -> str:
    """``812 B``, ``4.2 MB``, ``1.3 GB`` (decimal units)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # not reached


class Progress:
    """``start(initial)`` once (rows kept by a resume), then ``update(n)`` per batch, ``close()`` at the end.

    On a terminal it draws a tqdm bar (in bytes of the inputs when measured, else in records);
    otherwise it logs a line every ``interval`` seconds.
    """

    def __init__(
        self, interval: float = 10.0, stream: TextIO | None = None, terminal: bool | None = None
    ) -> None:
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.meter: ReadMeter | None = None
        self.done = 0
        self._initial = 0
        self._bytes0 = 0
        self._bar: Any = None
        self._started = self._last = time.monotonic()

    def measure(self, meter: ReadMeter) -> None:
        """Take the fraction done from ``meter`` (bytes of the inputs read against their total)."""
        self.meter = meter

    @property
    def total_bytes(self) -> int | None:
        """Bytes of every input, when measured and not empty."""
        return self.meter.total if self.meter is not None and self.meter.total > 0 else None

    def _bytes(self) -> int:
        return self.meter.bytes_read if self.meter is not None else 0

    def start(self, initial: int = 0) -> None:
        """Start the clock; ``initial`` records (kept by a resume) and the bytes read to skip them
        are left out of the rates."""
        self.done = self._initial = initial
        self._bytes0 = self._bytes()
        self._started = self._last = time.monotonic()
        if self.terminal:
            from tqdm import tqdm

            total = self.total_bytes
            if total is None:
                self._bar = tqdm(initial=initial, unit="rec", desc="scoring", file=self.stream, smoothing=0.1)
            else:
                self._bar = tqdm(
                    total=total,
                    initial=self._bytes0,
                    unit="B",
                    unit_scale=True,
                    desc="scoring",
                    file=self.stream,
                    smoothing=0.1,
                )

    def update(self, n: int) -> None:
        """``n`` more records written."""
        self.done += n
        if self._bar is not None:
            if self.total_bytes is None:
                self._bar.update(n)
            else:
                self._bar.set_postfix_str(f"{self.done:,} records", refresh=False)
                self._bar.update(self._bytes() - self._bar.n)
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """``scored 1,200 records (24% of 5.0 MB read), 150.2 records/s, ETA 0:00:25``."""
        elapsed = max(1e-9, (now if now is not None else time.monotonic()) - self._started)
        rate = (self.done - self._initial) / elapsed
        total, read = self.total_bytes, self._bytes()
        head = f"scored {self.done:,} records"
        if total:
            head += f" ({min(read, total) / total:.0%} of {_size(total)} read)"
        parts = [head, f"{rate:.1f} records/s"]
        byte_rate = (read - self._bytes0) / elapsed
        if total and byte_rate > 0 and read < total:
            parts.append(f"ETA {_clock((total - read) / byte_rate)}")
        return ", ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

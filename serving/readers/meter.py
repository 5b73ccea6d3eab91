"""How many bytes of a run's input files the readers have read so far (for progress, not a count).

The batch pipeline makes one :class:`ReadMeter` for the whole run (``total``: the bytes of every
input file), calls :meth:`ReadMeter.begin` / :meth:`ReadMeter.end` around each file, and passes
it to :func:`commentmod.serving.readers.read_file`; the readers report where they are in the file
they read - the binary handle they read through (:meth:`ReadMeter.watch`: JSONL, CSV, XML,
pages), or the fraction done (:meth:`ReadMeter.reached`: Parquet row groups). Nothing is read
twice for it: progress compares :attr:`ReadMeter.bytes_read` with :attr:`ReadMeter.total`.
"""

from __future__ import annotations

import contextlib
from typing import Protocol


class Handle(Protocol):
    """What the meter needs of a file handle: its position, and whether it is closed."""

    @property
    def closed(self) -> bool: ...

    def tell(self) -> int: ...


class ReadMeter:
    """Bytes of the inputs read so far: the files finished plus the offset reached in the open one."""

    def __init__(self, total: int = 0) -> None:
        self.total = total
        self._done = 0  # bytes of the files finished
        self._size = 0  # bytes of the file being read
        self._offset = 0  # offset reported with reached()
        self._fh: Handle | None = None

    def begin(self, size: int) -> None:
        """A file of ``size`` bytes is about to be read."""
        self._size, self._offset, self._fh = max(0, size), 0, None

    def watch(self, fh: Handle) -> None:
        """The binary handle the current file is read through (its position is the progress)."""
        self._fh = fh

    def reached(self, fraction: float) -> None:
        """The reader is ``fraction`` (0 to 1) of the way through the current file."""
        self._offset = max(self._offset, int(self._size * min(1.0, max(0.0, fraction))))

    def end(self) -> None:
        """The current file is finished (read whole, or given up on)."""
        self._done += self._size
        self._size, self._offset, self._fh = 0, 0, None

    @property
    def bytes_read(self) -> int:
        """Bytes read so far, at most :attr:`total` when the files did not grow."""
        offset = self._offset
        fh = self._fh
        if fh is not None:
            with contextlib.suppress(OSError, ValueError):  # unseekable or detached: the last offset stands
                offset = self._size if fh.closed else max(offset, fh.tell())
        return self._done + min(offset, self._size)

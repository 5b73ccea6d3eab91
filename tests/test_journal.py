"""The output side of a batch run: output-vs-input checks, the lock, the input fingerprint, the journal."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from commentmod.serving.journal import (
    JournalWriter,
    OutputError,
    OutputLock,
    check_fingerprint,
    check_output_paths,
    fingerprint_changes,
    fingerprint_path,
    input_fingerprint,
    journal_path,
    lock_path,
    read_journal,
    write_fingerprint,
)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "x.jsonl"
    path.parent.mkdir()
    path.write_text('{"id": "a", "text": "hi"}\n', encoding="utf-8")
    return path


def test_output_equal_to_an_input_is_refused(src: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is the input file"):
        check_output_paths(src, [src])
    link = tmp_path / "link.jsonl"
    link.symlink_to(src)
    with pytest.raises(OutputError, match="is the input file"):
        check_output_paths(link, [src])
    hard = tmp_path / "hard.jsonl"
    os.link(src, hard)
    with pytest.raises(OutputError, match="is the input file"):
        check_output_paths(hard, [src])
    # an input named through a symlinked directory is still the same file
    alias = tmp_path / "alias"
    alias.symlink_to(src.parent)
    with pytest.raises(OutputError, match="is the input file"):
        check_output_paths(src, [alias / "x.jsonl"])


def test_sidecars_of_the_output_may_not_be_inputs(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    journal_path(out).write_text("", encoding="utf-8")
    with pytest.raises(OutputError, match=r"scores\.csv\.partial\.jsonl, which is the input file"):
        check_output_paths(out, [journal_path(out)])


def test_output_inside_an_expanded_directory_or_matching_a_glob_is_refused(src: Path, tmp_path: Path) -> None:
    folder = src.parent
    with pytest.raises(OutputError, match="inside the input directory"):
        check_output_paths(folder / "sub" / "out.jsonl", [src], [str(folder)])
    pattern = str(folder / "*.jsonl")
    with pytest.raises(OutputError, match="matches the input pattern"):
        check_output_paths(folder / "out.jsonl", [src], [pattern])
    with pytest.raises(OutputError, match="matches the input pattern"):  # the CSV journal would match
        check_output_paths(folder / "out.csv", [src], [pattern])
    with pytest.raises(OutputError, match="is a directory"):
        check_output_paths(folder, [src], [str(src)])
    check_output_paths(tmp_path / "out.jsonl", [src], [str(folder), pattern])  # outside: fine
    check_output_paths(folder / "out.jsonl", [src], [str(src)])  # beside a file input: fine


_HOLD = """
import sys, time
from pathlib import Path
from commentmod.serving.journal import OutputLock
with OutputLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_lock_is_exclusive_across_processes_and_names_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match=rf"another commentmod score \(pid {holder.pid}"):
            OutputLock(out).__enter__()
    finally:
        holder.communicate("\n", timeout=30)
    assert not lock_path(out).exists()
    with OutputLock(out):  # free again
        assert lock_path(out).read_text() == str(os.getpid())


def test_a_stale_lock_file_of_a_killed_run_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lock_path(out).write_text("12345")  # left by kill -9: the kernel released its flock
    with OutputLock(out):
        pass
    assert not lock_path(out).exists()


def test_fingerprint_changes_name_what_changed(src: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text("x" * 5000, encoding="utf-8")
    before = input_fingerprint([src, other], {"format": "auto"})
    assert fingerprint_changes(before, input_fingerprint([src, other], {"format": "auto"})) == []
    src.write_text('{"id": "new"}\n' + src.read_text(encoding="utf-8"), encoding="utf-8")
    changes = fingerprint_changes(before, input_fingerprint([src, other], {"format": "jsonl"}))
    assert "setting format was 'auto', now 'jsonl'" in changes
    assert any(c.startswith(f"input {src} changed: size") and "bytes)" in c for c in changes)
    # same size, same first and last KiB, edited in the middle: the modification time tells
    data = other.read_bytes()
    other.write_bytes(data[:2500] + b"y" + data[2501:])
    os.utime(other, ns=(0, 10**18))
    changes = fingerprint_changes(before, input_fingerprint([src, other], {"format": "auto"}))
    assert any(str(other) in c and c.endswith("changed: modification time") for c in changes)
    removed = fingerprint_changes(before, input_fingerprint([src], {"format": "auto"}))
    assert any("is no longer read" in c for c in removed)
    swapped = fingerprint_changes(before, {**before, "files": before["files"][::-1]})
    assert swapped == ["the inputs are read in a different order"]


def test_check_fingerprint_refuses_changes_and_unreadable_files(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    fp = input_fingerprint([src], {})
    check_fingerprint(out, fp)  # none stored (older output): a warning, not an error
    write_fingerprint(out, fp)
    check_fingerprint(out, fp)
    with pytest.raises(
        OutputError, match=r"cannot resume .* restore the inputs, or score again with --overwrite"
    ):
        check_fingerprint(out, input_fingerprint([src, fingerprint_path(out)], {}))
    fingerprint_path(out).write_text("{not json", encoding="utf-8")
    with pytest.raises(OutputError, match=r"cannot read .*--overwrite"):
        check_fingerprint(out, fp)


def test_read_journal_cuts_a_torn_line_and_checks_the_model(tmp_path: Path) -> None:
    journal = tmp_path / "out.jsonl"
    rows = [{"id": f"r{i}", "model": "m@1"} for i in range(3)]
    journal.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "r3", "mo', encoding="utf-8")
    seen: list[dict[str, Any]] = []
    state = read_journal(journal, "m@1", seen.append)
    assert state.rows == 3 and state.dropped_bytes == len('{"id": "r3", "mo') and len(seen) == 3
    assert journal.read_text(encoding="utf-8").endswith("}\n")
    with pytest.raises(OutputError, match="written with model 'm@1'"):
        read_journal(journal, "other@2", seen.append)


class _FullDisk:
    """A file that takes ``room`` more bytes, then fails like a full disk (a torn partial write)."""

    def __init__(self, real: Any, room: int) -> None:
        self.real, self.room = real, room

    def write(self, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = self.real.write(data[: self.room])
        self.room -= n
        return n

    def fileno(self) -> int:
        return self.real.fileno()

    def close(self) -> None:
        self.real.close()


def test_journal_writer_on_a_full_disk_keeps_only_complete_rows(tmp_path: Path) -> None:
    journal = tmp_path / "out.jsonl"
    writer = JournalWriter(journal)
    writer.write_lines(['{"id": "a"}\n', '{"id": "b"}\n'])
    writer._fh = _FullDisk(writer._fh, room=7)  # type: ignore[assignment]
    with pytest.raises(OutputError, match=r"disk full \(no space left.*out.jsonl.*--resume"):
        writer.write_lines(['{"id": "c"}\n', '{"id": "d"}\n'])
    writer.close()
    assert journal.read_text(encoding="utf-8") == '{"id": "a"}\n{"id": "b"}\n'


def test_journal_writer_replaces_what_utf8_cannot_hold(tmp_path: Path) -> None:
    journal = tmp_path / "out.jsonl"
    with JournalWriter(journal) as writer:
        writer.write_lines(['{"text": "a\udc80b"}\n'])
    assert json.loads(journal.read_text(encoding="utf-8")) == {"text": "a?b"}

"""The label store's SQLite schema (version :data:`SCHEMA_VERSION`) and opening a store.

Tables:

- ``meta(key, value)``: ``schema_version`` and ``created_at``.
- ``imports``: one row per import that added something: file path, SHA-256, format, licence, time,
  and its counts.
- ``comments``: one row per comment id: text, article, language, licence (from the latest import
  that decided on it).
- ``decisions``: one row per (row of a file, label) judged: the value, the moderator (``""`` when
  unknown), the decision time (NULL when unknown), ``effective_at`` (the decision time, else the
  import's time; what "latest" orders by), and the provenance (import, file hash, line, part).
  Two unique keys make imports idempotent: the place in the file
  ``(source_sha256, source_line, source_part, label)`` and, for timed decisions, the content
  ``(comment_id, label, moderator, decided_at, value)`` (so overlapping exports add nothing).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from ...model.labels import LABELS
from .decisions import LabelStoreError

SCHEMA_VERSION = 1
_LABEL_CHECK = ", ".join(f"'{name}'" for name in LABELS)  # constants of the code, not user input

SCHEMA_SQL = f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    file_path TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    format TEXT NOT NULL,
    licence TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    rows_imported INTEGER NOT NULL DEFAULT 0,
    rows_duplicate INTEGER NOT NULL DEFAULT 0,
    rows_bad INTEGER NOT NULL DEFAULT 0,
    rows_skipped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE comments (
    comment_id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    lang TEXT NOT NULL DEFAULT 'und',
    article_id TEXT,
    article_title TEXT,
    article_text TEXT,
    licence TEXT NOT NULL,
    import_id INTEGER NOT NULL REFERENCES imports(id)
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    comment_id TEXT NOT NULL REFERENCES comments(comment_id),
    label TEXT NOT NULL CHECK (label IN ({_LABEL_CHECK})),
    value INTEGER NOT NULL CHECK (value IN (0, 1)),
    moderator TEXT NOT NULL DEFAULT '',
    decided_at TEXT,
    effective_at TEXT NOT NULL,
    import_id INTEGER NOT NULL REFERENCES imports(id),
    source_sha256 TEXT NOT NULL,
    source_line INTEGER NOT NULL,
    source_part INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source_sha256, source_line, source_part, label),
    UNIQUE (comment_id, label, moderator, decided_at, value)
);
CREATE INDEX decisions_by_comment ON decisions (comment_id, label);
"""


def utc_now() -> str:
    """The current time in the store's time format (ISO 8601 UTC, microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise LabelStoreError(
            f"{path} is not a usable SQLite label store ({exc}); pass --store with a labels.sqlite "
            "written by `commentmod labels import`, or a new path"
        ) from None
    return conn


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        _run_schema(conn)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("schema_version", str(SCHEMA_VERSION)), ("created_at", utc_now())],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _run_schema(conn: sqlite3.Connection) -> None:
    # executescript() would COMMIT the open transaction first; run the statements one by one instead
    for statement in SCHEMA_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    found = row[0] if row else "missing"
    if found != str(SCHEMA_VERSION):
        raise LabelStoreError(
            f"label store {path} has schema version {found}; this commentmod reads version "
            f"{SCHEMA_VERSION}. Use the commentmod that wrote it, or import into a new store"
        )


def open_store(path: Path | str, *, create: bool) -> sqlite3.Connection:
    """A connection to the store at ``path`` (WAL mode, foreign keys on, autocommit: callers BEGIN).

    ``create`` makes a new store (and its folder) when ``path`` does not exist; otherwise a missing
    store is a :class:`LabelStoreError`.
    """
    path = Path(path)
    if not path.exists():
        if not create:
            raise LabelStoreError(
                f"label store {path} does not exist; create it with `commentmod labels import FILE "
                f"--store {path} --format ...`"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path)
    try:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if has_meta is None:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise LabelStoreError(
                    f"{path} is an SQLite database but not a label store (no meta table); "
                    "pass another --store path"
                )
            _create(conn)
        _check_version(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LabelStoreError(
            f"{path} is not a usable SQLite label store ({exc}); pass another --store"
        ) from None
    except LabelStoreError:
        conn.close()
        raise
    return conn

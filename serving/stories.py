"""The story store: articles (id, URL, title, start of the text) in SQLite, for the Coral endpoint.

Coral's moderation request names the story by its id and URL only (no title, no text), so the
endpoint looks the article up here: by id first, then by normalised URL (:func:`url_key`: no
scheme, no ``www.``, no default port, no fragment, no tracking parameters, no trailing slash,
percent-encoding made uniform), so ``https://www.example.org/a/?utm_source=x`` finds
``http://example.org/a``. Filled by ``commentmod stories import`` (:mod:`.stories_import`).

Schema (version :data:`SCHEMA_VERSION`): ``meta(key, value)`` holds ``schema_version`` and
``created_at``; ``stories(id PRIMARY KEY, url, url_key, title, text, source, updated_at)`` with an
index on ``url_key``. Writes are upserts by id, so importing the same file again changes nothing
but ``updated_at``. WAL mode: the server reads while an import writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from ..model.errors import CommentmodError

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS stories (id TEXT PRIMARY KEY, url TEXT, url_key TEXT, title TEXT, "
    "text TEXT, source TEXT, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS stories_by_url ON stories (url_key)",
)
_UPSERT = (
    "INSERT INTO stories (id, url, url_key, title, text, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET url = excluded.url, url_key = excluded.url_key, "
    "title = excluded.title, text = excluded.text, source = excluded.source, updated_at = excluded.updated_at"
)
_BY_ID = "SELECT id, url, title, text FROM stories WHERE id = ?"
_BY_URL = (
    "SELECT id, url, title, text FROM stories WHERE url_key = ? ORDER BY updated_at DESC, rowid DESC LIMIT 1"
)
_TRACKING = frozenset({"fbclid", "gclid", "dclid", "msclkid", "igshid", "mc_cid", "mc_eid", "_ga", "amp"})
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
BATCH = 500


class StoryStoreError(CommentmodError):
    """The story store is missing, not a story store, or of another schema version."""


@dataclass(frozen=True)
class Story:
    """One article: ``id`` (the CMS's or Coral's story id), its URL, title and start of the text."""

    id: str
    url: str | None = None
    title: str | None = None
    text: str | None = None

    @property
    def has_context(self) -> bool:
        """Whether the story gives the model any article context (a title or text)."""
        return bool((self.title or "").strip() or (self.text or "").strip())


def url_key(url: str | None) -> str | None:
    """The lookup key of a URL (see the module docstring), or None for an empty one."""
    url = (url or "").strip()
    if not url:
        return None
    if "://" not in url and not url.startswith("//"):
        url = "//" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed port or IPv6 literal: the text itself is the key
        return url.casefold()
    host = (parts.hostname or "").removeprefix("www.")
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE).rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING
    ]
    return netloc + path + (f"?{urlencode(sorted(query))}" if query else "")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StoryStore:
    """The SQLite file at ``path``; ``create=True`` makes it (and its schema) when missing.

    Thread-safe: one connection behind a lock (lookups are one indexed query)."""

    def __init__(self, path: Path | str, *, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoryStoreError(
                f"story store {self.path} does not exist; fill it first with "
                f"`commentmod stories import FILE --stories {self.path}`"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = self._open(create)

    def _open(self, create: bool) -> sqlite3.Connection:
        mode = "rwc" if create else "rw"
        try:
            conn = sqlite3.connect(
                f"file:{quote(str(self.path.resolve()))}?mode={mode}",
                uri=True,
                isolation_level=None,
                timeout=30.0,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            if create:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?), ('created_at', ?)",
                    (str(SCHEMA_VERSION), _now()),
                )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoryStoreError(
                f"{self.path} is not a usable story store ({exc}); pass a file written by "
                "`commentmod stories import`, or a new path"
            ) from None
        found = row[0] if row else "missing"
        if found != str(SCHEMA_VERSION):
            conn.close()
            raise StoryStoreError(
                f"story store {self.path} has schema version {found}; this commentmod reads version "
                f"{SCHEMA_VERSION}: import the stories again into a new file"
            )
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StoryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def upsert(self, stories: Iterable[Story], source: str = "") -> int:
        """Insert or replace ``stories`` by id (committed every :data:`BATCH`); how many were written."""
        written = 0
        batch: list[tuple[str | None, ...]] = []
        now = _now()
        for story in stories:
            batch.append((story.id, story.url, url_key(story.url), story.title, story.text, source, now))
            if len(batch) >= BATCH:
                written += self._write(batch)
                batch = []
        return written + (self._write(batch) if batch else 0)

    def _write(self, rows: list[tuple[str | None, ...]]) -> int:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_UPSERT, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(rows)

    def get(self, story_id: str | None = None, url: str | None = None) -> Story | None:
        """The story with this id, else the latest updated one with this URL (:func:`url_key`), else None."""
        key = url_key(url)
        with self._lock:
            row = None
            if story_id:
                row = self._conn.execute(_BY_ID, (story_id,)).fetchone()
            if row is None and key is not None:
                row = self._conn.execute(_BY_URL, (key,)).fetchone()
        return None if row is None else Story(*row)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM stories").fetchone()[0])

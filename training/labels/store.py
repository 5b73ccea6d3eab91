"""The label store: moderators' decisions in SQLite, imported idempotently and read back resolved.

:class:`LabelStore` imports a file (one transaction per import, nothing kept when nothing new was
found), resolves conflicting decisions (:mod:`.resolve`), and gives the resolved labels back as
:class:`~commentmod.model.record.CommentRecord` (:meth:`LabelStore.records`), with a stable hash of
them (:meth:`LabelStore.snapshot_hash`) and counts (:meth:`LabelStore.stats`). Schema: :mod:`.schema`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from ...model.labels import LABELS
from ...model.record import CommentRecord
from ..data.licences import KNOWN_LICENCES
from .decisions import BadRow, Decision, LabelStoreError, Parsed, SkippedRow
from .importers import FORMATS, parse_source, read_source
from .resolve import Resolution, Vote, resolve
from .schema import SCHEMA_VERSION, open_store, utc_now
from .summary import ImportReport, LabelCounts, StoreStats

SOURCE = "label-store"  # CommentRecord.source of the store's records; ids are "label-store:<comment id>"
DEFAULT_LICENCE = "proprietary"  # the site's own data (training.data.licences.OWN_LICENCES)

_UPDATE_COMMENT = """
UPDATE comments SET
    text = ?,
    lang = CASE WHEN ? = 'und' THEN lang ELSE ? END,
    article_id = COALESCE(?, article_id),
    article_title = COALESCE(?, article_title),
    article_text = COALESCE(?, article_text),
    licence = ?,
    import_id = ?
WHERE comment_id = ?
"""
_INSERT_DECISION = """
INSERT INTO decisions (comment_id, label, value, moderator, decided_at, effective_at, import_id,
                       source_sha256, source_line, source_part)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""


def check_licence(licence: str) -> str:
    """``licence`` when the data catalog knows it, else a :class:`LabelStoreError`."""
    if licence not in KNOWN_LICENCES:
        raise LabelStoreError(
            f"licence {licence!r} is not one the data catalog knows; use {DEFAULT_LICENCE!r} for the "
            f"site's own decisions, or one of {', '.join(KNOWN_LICENCES)}"
        )
    return licence


class LabelStore:
    """Moderators' decisions in the SQLite file ``path`` (created on first use unless ``create=False``)."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        self._conn = open_store(self.path, create=create)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- import ------------------------------------------------------------------------------------

    def import_file(
        self,
        path: Path | str,
        fmt: str,
        *,
        licence: str = DEFAULT_LICENCE,
        reason_map: Mapping[str, tuple[str, ...]] | None = None,
    ) -> ImportReport:
        """Import the file at ``path`` in format ``fmt`` (one of :data:`~.importers.FORMATS`).

        Raises :class:`LabelStoreError` when the file cannot be read as that format; bad rows are
        reported in the returned :class:`ImportReport` and skipped.
        """
        if fmt not in FORMATS:
            raise LabelStoreError(f"unknown import format {fmt!r}; use one of {', '.join(FORMATS)}")
        source = read_source(path)
        rows = parse_source(source, fmt, reason_map=reason_map)
        return self.import_rows(rows, file=str(path), sha256=source.sha256, fmt=fmt, licence=licence)

    def import_rows(
        self, rows: Iterable[Parsed], *, file: str, sha256: str, fmt: str, licence: str = DEFAULT_LICENCE
    ) -> ImportReport:
        """Import parsed rows in one transaction; rolled back when no row added a decision."""
        check_licence(licence)
        report = ImportReport(file=file, sha256=sha256, format=fmt)
        now = utc_now()
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            import_id = conn.execute(
                "INSERT INTO imports (file_path, file_sha256, format, licence, imported_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (file, sha256, fmt, licence, now),
            ).lastrowid
            assert import_id is not None
            for row in rows:
                self._import_row(row, report, import_id=import_id, now=now, licence=licence)
            if report.imported == 0:
                conn.execute("ROLLBACK")
                return report
            conn.execute(
                "UPDATE imports SET rows_imported = ?, rows_duplicate = ?, rows_bad = ?, rows_skipped = ? "
                "WHERE id = ?",
                (report.imported, report.duplicates, len(report.bad), len(report.skipped), import_id),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise LabelStoreError(
                f"label store {self.path}: import of {file} failed ({exc}); nothing was kept"
            ) from None
        except BaseException:
            _rollback(conn)
            raise
        return report

    def _import_row(
        self, row: Parsed, report: ImportReport, *, import_id: int, now: str, licence: str
    ) -> None:
        if isinstance(row, BadRow):
            report.bad.append(row)
        elif isinstance(row, SkippedRow):
            report.skipped.append(row)
        else:
            added = self._add(row, import_id=import_id, sha256=report.sha256, now=now, licence=licence)
            if added:
                report.imported += 1
                report.decisions += added
            else:
                report.duplicates += 1

    def _add(self, row: Decision, *, import_id: int, sha256: str, now: str, licence: str) -> int:
        """Store ``row``'s judged labels; the number of decisions that were new."""
        conn = self._conn
        conn.execute(
            "INSERT INTO comments (comment_id, text, lang, article_id, article_title, article_text, "
            "licence, import_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (comment_id) DO NOTHING",
            (row.comment_id, row.text, row.lang, row.article_id, row.article_title, row.article_text,
             licence, import_id),
        )  # fmt: skip
        added = 0
        for label, value in row.judged().items():
            cursor = conn.execute(
                _INSERT_DECISION,
                (row.comment_id, label, value, row.moderator, row.decided_at, row.decided_at or now,
                 import_id, sha256, row.line, row.part),
            )  # fmt: skip
            added += cursor.rowcount
        if added:
            conn.execute(
                _UPDATE_COMMENT,
                (row.text, row.lang, row.lang, row.article_id, row.article_title, row.article_text,
                 licence, import_id, row.comment_id),
            )  # fmt: skip
        return added

    # -- read ----------------------------------------------------------------------------------------

    def _votes(self) -> dict[tuple[str, str], list[Vote]]:
        votes: dict[tuple[str, str], list[Vote]] = defaultdict(list)
        for cid, label, value, moderator, effective, import_id, line, part, ident in self._conn.execute(
            "SELECT comment_id, label, value, moderator, effective_at, import_id, source_line, "
            "source_part, id FROM decisions"
        ):
            votes[cid, label].append(Vote(value, moderator, (effective, import_id, line, part, ident)))
        return votes

    def resolved(self) -> dict[str, dict[str, Resolution]]:
        """Per comment id, the resolution of each label it has decisions on (see :mod:`.resolve`)."""
        out: dict[str, dict[str, Resolution]] = defaultdict(dict)
        for (cid, label), votes in self._votes().items():
            out[cid][label] = resolve(votes)
        return dict(out)

    def records(self) -> list[CommentRecord]:
        """The resolved labels as records, sorted by id; labels without decisions are None.

        ``id`` is ``label-store:<comment id>``, ``source`` ``label-store``, ``licence`` the one of the
        latest import that decided on the comment, ``group`` its article (when known).
        """
        resolved = self.resolved()
        records = []
        for cid, text, lang, article_id, title, body, licence in self._conn.execute(
            "SELECT comment_id, text, lang, article_id, article_title, article_text, licence "
            "FROM comments ORDER BY comment_id"
        ):
            labels = {name: res.value for name, res in resolved.get(cid, {}).items()}
            if not labels:
                continue
            records.append(
                CommentRecord(
                    id=f"{SOURCE}:{cid}",
                    text=text,
                    source=SOURCE,
                    licence=licence,
                    lang=lang,
                    article_title=title,
                    article_text=body,
                    labels=labels,
                    group=f"{SOURCE}:article:{article_id}" if article_id else None,
                )
            )
        return records

    def snapshot_hash(self) -> str:
        """SHA-256 (hex) of the resolved records (canonical JSON, one per line, sorted by id).

        Equal stores give equal hashes whatever order the decisions came in; any change to a
        resolved label, a text, an article or a licence changes it.
        """
        digest = hashlib.sha256()
        for record in self.records():
            line = json.dumps(record.to_row(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            digest.update(line.encode("utf-8") + b"\n")
        return digest.hexdigest()

    def stats(self) -> StoreStats:
        """Counts per label x language (resolved), conflicts by rule, decisions per moderator."""
        conn = self._conn
        resolved = self.resolved()
        by_label_lang: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        conflicts: Counter[str] = Counter()
        for cid, lang in conn.execute("SELECT comment_id, lang FROM comments"):
            labels = resolved.get(cid, {})
            for name in LABELS:
                res = labels.get(name)
                kind = "unjudged" if res is None else ("positives" if res.value else "negatives")
                by_label_lang[name, lang][kind] += 1
                if res is not None and res.conflict:
                    conflicts[res.rule] += 1
        moderators = dict(conn.execute("SELECT moderator, count(*) FROM decisions GROUP BY moderator"))
        return StoreStats(
            path=str(self.path),
            schema_version=SCHEMA_VERSION,
            imports=conn.execute("SELECT count(*) FROM imports").fetchone()[0],
            comments=conn.execute("SELECT count(*) FROM comments").fetchone()[0],
            decisions=conn.execute("SELECT count(*) FROM decisions").fetchone()[0],
            by_label_lang={key: LabelCounts(**counts) for key, counts in by_label_lang.items()},
            conflicts=dict(conflicts),
            moderators=moderators,
        )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")

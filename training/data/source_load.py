"""Loading one catalog source: run its converter, make its records catalog-consistent, cap them.

A missing folder or converter module is a skip with a warning; a converter that fails is a skip too,
unless the build is ``strict``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...model.errors import CommentmodError
from ...model.inputs import clean_text
from ...model.record import CommentRecord
from .build_io import DataBuildError
from .catalog import CatalogError, SourceSpec
from .converters import Converter, get_converter
from .sampling import cap_records, limit_positive_rate

logger = logging.getLogger(__name__)

ConverterLookup = Callable[[str], Converter]
# what a converter raises on bad input: the source is skipped (or the strict build stops)
_CONVERTER_FAILURES = (CommentmodError, OSError, ValueError, KeyError, IndexError, TypeError)


@dataclass
class SourceLoad:
    """What loading one source gave."""

    spec: SourceSpec
    records: list[CommentRecord] = field(default_factory=list)
    status: str = "used"
    reason: str = ""
    read: int = 0
    dropped_lang: int = 0
    dropped_empty: int = 0
    dropped_cap: int = 0
    capped_positives: int = 0
    dropped_positive_rate: int = 0
    seconds: float = 0.0


def _prefixed(value: str, name: str) -> str:
    return value if value.startswith(name + ":") else f"{name}:{value}"


def adopt_record(rec: CommentRecord, spec: SourceSpec) -> CommentRecord:
    """Make a converter's record consistent with its catalog entry.

    Source and licence come from the catalog; id and group are prefixed with the source name so
    they are unique across sources; the text is cleaned (NFC, no BOM/zero-width); an ``und``
    language becomes the source's language when the source has only one.
    """
    lang = rec.lang
    if lang in ("", "und") and len(spec.languages) == 1:
        lang = spec.languages[0]
    group = rec.group or f"{rec.source}:{rec.id}"
    return replace(
        rec,
        id=_prefixed(rec.id, spec.name),
        text=clean_text(rec.text),
        source=spec.name,
        licence=spec.licence,
        lang=lang,
        group=_prefixed(group, spec.name),
    )


def check_params(convert: Converter, params: Mapping[str, Any], spec: SourceSpec) -> None:
    """Raise :class:`CatalogError` when the catalog passes a keyword ``convert`` does not take."""
    try:
        sig = inspect.signature(convert)
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return
    accepted = [n for n, p in sig.parameters.items() if p.kind is not inspect.Parameter.POSITIONAL_ONLY]
    unknown = [k for k in params if k not in accepted]
    if unknown:
        raise CatalogError(
            f"source {spec.name}: params {unknown} are not accepted by converter {spec.converter}.convert; "
            f"it takes {', '.join(accepted[1:]) or 'no parameters'}"
        )


def _find_converter(spec: SourceSpec, lookup: ConverterLookup, result: SourceLoad) -> Converter | None:
    """The source's ``convert``, or None (``result`` marked skipped) when its module does not exist."""
    try:
        return lookup(spec.converter)
    except KeyError as exc:
        result.status = "skipped"
        result.reason = (
            f"converter module {spec.converter!r} not found "
            f"(add training/data/converters/{spec.converter}.py "
            "or fix 'converter:' in the catalog)"
        )
        logger.warning("skipping %s: %s", spec.name, result.reason)
        logger.debug("%s", exc)
        return None


def _read_records(
    convert: Converter, spec: SourceSpec, folder: Path, langs: Sequence[str] | None, result: SourceLoad
) -> list[CommentRecord]:
    """The adopted records of a converter run, without empty texts and other languages (counted)."""
    keep_langs = set(langs) if langs else None
    records: list[CommentRecord] = []
    for raw in convert(folder, **dict(spec.params)):
        result.read += 1
        rec = adopt_record(raw, spec)
        if not rec.text:
            result.dropped_empty += 1
        elif keep_langs is not None and rec.lang not in keep_langs:
            result.dropped_lang += 1
        else:
            records.append(rec)
    return records


def _log_loaded(result: SourceLoad) -> None:
    logger.info(
        "%s: %d records (read %d, dropped %d lang, %d empty, %d over cap; %d positives capped) in %.1fs",
        result.spec.name,
        len(result.records),
        result.read,
        result.dropped_lang,
        result.dropped_empty,
        result.dropped_cap,
        result.capped_positives,
        result.seconds,
    )


def load_source(
    spec: SourceSpec,
    data_root: Path,
    *,
    langs: Sequence[str] | None = None,
    seed: int = 13,
    lookup: ConverterLookup = get_converter,
    strict: bool = False,
) -> SourceLoad:
    """Run one source's converter; a missing folder or converter is a skip with a warning."""
    start = time.perf_counter()
    result = SourceLoad(spec=spec)
    folder = spec.folder(data_root)
    if folder is not None and not folder.is_dir():
        result.status, result.reason = "skipped", f"folder {folder} is missing"
        logger.warning("skipping %s: %s (set --data-root or COMMENTMOD_DATA)", spec.name, result.reason)
        return result
    convert = _find_converter(spec, lookup, result)
    if convert is None:
        return result
    check_params(convert, spec.params, spec)
    try:
        records = _read_records(convert, spec, folder if folder is not None else data_root, langs, result)
    except _CONVERTER_FAILURES as exc:
        if strict:
            raise DataBuildError(f"source {spec.name}: converter {spec.converter} failed: {exc}") from exc
        result.status = "skipped"
        result.reason = f"converter {spec.converter} failed: {type(exc).__name__}: {exc}"
        logger.warning("skipping %s: %s (use --strict to stop on this)", spec.name, result.reason)
        result.records = []
        return result
    records, result.capped_positives, result.dropped_positive_rate = limit_positive_rate(
        records, spec.max_positive_rate, seed
    )
    capped = cap_records(records, spec.max_rows, seed)
    result.dropped_cap = len(records) - len(capped)
    result.records = capped
    result.seconds = time.perf_counter() - start
    _log_loaded(result)
    return result

"""Where the dataset folders are, and which catalog sources one build reads.

:func:`resolve_data_root` applies ``--data-root`` / ``COMMENTMOD_DATA`` / the catalog / the default;
:func:`select_sources` applies the name, language and licence filters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .catalog import CatalogError, DataCatalog, SourceSpec
from .catalog_load import parse_langs
from .licences import is_commercial_ok

DEFAULT_DATA_ROOT = "../shared/datasets"
DATA_ROOT_ENV = "COMMENTMOD_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]  # training/data/selection.py -> the checkout


def resolve_data_root(cli_value: str | Path | None = None, catalog_value: str | None = None) -> Path:
    """Where the dataset folders are.

    Order: ``--data-root``, env ``COMMENTMOD_DATA``, the catalog's ``data_root``, then
    ``../shared/datasets``. A relative path is tried against the cwd, then against the repo root;
    when neither exists the cwd-relative path is returned (its sources are then skipped).
    """
    raw = cli_value or os.environ.get(DATA_ROOT_ENV) or catalog_value or DEFAULT_DATA_ROOT
    path = Path(raw).expanduser()
    if path.is_absolute():
        return path
    for base in (Path.cwd(), REPO_ROOT):
        candidate = (base / path).resolve()
        if candidate.is_dir():
            return candidate
    return (Path.cwd() / path).resolve()


@dataclass(frozen=True)
class Selection:
    """The sources a build will read, and those left out with the reason."""

    sources: tuple[SourceSpec, ...]
    excluded: tuple[tuple[str, str], ...]
    langs: tuple[str, ...] | None
    commercial_ok: bool


def select_sources(
    catalog: DataCatalog,
    names: Sequence[str] | None = None,
    langs: Sequence[str] | None = None,
    commercial_ok: bool | None = None,
) -> Selection:
    """Apply the name, language and licence filters (arguments override the catalog's filters)."""
    known = catalog.names()
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise CatalogError(f"unknown source(s) {unknown}; the catalog lists: {', '.join(known)}")
    lang_filter = tuple(langs) if langs else catalog.filters.langs
    if lang_filter is not None:
        parse_langs(list(lang_filter), "--langs")
    commercial = catalog.filters.commercial_ok if commercial_ok is None else commercial_ok
    chosen: list[SourceSpec] = []
    excluded: list[tuple[str, str]] = []
    for spec in catalog.sources:
        if names and spec.name not in names:
            excluded.append((spec.name, "not in --sources"))
        elif not names and not spec.enabled:
            excluded.append((spec.name, "enabled: false in the catalog"))
        elif commercial and not is_commercial_ok(spec.licence):
            excluded.append((spec.name, f"licence {spec.licence} is not commercial-ok"))
        elif lang_filter is not None and not set(spec.languages) & set(lang_filter):
            excluded.append((spec.name, f"languages {list(spec.languages)} not in {list(lang_filter)}"))
        else:
            chosen.append(spec)
    return Selection(tuple(chosen), tuple(excluded), lang_filter, commercial)

"""Build the training ``DatasetDict`` from the catalog: load, dedup, split, pair, augment, describe.

Pipeline (each step a small pure function in its own module; :func:`build_dataset` chains them)::

    load_source     (source_load) converter -> records (source/licence/ids/groups made
                    catalog-consistent, language filter, seeded positive-rate cap, row cap)
    deduplicate     (dedup) one record per normalised text across all sources; labels merged
    assign_splits   (splits) grouped split by a seeded hash of ``group`` (stable across runs)
    make_article_pairs  (pairs) per split: synthetic off-topic / on-topic pairs (``synthetic=True``)
    augment_emoji   (augment) train split only: emoji counterfactual copies (``augmented=True``)
    build_info      (build_info) the description written to ``build_info.json``

:func:`~.build_io.save_build` writes the result (Arrow + ``build_info.json``); training reads it
back with :func:`~.build_io.load_split` and :func:`~.build_io.load_build_info`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .augment import augment_emoji
from .build_info import build_info
from .build_io import BuildResult, DataBuildError
from .catalog import SPLIT_NAMES, DataCatalog
from .converters import get_converter
from .dedup import deduplicate
from .pairs import make_article_pairs
from .selection import Selection
from .source_load import ConverterLookup, load_source
from .splits import assign_splits

logger = logging.getLogger(__name__)


def build_dataset(
    catalog: DataCatalog,
    selection: Selection,
    data_root: Path,
    *,
    lookup: ConverterLookup = get_converter,
    strict: bool = False,
) -> BuildResult:
    """Load every selected source, dedup, split, add synthetic pairs; nothing is written."""
    start = time.perf_counter()
    loads = [
        load_source(spec, data_root, langs=selection.langs, seed=catalog.seed, lookup=lookup, strict=strict)
        for spec in selection.sources
    ]
    all_records = [r for load in loads for r in load.records]
    if not all_records:
        reasons = (
            "; ".join(f"{ld.spec.name}: {ld.reason or 'no rows'}" for ld in loads) or "no source selected"
        )
        raise DataBuildError(
            f"no records to build from ({reasons}); check --data-root, --sources and --langs"
        )
    records, dedup_report = deduplicate(all_records, catalog.dedup)
    logger.info("dedup: %d -> %d records", len(all_records), len(records))
    splits = assign_splits(records, catalog.split, catalog.seed)
    pair_sources = [s.name for s in selection.sources if s.article_pairs]
    everything = records if catalog.pairs.articles_from == "all" else None
    for name in SPLIT_NAMES:
        pairs = make_article_pairs(splits[name], catalog.pairs, catalog.seed, pair_sources, everything)
        splits[name].extend(pairs)
    augmented, augment_report = augment_emoji(splits["train"], catalog.augment.emoji, catalog.seed)
    splits["train"].extend(augmented)
    info = build_info(catalog, selection, data_root, loads, splits, dedup_report)
    info["augment"] = augment_report
    info["elapsed_s"] = round(time.perf_counter() - start, 2)
    return BuildResult(splits=splits, info=info)

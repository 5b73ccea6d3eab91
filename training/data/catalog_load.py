"""Reading ``configs/data.yaml`` into a :class:`~.catalog.DataCatalog`, validating every entry.

Every error is a :class:`~.catalog.CatalogError` that names the offending entry and says what to
write instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from ...model.labels import LABELS
from ...model.yamlfile import YamlFileError, load_yaml_mapping
from .catalog import (
    AUGMENT_CELLS,
    DEDUP_CONFLICT_MODES,
    PAIR_ARTICLE_POOLS,
    SPLIT_NAMES,
    AugmentSpec,
    CatalogError,
    DataCatalog,
    DedupSpec,
    EmojiAugmentSpec,
    FilterSpec,
    PairSpec,
    SourceSpec,
    SplitSpec,
)
from .licences import KNOWN_LICENCES

_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_CONVERTER_RE = re.compile(r"^[a-z_][a-z0-9_]*$")

# --------------------------------------------------------------------------- validation helpers


def _check_keys(data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CatalogError(f"{where}: unknown key {key!r}; {hint}valid keys are {', '.join(allowed)}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CatalogError(f"{where} must be a mapping (key: value lines), got {type(value).__name__}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogError(f"{where} is {value!r}; write true or false")
    return value


def _int(value: Any, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CatalogError(f"{where} is {value!r}; write a whole number")
    if minimum is not None and value < minimum:
        raise CatalogError(f"{where} is {value}; write a number >= {minimum}")
    return value


def _float(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CatalogError(f"{where} is {value!r}; write a number between {low} and {high}")
    if not low <= float(value) <= high:
        raise CatalogError(f"{where} is {value}; write a number between {low} and {high}")
    return float(value)


def parse_langs(value: Any, where: str) -> tuple[str, ...]:
    """A non-empty list (or one string) of ISO 639 language codes, as a tuple."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise CatalogError(f"{where} is {value!r}; write a list of language codes, e.g. [ro, en]")
    for lang in value:
        if not isinstance(lang, str) or not _LANG_RE.match(lang):
            raise CatalogError(
                f"{where}: {lang!r} is not a language code; write ISO 639 codes like ro, en, uk, ru"
            )
    return tuple(value)


def check_licence(licence: Any, where: str) -> str:
    """``licence`` when it is one of :data:`~.licences.KNOWN_LICENCES`, else a :class:`CatalogError`."""
    if not isinstance(licence, str) or licence not in KNOWN_LICENCES:
        close = difflib.get_close_matches(str(licence), list(KNOWN_LICENCES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CatalogError(
            f"{where}: licence {licence!r} is not recognised; {hint}write one of {', '.join(KNOWN_LICENCES)}"
            " (use 'unknown' when the source states none)"
        )
    return licence


# --------------------------------------------------------------------------- parsing

_SOURCE_KEYS = tuple(f.name for f in fields(SourceSpec))
_TOP_KEYS = ("seed", "data_root", "split", "pairs", "dedup", "augment", "filters", "sources")


def _source_name(data: Mapping[str, Any], where: str) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CatalogError(f"{where}: name is {name!r}; write the dataset folder name, e.g. ro-offense")
    return name


def _converter(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str) or not _CONVERTER_RE.match(value):
        raise CatalogError(
            f"{where}: converter is {value!r}; write a module name under "
            f"commentmod.training.data.converters, e.g. {name.replace('-', '_')}"
        )
    return value


def _source_path(value: Any, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or Path(value).is_absolute()):
        raise CatalogError(
            f"{where}: path is {value!r}; write a folder relative to the data root, or null for none"
        )
    return value


def _params(value: Any, where: str) -> dict[str, Any]:
    params = value or {}
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise CatalogError(f"{where}: params must be a mapping of keyword arguments for convert()")
    return dict(params)


def source_from_dict(data: Any, index: int) -> SourceSpec:
    """Parse and validate one ``sources`` entry."""
    data = _mapping(data, f"sources[{index}]")
    name = _source_name(data, f"sources[{index}]")
    where = f"sources[{index}] ({name})"
    _check_keys(data, _SOURCE_KEYS, where)
    for required in ("converter", "licence", "languages"):
        if required not in data:
            raise CatalogError(
                f"{where}: missing {required!r}; every source needs converter, licence, languages"
            )
    converter = _converter(data["converter"], name, where)
    path = _source_path(data.get("path", name), where)
    params = _params(data.get("params"), where)
    max_rows = data.get("max_rows")
    if max_rows is not None:
        max_rows = _int(max_rows, f"{where}.max_rows", minimum=1)
    max_positive_rate = _positive_rates(data.get("max_positive_rate"), f"{where}.max_positive_rate")
    notes = data.get("notes", "")
    if not isinstance(notes, str):
        raise CatalogError(f"{where}: notes must be text")
    return SourceSpec(
        name=name,
        converter=converter,
        licence=check_licence(data["licence"], where),
        languages=parse_langs(data["languages"], f"{where}.languages"),
        path=path,
        params=params,
        max_rows=max_rows,
        max_positive_rate=max_positive_rate,
        weight=_float(data.get("weight", 1.0), f"{where}.weight", 0.0, 100.0),
        article_pairs=_bool(data.get("article_pairs", False), f"{where}.article_pairs"),
        enabled=_bool(data.get("enabled", True), f"{where}.enabled"),
        notes=notes,
    )


def _positive_rates(value: Any, where: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CatalogError(f"{where} is {value!r}; write a mapping of label to rate, e.g. {{mocking: 0.25}}")
    out: dict[str, float] = {}
    for label, rate in value.items():
        if label not in LABELS:
            raise CatalogError(f"{where}: {label!r} is not a label; use {', '.join(LABELS)}")
        out[label] = _float(rate, f"{where}.{label}", 0.0, 1.0)
    return out


def _split_from_dict(data: Any) -> SplitSpec:
    data = _mapping(data, "split")
    _check_keys(data, SPLIT_NAMES, "split")
    values = {k: _float(data.get(k, getattr(SplitSpec, k)), f"split.{k}", 0.0, 1.0) for k in SPLIT_NAMES}
    if abs(sum(values.values()) - 1.0) > 1e-6:
        raise CatalogError(
            f"split fractions {values} sum to {sum(values.values()):.3f}; make them sum to 1, "
            "e.g. {train: 0.8, validation: 0.1, test: 0.1}"
        )
    if values["train"] <= 0:
        raise CatalogError("split.train is 0; the train split needs a positive fraction")
    return SplitSpec(**values)


def _pairs_from_dict(data: Any) -> PairSpec:
    data = _mapping(data, "pairs")
    names = tuple(f.name for f in fields(PairSpec))
    _check_keys(data, names, "pairs")
    d = PairSpec()
    articles_from = data.get("articles_from", d.articles_from)
    if articles_from not in PAIR_ARTICLE_POOLS:
        raise CatalogError(
            f"pairs.articles_from is {articles_from!r}; write 'all' (foreign articles from every split) "
            "or 'split' (only from the comment's own split)"
        )
    return PairSpec(
        enabled=_bool(data.get("enabled", d.enabled), "pairs.enabled"),
        max_fraction=_float(data.get("max_fraction", d.max_fraction), "pairs.max_fraction", 0.0, 0.5),
        min_words=_int(data.get("min_words", d.min_words), "pairs.min_words", minimum=1),
        include_on_topic=_bool(data.get("include_on_topic", d.include_on_topic), "pairs.include_on_topic"),
        copy_labels=_bool(data.get("copy_labels", d.copy_labels), "pairs.copy_labels"),
        max_title_overlap=_float(
            data.get("max_title_overlap", d.max_title_overlap), "pairs.max_title_overlap", 0.0, 1.0
        ),
        max_article_similarity=_float(
            data.get("max_article_similarity", d.max_article_similarity),
            "pairs.max_article_similarity",
            0.0,
            1.0,
        ),
        max_comment_overlap=_int(
            data.get("max_comment_overlap", d.max_comment_overlap), "pairs.max_comment_overlap", minimum=0
        ),
        min_own_overlap=_int(
            data.get("min_own_overlap", d.min_own_overlap), "pairs.min_own_overlap", minimum=0
        ),
        articles_from=articles_from,
    )


def _dedup_from_dict(data: Any) -> DedupSpec:
    data = _mapping(data, "dedup")
    _check_keys(data, ("conflict",), "dedup")
    conflict = data.get("conflict", "unknown")
    if conflict not in DEDUP_CONFLICT_MODES:
        raise CatalogError(
            f"dedup.conflict is {conflict!r}; write one of {', '.join(DEDUP_CONFLICT_MODES)} "
            "(unknown = conflicting labels become None)"
        )
    return DedupSpec(conflict=conflict)


def _emoji_augment_from_dict(data: Any) -> EmojiAugmentSpec:
    where = "augment.emoji"
    data = _mapping(data, where)
    names = tuple(f.name for f in fields(EmojiAugmentSpec))
    _check_keys(data, names, where)
    d = EmojiAugmentSpec()
    add_rate = data.get("add_rate", "auto")
    by = data.get("by", d.by)
    if by not in AUGMENT_CELLS:
        raise CatalogError(
            f"{where}.by is {by!r}; write 'lang' (balance within each language) or 'all' (whole train split)"
        )
    emoji = data.get("emoji", list(d.emoji))
    if not isinstance(emoji, list) or not emoji or not all(isinstance(e, str) and e.strip() for e in emoji):
        raise CatalogError(f"{where}.emoji is {emoji!r}; write a list of emoji, e.g. [👏, 🙏, 😊]")
    return EmojiAugmentSpec(
        enabled=_bool(data.get("enabled", d.enabled), f"{where}.enabled"),
        strip_rate=_float(data.get("strip_rate", d.strip_rate), f"{where}.strip_rate", 0.0, 1.0),
        add_rate=None if add_rate == "auto" else _float(add_rate, f"{where}.add_rate (or auto)", 0.0, 1.0),
        min_words=_int(data.get("min_words", d.min_words), f"{where}.min_words", minimum=1),
        by=by,
        emoji=tuple(emoji),
    )


def _augment_from_dict(data: Any) -> AugmentSpec:
    data = _mapping(data, "augment")
    _check_keys(data, ("emoji",), "augment")
    return AugmentSpec(emoji=_emoji_augment_from_dict(data.get("emoji")))


def _filters_from_dict(data: Any) -> FilterSpec:
    data = _mapping(data, "filters")
    _check_keys(data, ("commercial_ok", "langs"), "filters")
    langs = data.get("langs")
    return FilterSpec(
        commercial_ok=_bool(data.get("commercial_ok", False), "filters.commercial_ok"),
        langs=None if langs is None else parse_langs(langs, "filters.langs"),
    )


def catalog_from_dict(data: Any) -> DataCatalog:
    """Build and validate a :class:`DataCatalog` from parsed YAML."""
    data = _mapping(data, "the catalog")
    _check_keys(data, _TOP_KEYS, "the catalog")
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise CatalogError("the catalog has no 'sources' list; add at least one source entry")
    sources = tuple(source_from_dict(item, i) for i, item in enumerate(raw_sources))
    seen: set[str] = set()
    for spec in sources:
        if spec.name in seen:
            raise CatalogError(f"source {spec.name!r} is listed twice; give each source a unique name")
        seen.add(spec.name)
    data_root = data.get("data_root")
    if data_root is not None and not isinstance(data_root, str):
        raise CatalogError(f"data_root is {data_root!r}; write a folder path or leave it out")
    return DataCatalog(
        sources=sources,
        seed=_int(data.get("seed", 13), "seed", minimum=0),
        data_root=data_root,
        split=_split_from_dict(data.get("split")),
        pairs=_pairs_from_dict(data.get("pairs")),
        dedup=_dedup_from_dict(data.get("dedup")),
        augment=_augment_from_dict(data.get("augment")),
        filters=_filters_from_dict(data.get("filters")),
    )


def load_catalog(path: Path | str) -> DataCatalog:
    """Read and validate a catalog YAML file."""
    try:
        data = load_yaml_mapping(path, "catalog", hint="pass --config configs/data.yaml")
    except YamlFileError as exc:
        raise CatalogError(str(exc)) from None
    try:
        return catalog_from_dict(data)
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from None

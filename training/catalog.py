"""The data catalog: which datasets go into a build, how they are read and filtered.

``configs/data.yaml`` is loaded into the typed dataclasses below and validated on load;
every error names the offending entry and says what to write instead.

Layout of the YAML file (every key except ``sources`` is optional)::

    seed: 13
    data_root: ../shared/datasets     # relative to cwd, else to the repo
    split: {train: 0.8, validation: 0.1, test: 0.1}
    dedup: {conflict: unknown}        # unknown | positive | first
    pairs: {enabled: true, max_fraction: 0.1, min_words: 8}
    augment: {emoji: {enabled: true, strip_rate: 1.0, add_rate: auto, min_words: 4, by: lang}}
    filters: {commercial_ok: false, langs: null}
    sources:
      - name: ro-offense              # the dataset folder name
        path: ro-offense              # relative to the data root (default: name; null = no folder)
        converter: ro_offense         # module commentmod.training.converters.<converter>
        languages: [ro]
        licence: Apache-2.0
        params: {}                    # keyword arguments for convert()
        max_rows: null                # deterministic sample cap
        max_positive_rate: {}         # e.g. {mocking: 0.25}: seeded cap on a label's positive share
        weight: 1.0                   # per-source loss weight, read by training from build_info.json
        article_pairs: false          # use for synthetic off-topic pairs (needs article context)
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from commentmod.model.errors import CommentmodError
from commentmod.model.labels import LABELS

DEFAULT_DATA_ROOT = "../shared/datasets"
DATA_ROOT_ENV = "COMMENTMOD_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
DEDUP_CONFLICT_MODES: tuple[str, ...] = ("unknown", "positive", "first")
PAIR_ARTICLE_POOLS: tuple[str, ...] = ("all", "split")
AUGMENT_CELLS: tuple[str, ...] = ("lang", "all")
# appended to mocking=0 rows by the emoji augmentation: emoji read as sincere (LABELING.md)
SINCERE_EMOJI: tuple[str, ...] = ("👏", "🙏", "❤️", "😊", "😢", "👍")

# Licence strings the catalog accepts, by class. ``commercial_ok`` keeps the permissive class only.
PERMISSIVE_LICENCES: tuple[str, ...] = (
    "Apache-2.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "CC0-1.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
)
SHARE_ALIKE_LICENCES: tuple[str, ...] = ("CC-BY-SA-3.0", "CC-BY-SA-4.0")
NON_COMMERCIAL_LICENCES: tuple[str, ...] = (
    "CC-BY-NC-3.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-SA-3.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-NC-ND-4.0",
)
OTHER_LICENCES: tuple[str, ...] = ("research-only", "unknown")
# data the site owns (its moderators' labels): usable commercially by its owner
OWN_LICENCES: tuple[str, ...] = ("proprietary",)
KNOWN_LICENCES: tuple[str, ...] = (
    PERMISSIVE_LICENCES + SHARE_ALIKE_LICENCES + NON_COMMERCIAL_LICENCES + OTHER_LICENCES + OWN_LICENCES
)

_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_CONVERTER_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


class CatalogError(CommentmodError, ValueError):
    """The data catalog (``configs/data.yaml``) is missing, malformed or asks for something unknown."""


def licence_class(licence: str) -> str:
    """``permissive``, ``own``, ``share-alike``, ``non-commercial``, ``research-only`` or ``unknown``."""
    if licence in OWN_LICENCES:
        return "own"
    if licence in PERMISSIVE_LICENCES:
        return "permissive"
    if licence in SHARE_ALIKE_LICENCES:
        return "share-alike"
    if licence in NON_COMMERCIAL_LICENCES:
        return "non-commercial"
    if licence == "research-only":
        return "research-only"
    return "unknown"


def is_commercial_ok(licence: str) -> bool:
    """True for Apache/MIT/BSD/CC0/CC-BY sources and the site's own data (what ``--commercial-ok`` keeps)."""
    return licence_class(licence) in ("permissive", "own")


@dataclass(frozen=True)
class SourceSpec:
    """One dataset in the catalog."""

    name: str
    converter: str
    licence: str
    languages: tuple[str, ...]
    path: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    max_rows: int | None = None
    max_positive_rate: Mapping[str, float] = field(default_factory=dict)
    weight: float = 1.0
    article_pairs: bool = False
    enabled: bool = True
    notes: str = ""

    @property
    def licence_class(self) -> str:
        return licence_class(self.licence)

    def folder(self, data_root: Path) -> Path | None:
        """The dataset folder under ``data_root``, or None when the converter reads no folder."""
        return None if self.path is None else data_root / self.path

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["languages"] = list(self.languages)
        out["params"] = dict(self.params)
        out["max_positive_rate"] = dict(self.max_positive_rate)
        return out


@dataclass(frozen=True)
class SplitSpec:
    """Fractions of groups per split; they must sum to 1."""

    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1

    def fractions(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in SPLIT_NAMES}


@dataclass(frozen=True)
class PairSpec:
    """Synthetic off-topic pairs: a comment under a different, unrelated article."""

    enabled: bool = True
    max_fraction: float = 0.1
    min_words: int = 8
    include_on_topic: bool = True
    copy_labels: bool = False
    max_title_overlap: float = 0.2
    max_article_similarity: float = 0.05
    max_comment_overlap: int = 1
    articles_from: str = "all"


@dataclass(frozen=True)
class EmojiAugmentSpec:
    """Emoji counterfactuals added to the train split so that "has an emoji" says nothing about mocking.

    ``strip_rate``: share of mocking=1 rows with emoji that get an emoji-free copy (when at least
    ``min_words`` words remain). ``add_rate``: share of eligible mocking=0 rows that get a copy with a
    sincere emoji appended; None (``auto`` in YAML) = as many as make P(emoji | mocking) equal for
    both values within each ``by`` cell (``lang`` or ``all``).
    """

    enabled: bool = False
    strip_rate: float = 1.0
    add_rate: float | None = None
    min_words: int = 4
    by: str = "lang"
    emoji: tuple[str, ...] = SINCERE_EMOJI


@dataclass(frozen=True)
class AugmentSpec:
    """Train-only counterfactual augmentation (off unless the catalog turns it on)."""

    emoji: EmojiAugmentSpec = field(default_factory=EmojiAugmentSpec)

    def to_dict(self) -> dict[str, Any]:
        emoji = asdict(self.emoji)
        emoji["add_rate"] = "auto" if self.emoji.add_rate is None else self.emoji.add_rate
        emoji["emoji"] = list(self.emoji.emoji)
        return {"emoji": emoji}


@dataclass(frozen=True)
class DedupSpec:
    """How duplicate comments (same normalised text) are merged: conflicting labels become ..."""

    conflict: str = "unknown"


@dataclass(frozen=True)
class FilterSpec:
    """Default filters; the CLI flags override them."""

    commercial_ok: bool = False
    langs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DataCatalog:
    """The whole catalog: sources plus build settings."""

    sources: tuple[SourceSpec, ...]
    seed: int = 13
    data_root: str | None = None
    split: SplitSpec = field(default_factory=SplitSpec)
    pairs: PairSpec = field(default_factory=PairSpec)
    dedup: DedupSpec = field(default_factory=DedupSpec)
    filters: FilterSpec = field(default_factory=FilterSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)

    def source(self, name: str) -> SourceSpec:
        for spec in self.sources:
            if spec.name == name:
                return spec
        raise CatalogError(f"no source named {name!r} in the catalog; known: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "data_root": self.data_root,
            "split": asdict(self.split),
            "pairs": asdict(self.pairs),
            "dedup": asdict(self.dedup),
            "augment": self.augment.to_dict(),
            "filters": {
                "commercial_ok": self.filters.commercial_ok,
                "langs": None if self.filters.langs is None else list(self.filters.langs),
            },
            "sources": [s.to_dict() for s in self.sources],
        }


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


def _langs(value: Any, where: str) -> tuple[str, ...]:
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


def source_from_dict(data: Any, index: int) -> SourceSpec:
    """Parse and validate one ``sources`` entry."""
    where = f"sources[{index}]"
    data = _mapping(data, where)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CatalogError(f"{where}: name is {name!r}; write the dataset folder name, e.g. ro-offense")
    where = f"sources[{index}] ({name})"
    _check_keys(data, _SOURCE_KEYS, where)
    for required in ("converter", "licence", "languages"):
        if required not in data:
            raise CatalogError(
                f"{where}: missing {required!r}; every source needs converter, licence, languages"
            )
    converter = data["converter"]
    if not isinstance(converter, str) or not _CONVERTER_RE.match(converter):
        raise CatalogError(
            f"{where}: converter is {converter!r}; write a module name under "
            f"commentmod.training.converters, e.g. {name.replace('-', '_')}"
        )
    path = data.get("path", name)
    if path is not None and (not isinstance(path, str) or not path or Path(path).is_absolute()):
        raise CatalogError(
            f"{where}: path is {path!r}; write a folder relative to the data root, or null for none"
        )
    params = data.get("params") or {}
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise CatalogError(f"{where}: params must be a mapping of keyword arguments for convert()")
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
        languages=_langs(data["languages"], f"{where}.languages"),
        path=path,
        params=dict(params),
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
        langs=None if langs is None else _langs(langs, "filters.langs"),
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
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalog {path} does not exist; pass --config configs/data.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path} is not valid YAML: {exc}") from None
    try:
        return catalog_from_dict(data)
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- selection


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
        _langs(list(lang_filter), "--langs")
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

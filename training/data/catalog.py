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
        converter: ro_offense         # module commentmod.training.data.converters.<converter>
        languages: [ro]
        licence: Apache-2.0
        params: {}                    # keyword arguments for convert()
        max_rows: null                # deterministic sample cap
        max_positive_rate: {}         # e.g. {mocking: 0.25}: seeded cap on a label's positive share
        weight: 1.0                   # per-source loss weight, read by training from build_info.json
        article_pairs: false          # use for synthetic off-topic pairs (needs article context)

The model lives here; reading and validating the YAML is in :mod:`.catalog_load`, choosing the
sources of one build and finding the data root in :mod:`.selection`, licence classes in
:mod:`.licences`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...model.errors import CommentmodError
from .licences import licence_class

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
DEDUP_CONFLICT_MODES: tuple[str, ...] = ("unknown", "positive", "first")
PAIR_ARTICLE_POOLS: tuple[str, ...] = ("all", "split")
AUGMENT_CELLS: tuple[str, ...] = ("lang", "all")
# appended to mocking=0 rows by the emoji augmentation: emoji read as sincere (LABELING.md)
SINCERE_EMOJI: tuple[str, ...] = ("👏", "🙏", "❤️", "😊", "😢", "👍")


class CatalogError(CommentmodError, ValueError):
    """The data catalog (``configs/data.yaml``) is missing, malformed or asks for something unknown."""


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
    min_own_overlap: int = 1
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

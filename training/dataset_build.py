"""Build the training ``DatasetDict`` from the catalog: load, filter, dedup, split, pair, save, stats.

Pipeline (each step a small pure function, :func:`build_dataset` chains them)::

    load_source     converter -> records (source/licence/ids/groups made catalog-consistent,
                    language filter, seeded positive-rate cap, deterministic row cap)
    deduplicate     one record per normalised text across all sources; labels merged
    assign_splits   grouped split by a seeded hash of ``group`` (stable across runs)
    make_article_pairs  per split: synthetic off-topic / on-topic pairs (a minority, ``synthetic=True``)
    augment_emoji   train split only: emoji counterfactual copies (``augmented=True``)
    to_dataset_dict / save_build   Arrow on disk + ``build_info.json``

Training reads it back with :func:`load_split` and :func:`load_build_info`.

The module is long (~1000 lines) because it holds the whole build pipeline, its Arrow I/O and its
stats, each step a small pure function; ``train.build_cached`` hashes this file (with the catalog
and the converters) for its cache key, so splitting it would also need that list updated.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from commentmod.model.errors import CommentmodError
from commentmod.model.inputs import clean_text, normalise_for_dedup
from commentmod.model.labels import LABELS
from commentmod.model.record import CommentRecord
from commentmod.training.catalog import (
    SPLIT_NAMES,
    CatalogError,
    DataCatalog,
    DedupSpec,
    EmojiAugmentSpec,
    PairSpec,
    Selection,
    SourceSpec,
    SplitSpec,
)
from commentmod.training.converters import Converter, get_converter

logger = logging.getLogger(__name__)

BUILD_INFO_NAME = "build_info.json"
BUILD_FORMAT = "commentmod-data/1"
ROW_COLUMNS: tuple[str, ...] = tuple(CommentRecord(id="x", text="", source="s", licence="unknown").to_row())
LABEL_VALUES: tuple[str, ...] = ("1", "0", "None")

ConverterLookup = Callable[[str], Converter]


class DataBuildError(CommentmodError):
    """A data build failed, or a build directory is missing or not a commentmod data build."""


# --------------------------------------------------------------------------- hashing helpers


def stable_unit(seed: int, key: str) -> float:
    """A number in [0, 1) from ``seed`` and ``key``; the same on every run and machine."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def dedup_key(text: str) -> str:
    """Normalised text; texts that normalise to nothing (emoji only) keep their cleaned form."""
    key = normalise_for_dedup(text)
    return key if key else "raw:" + clean_text(text)


# --------------------------------------------------------------------------- loading


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


def cap_records(records: list[CommentRecord], max_rows: int | None, seed: int) -> list[CommentRecord]:
    """At most ``max_rows`` records, a seeded sample that keeps the original order."""
    if max_rows is None or len(records) <= max_rows:
        return records
    order = sorted(range(len(records)), key=lambda i: stable_unit(seed, records[i].id))
    keep = sorted(order[:max_rows])
    return [records[i] for i in keep]


def limit_positive_rate(
    records: list[CommentRecord], rates: Mapping[str, float], seed: int
) -> tuple[list[CommentRecord], int, int]:
    """Cap each label's positive share among the rows that know it: ``{mocking: 0.25}``.

    For a label with ``p`` positives and ``n`` negatives, at most ``floor(rate / (1 - rate) * n)``
    positives keep the value 1 (a seeded choice by id); the others get None for that label, and a
    row left with no known label is dropped. A source with no negatives loses all its positives.
    Returns ``(records, positives capped, rows dropped)``.
    """
    capped: dict[int, set[str]] = defaultdict(set)
    for label, rate in rates.items():
        positives = [i for i, r in enumerate(records) if r.labels[label] == 1]
        negatives = sum(1 for r in records if r.labels[label] == 0)
        keep = len(positives) if rate >= 1 else math.floor(rate / (1 - rate) * negatives + 1e-9)
        order = sorted(positives, key=lambda i: stable_unit(seed, f"posrate:{label}:{records[i].id}"))
        for i in order[keep:]:
            capped[i].add(label)
    out: list[CommentRecord] = []
    for i, rec in enumerate(records):
        if i not in capped:
            out.append(rec)
            continue
        kept = replace(rec, labels={**rec.labels, **dict.fromkeys(capped[i])})
        if any(v is not None for v in kept.labels.values()):
            out.append(kept)
    return out, sum(len(v) for v in capped.values()), len(records) - len(out)


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
    try:
        convert = lookup(spec.converter)
    except KeyError as exc:
        result.status = "skipped"
        result.reason = (
            f"converter module {spec.converter!r} not found (add training/converters/{spec.converter}.py "
            "or fix 'converter:' in the catalog)"
        )
        logger.warning("skipping %s: %s", spec.name, result.reason)
        logger.debug("%s", exc)
        return result
    check_params(convert, spec.params, spec)
    keep_langs = set(langs) if langs else None
    records: list[CommentRecord] = []
    try:
        for raw in convert(folder if folder is not None else data_root, **dict(spec.params)):
            result.read += 1
            rec = adopt_record(raw, spec)
            if not rec.text:
                result.dropped_empty += 1
            elif keep_langs is not None and rec.lang not in keep_langs:
                result.dropped_lang += 1
            else:
                records.append(rec)
    except (CommentmodError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
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
    logger.info(
        "%s: %d records (read %d, dropped %d lang, %d empty, %d over cap; %d positives capped) in %.1fs",
        spec.name,
        len(capped),
        result.read,
        result.dropped_lang,
        result.dropped_empty,
        result.dropped_cap,
        result.capped_positives,
        result.seconds,
    )
    return result


# --------------------------------------------------------------------------- dedup


@dataclass
class DedupReport:
    """Duplicates removed per source and label conflicts met while merging."""

    removed: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"removed_per_source": dict(self.removed), "label_conflicts": dict(self.conflicts)}


def merge_labels(
    records: Sequence[CommentRecord], conflict: str, report: DedupReport | None = None
) -> dict[str, int | None]:
    """One label dict for duplicates: known values win over None; disagreement follows ``conflict``."""
    merged: dict[str, int | None] = {}
    for name in LABELS:
        values = [r.labels[name] for r in records if r.labels[name] is not None]
        if not values:
            merged[name] = None
        elif len(set(values)) == 1:
            merged[name] = values[0]
        else:
            if report is not None:
                report.conflicts[name] += 1
            merged[name] = {"unknown": None, "positive": 1, "first": values[0]}[conflict]
    return merged


def deduplicate(
    records: Iterable[CommentRecord], spec: DedupSpec | None = None
) -> tuple[list[CommentRecord], DedupReport]:
    """Keep the first record of each normalised text (catalog order = priority), labels merged."""
    spec = spec or DedupSpec()
    report = DedupReport()
    buckets: dict[str, list[CommentRecord]] = {}
    for rec in records:
        key = dedup_key(rec.text)
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = [rec]
        else:
            bucket.append(rec)
            report.removed[rec.source] += 1
    kept: list[CommentRecord] = []
    for bucket in buckets.values():
        first = bucket[0]
        if len(bucket) > 1:
            labels = merge_labels(bucket, spec.conflict, report)
            if labels != dict(first.labels):
                first = replace(first, labels=labels)
        kept.append(first)
    return kept, report


# --------------------------------------------------------------------------- split


def _interval(fractions: Mapping[str, float], name: str) -> tuple[float, float]:
    low = 0.0
    for split in SPLIT_NAMES:
        high = low + fractions[split]
        if split == name:
            return low, high
        low = high
    raise KeyError(name)


def _hash_split(unit: float, fractions: Mapping[str, float]) -> str:
    for split in SPLIT_NAMES:
        low, high = _interval(fractions, split)
        if low <= unit < high:
            return split
    return SPLIT_NAMES[-1]


def _fill_empty_splits(
    out: dict[str, str], units: Mapping[str, float], fractions: Mapping[str, float]
) -> None:
    """Move groups into empty splits (positive fraction) from splits holding more than one group."""
    for empty in SPLIT_NAMES:
        counts = Counter(out.values())
        if fractions[empty] <= 0 or counts[empty]:
            continue
        donors = [s for s in SPLIT_NAMES if counts[s] > 1]
        if not donors:
            continue
        donor = max(donors, key=lambda s: (counts[s], s == "train"))
        low, high = _interval(fractions, empty)

        def distance(g: str, low: float = low, high: float = high) -> tuple[float, str]:
            u = units[g]
            return (0.0 if low <= u < high else min(abs(u - low), abs(u - high)), g)

        moved = min((g for g, s in out.items() if s == donor), key=distance)
        out[moved] = empty


def assign_groups(
    groups: Sequence[str], spec: SplitSpec, seed: int, sources: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Split name for each group, by a seeded hash of the group id.

    A group's split depends only on its id and the seed, so adding sources does not move
    existing groups. Small sets are repaired: when a split with a positive fraction got no group
    but another split holds more than one, the group whose hash is nearest to the empty split's
    interval moves there. The repair runs per cell first (``sources`` maps group -> source or
    source/language; a cell with 3+ groups then appears in every split), then over all groups,
    so tiny builds still have every split non-empty.
    """
    fractions = spec.fractions()
    units = {g: stable_unit(seed, f"split:{g}") for g in groups}
    out = {g: _hash_split(u, fractions) for g, u in units.items()}
    if sources:
        per_source: dict[str, dict[str, str]] = defaultdict(dict)
        for g, split in out.items():
            per_source[sources.get(g, "")][g] = split
        for part in per_source.values():
            _fill_empty_splits(part, units, fractions)
            out.update(part)
    _fill_empty_splits(out, units, fractions)
    return out


def assign_splits(
    records: Sequence[CommentRecord], spec: SplitSpec, seed: int
) -> dict[str, list[CommentRecord]]:
    """Grouped split: every record of a group lands in the same split; input order is kept.

    Small sets are repaired per (source, language of the group's first record), so a source
    with a few article groups per language still has every language in every split.
    """
    cells: dict[str, str] = {}
    for rec in records:
        cells.setdefault(str(rec.group), f"{rec.source}/{rec.lang}")
    where = assign_groups(list(cells), spec, seed, cells)
    splits: dict[str, list[CommentRecord]] = {name: [] for name in SPLIT_NAMES}
    for rec in records:
        splits[where[str(rec.group)]].append(rec)
    return splits


# --------------------------------------------------------------------------- synthetic pairs


def _content_words(text: str | None, min_len: int = 5) -> set[str]:
    return {w for w in normalise_for_dedup(text or "").split() if len(w) >= min_len}


@dataclass(frozen=True)
class _Article:
    key: str
    title: str | None
    text: str | None
    groups: frozenset[str]
    title_words: frozenset[str]
    words: frozenset[str]
    vector: Mapping[str, float] = field(default_factory=dict)


def _tfidf(docs: Sequence[Counter[str]]) -> list[dict[str, float]]:
    """Unit-length TF-IDF vectors (log tf, smoothed idf) of word counters."""
    df: Counter[str] = Counter(w for d in docs for w in d)
    n = len(docs)
    out = []
    for doc in docs:
        vec = {w: (1 + math.log(c)) * math.log((1 + n) / (1 + df[w])) for w, c in doc.items()}
        norm = math.sqrt(sum(x * x for x in vec.values())) or 1.0
        out.append({w: x / norm for w, x in vec.items()})
    return out


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(x * b.get(w, 0.0) for w, x in a.items())


def _article_key(rec: CommentRecord) -> str:
    return (
        normalise_for_dedup(rec.article_title or "")
        + "|"
        + normalise_for_dedup((rec.article_text or "")[:300])
    )


def _article_pool(records: Sequence[CommentRecord]) -> dict[tuple[str, str], list[_Article]]:
    """Distinct articles per (source, lang), with the groups of the comments under each."""
    found: dict[tuple[str, str, str], tuple[CommentRecord, set[str]]] = {}
    for rec in records:
        if not (rec.article_title or rec.article_text):
            continue
        k = (rec.source, rec.lang, _article_key(rec))
        if k not in found:
            found[k] = (rec, set())
        found[k][1].add(str(rec.group))
    by_pool: dict[tuple[str, str], list[tuple[str, CommentRecord, set[str]]]] = defaultdict(list)
    for (source, lang, key), (rec, groups) in found.items():
        by_pool[(source, lang)].append((key, rec, groups))
    pool: dict[tuple[str, str], list[_Article]] = {}
    for pool_key, items in by_pool.items():
        docs = [
            Counter(
                w
                for w in normalise_for_dedup(
                    f"{rec.article_title or ''} {(rec.article_text or '')[:1500]}"
                ).split()
                if len(w) >= 5
            )
            for _, rec, _ in items
        ]
        pool[pool_key] = [
            _Article(
                key=key,
                title=rec.article_title,
                text=rec.article_text,
                groups=frozenset(groups),
                title_words=frozenset(_content_words(rec.article_title, 4)),
                words=frozenset(doc),
                vector=vector,
            )
            for (key, rec, groups), doc, vector in zip(items, docs, _tfidf(docs), strict=True)
        ]
    return pool


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def make_article_pairs(
    records: Sequence[CommentRecord],
    spec: PairSpec,
    seed: int,
    pair_sources: Iterable[str],
    articles: Sequence[CommentRecord] | None = None,
) -> list[CommentRecord]:
    """Synthetic off-topic examples for one split.

    A comment (at least ``min_words`` words, not itself off-topic) from a source with article
    context is paired with a different article of the same source and language as
    ``off_topic=1``, and with its own article as ``off_topic=0`` (``include_on_topic``). The other
    article must not share the comment's group, must not have the same title/lead, must share at
    most ``max_title_overlap`` (Jaccard) of title words with the comment's own article, its TF-IDF
    cosine with the own article must be at most ``max_article_similarity`` (articles on the same
    story or topic), and the comment may share at most ``max_comment_overlap`` content words with
    it. Synthetic rows keep the comment's group (so they sit in its split) and are at most
    ``max_fraction`` of the rows. Foreign articles come from ``articles`` (default: ``records``;
    the build passes every split's records when ``articles_from`` is ``all``: only the article is
    shared across splits, never the comment).
    """
    if not spec.enabled or spec.max_fraction <= 0:
        return []
    sources = set(pair_sources)
    real = [r for r in records if not r.synthetic]
    budget = int(spec.max_fraction / (1 - spec.max_fraction) * len(real))
    per_pair = 2 if spec.include_on_topic else 1
    if budget < per_pair or not sources:
        return []
    eligible = [r for r in real if r.source in sources]
    pool = _article_pool(eligible if articles is None else [r for r in articles if r.source in sources])
    candidates = [
        r
        for r in eligible
        if (r.article_title or r.article_text)
        and r.labels["off_topic"] != 1
        and len(normalise_for_dedup(r.text).split()) >= spec.min_words
    ]
    candidates.sort(key=lambda r: stable_unit(seed, f"pair:{r.id}"))
    out: list[CommentRecord] = []
    for rec in candidates:
        if len(out) + per_pair > budget:
            break
        own_key = _article_key(rec)
        articles = pool.get((rec.source, rec.lang), [])
        own = next((a for a in articles if a.key == own_key), None)
        own_title = own.title_words if own is not None else frozenset()
        comment_words = _content_words(rec.text)
        options = [
            a
            for a in articles
            if a.key != own_key
            and str(rec.group) not in a.groups
            and (own is None or not (a.groups & own.groups))
            and _jaccard(own_title, a.title_words) <= spec.max_title_overlap
            and (own is None or _cosine(own.vector, a.vector) <= spec.max_article_similarity)
            and len(comment_words & a.words) <= spec.max_comment_overlap
        ]
        if not options:
            continue
        other = min(options, key=lambda a: stable_unit(seed, f"{rec.id}|{a.key}"))
        kept = dict(rec.labels) if spec.copy_labels else {}
        suffix = hashlib.blake2b(other.key.encode(), digest_size=4).hexdigest()
        out.append(
            replace(
                rec,
                id=f"{rec.id}#offtopic-{suffix}",
                article_title=other.title,
                article_text=other.text,
                labels={**kept, "off_topic": 1},
                synthetic=True,
            )
        )
        if spec.include_on_topic:
            out.append(replace(rec, id=f"{rec.id}#ontopic", labels={**kept, "off_topic": 0}, synthetic=True))
    return out


# --------------------------------------------------------------------------- emoji counterfactuals

# The code points that render as emoji (the ranges of ``training/cues.py``: pictographs, emoticons,
# transport, supplemental symbols, flags, misc symbols, dingbats), and what glues them into sequences
# (variation selectors, ZWJ, keycaps, tag characters; skin tones sit inside the first range).
_EMOJI_CLASS = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u231a\u231b\u23e9-\u23fa"
_EMOJI = re.compile(f"[{_EMOJI_CLASS}]")
_EMOJI_SEQUENCE = re.compile(
    f"[{_EMOJI_CLASS}](?:[\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f]|\u200d?[{_EMOJI_CLASS}])*"
)
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.!?;:)])")
_RUNS_OF_SPACES = re.compile(r"[ \t]{2,}")
AUGMENT_LABEL = "mocking"


def has_emoji(text: str) -> bool:
    """True when ``text`` has an emoji character (the same test as ``training/cues.py``)."""
    return bool(_EMOJI.search(text))


def strip_emoji(text: str) -> str:
    """``text`` without its emoji (whole sequences: skin tones, ZWJ, variation selectors), spacing tidied."""
    out = _EMOJI_SEQUENCE.sub(" ", text)
    out = _SPACE_BEFORE_PUNCT.sub(r"\1", out)
    lines = [_RUNS_OF_SPACES.sub(" ", line).strip() for line in out.split("\n")]
    return "\n".join(line for line in lines if line)


def _word_count(text: str) -> int:
    return len(normalise_for_dedup(text).split())


def _emoji_share(records: Sequence[CommentRecord]) -> float | None:
    return sum(has_emoji(r.text) for r in records) / len(records) if records else None


def _copy(rec: CommentRecord, text: str, suffix: str) -> CommentRecord:
    return replace(rec, id=f"{rec.id}#{suffix}", text=text, augmented=True)


def _negative_copies(
    negatives: Sequence[CommentRecord], target: float, spec: EmojiAugmentSpec, seed: int
) -> list[CommentRecord]:
    """Copies of mocking=0 rows that bring their emoji share to ``target`` (or the fixed ``add_rate``).

    Too few emoji: sincere emoji appended to rows without one (never to abusive rows: "hope you
    break a leg 👍" is taunting). Too many (``auto`` only): emoji-free copies of rows with emoji.
    """
    n, e = len(negatives), sum(has_emoji(r.text) for r in negatives)
    plain = [r for r in negatives if not has_emoji(r.text) and r.labels["abusive"] != 1]
    plain.sort(key=lambda r: stable_unit(seed, f"augment:add:{r.id}"))
    if spec.add_rate is not None:
        chosen = [r for r in plain if stable_unit(seed, f"augment:rate:{r.id}") < spec.add_rate]
    elif e < target * n:
        need = len(plain) if target >= 1 else math.ceil((target * n - e) / (1 - target) - 1e-9)
        chosen = plain[:need]
    else:
        emoji_rows = [
            r for r in negatives if has_emoji(r.text) and _word_count(strip_emoji(r.text)) >= spec.min_words
        ]
        emoji_rows.sort(key=lambda r: stable_unit(seed, f"augment:strip0:{r.id}"))
        need = len(emoji_rows) if target <= 0 else math.ceil(e / target - n - 1e-9)
        return [_copy(r, strip_emoji(r.text), "noemoji") for r in emoji_rows[: max(0, need)]]
    out = []
    for rec in chosen:
        emoji = spec.emoji[int(stable_unit(seed, f"augment:which:{rec.id}") * len(spec.emoji))]
        out.append(_copy(rec, f"{rec.text} {emoji}", "emoji"))
    return out


def _cell_report(before: Sequence[CommentRecord], after: Sequence[CommentRecord]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, recs in (("before", before), ("after", after)):
        pos = [r for r in recs if r.labels[AUGMENT_LABEL] == 1]
        neg = [r for r in recs if r.labels[AUGMENT_LABEL] == 0]
        out[tag] = {
            "rows": {"1": len(pos), "0": len(neg)},
            "emoji_share": {"1": _emoji_share(pos), "0": _emoji_share(neg)},
        }
    return out


def augment_emoji(
    records: Sequence[CommentRecord], spec: EmojiAugmentSpec, seed: int
) -> tuple[list[CommentRecord], dict[str, Any]]:
    """Emoji counterfactual copies for the train split; returns ``(copies, report)``.

    Per cell (language, or the whole split with ``by: all``) that has both mocking values:
    1. each mocking=1 row with emoji gets (at ``strip_rate``) a copy without them, when at least
       ``min_words`` words remain: the mockery is in the words, not only in the emoji;
    2. mocking=0 rows get copies (:func:`_negative_copies`) until P(emoji | 0) = P(emoji | 1).
    Copies keep source, licence, group (same split), labels and article; id ``#noemoji``/``#emoji``,
    ``augmented=True``. Synthetic pair rows and rows with unknown mocking are neither used nor copied.
    """
    if not spec.enabled:
        return [], {"enabled": False}
    cells: dict[str, list[CommentRecord]] = defaultdict(list)
    for rec in records:
        if not rec.synthetic and not rec.augmented and rec.labels[AUGMENT_LABEL] is not None:
            cells[rec.lang if spec.by == "lang" else "all"].append(rec)
    copies: list[CommentRecord] = []
    report: dict[str, Any] = {"enabled": True, "label": AUGMENT_LABEL, "by": spec.by, "cells": {}}
    for cell, recs in sorted(cells.items()):
        pos = [r for r in recs if r.labels[AUGMENT_LABEL] == 1]
        neg = [r for r in recs if r.labels[AUGMENT_LABEL] == 0]
        if not pos or not neg:
            continue
        twins = [
            _copy(r, stripped, "noemoji")
            for r in pos
            if has_emoji(r.text)
            and stable_unit(seed, f"augment:strip:{r.id}") < spec.strip_rate
            and _word_count(stripped := strip_emoji(r.text)) >= spec.min_words
        ]
        target = sum(has_emoji(r.text) for r in pos) / (len(pos) + len(twins))
        added = _negative_copies(neg, target, spec, seed)
        copies += twins + added
        report["cells"][cell] = {
            **_cell_report(recs, [*recs, *twins, *added]),
            "copies": {"1": len(twins), "0": len(added)},
        }
    report["copies"] = len(copies)
    return copies, report


# --------------------------------------------------------------------------- whole build


@dataclass
class BuildResult:
    """Records per split plus the build description written to ``build_info.json``."""

    splits: dict[str, list[CommentRecord]]
    info: dict[str, Any]


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


def build_info(
    catalog: DataCatalog,
    selection: Selection,
    data_root: Path,
    loads: Sequence[SourceLoad],
    splits: Mapping[str, Sequence[CommentRecord]],
    dedup_report: DedupReport,
) -> dict[str, Any]:
    """The JSON-able description of a build (sources with licence and rows per split, config, seed)."""
    real: dict[str, Counter[str]] = defaultdict(Counter)
    synthetic: dict[str, Counter[str]] = defaultdict(Counter)
    augmented: dict[str, Counter[str]] = defaultdict(Counter)
    for split, recs in splits.items():
        for rec in recs:
            bucket = synthetic if rec.synthetic else augmented if rec.augmented else real
            bucket[rec.source][split] += 1
    sources = []
    for load in loads:
        spec = load.spec
        sources.append(
            {
                "name": spec.name,
                "status": load.status,
                "reason": load.reason,
                "licence": spec.licence,
                "licence_class": spec.licence_class,
                "languages": list(spec.languages),
                "converter": spec.converter,
                "path": spec.path,
                "params": dict(spec.params),
                "weight": spec.weight,
                "max_rows": spec.max_rows,
                "max_positive_rate": dict(spec.max_positive_rate),
                "read": load.read,
                "dropped_lang": load.dropped_lang,
                "dropped_empty": load.dropped_empty,
                "dropped_cap": load.dropped_cap,
                "capped_positives": load.capped_positives,
                "dropped_positive_rate": load.dropped_positive_rate,
                "dropped_duplicates": dedup_report.removed.get(spec.name, 0),
                "rows": {s: real[spec.name][s] for s in SPLIT_NAMES},
                "synthetic_rows": {s: synthetic[spec.name][s] for s in SPLIT_NAMES},
                "augmented_rows": {s: augmented[spec.name][s] for s in SPLIT_NAMES},
                "seconds": round(load.seconds, 2),
            }
        )
    return {
        "format": BUILD_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": catalog.seed,
        "data_root": str(data_root),
        "filters": {
            "sources": [s.name for s in selection.sources],
            "langs": None if selection.langs is None else list(selection.langs),
            "commercial_ok": selection.commercial_ok,
        },
        "excluded": [{"name": n, "reason": r} for n, r in selection.excluded],
        "skipped": [{"name": ld.spec.name, "reason": ld.reason} for ld in loads if ld.status != "used"],
        "sources": sources,
        "splits": {s: len(splits[s]) for s in SPLIT_NAMES},
        "synthetic": {s: sum(1 for r in splits[s] if r.synthetic) for s in SPLIT_NAMES},
        "augmented": {s: sum(1 for r in splits[s] if r.augmented) for s in SPLIT_NAMES},
        "dedup": dedup_report.to_dict(),
        "config": catalog.to_dict(),
    }


# --------------------------------------------------------------------------- Arrow I/O


def _features() -> Any:
    from datasets import Features, Value

    spec: dict[str, Any] = {}
    for col in ROW_COLUMNS:
        if col in LABELS:
            spec[col] = Value("int8")
        elif col in ("synthetic", "augmented"):
            spec[col] = Value("bool")
        else:
            spec[col] = Value("string")
    return Features(spec)


def records_to_columns(records: Sequence[CommentRecord]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {col: [] for col in ROW_COLUMNS}
    for rec in records:
        for col, value in rec.to_row().items():
            columns[col].append(value)
    return columns


def to_dataset_dict(splits: Mapping[str, Sequence[CommentRecord]]) -> Any:
    """A ``datasets.DatasetDict`` with one column per ``CommentRecord.to_row()`` key."""
    from datasets import Dataset, DatasetDict

    features = _features()
    return DatasetDict(
        {
            name: Dataset.from_dict(records_to_columns(splits.get(name, [])), features=features)
            for name in SPLIT_NAMES
        }
    )


def _is_build_dir(path: Path) -> bool:
    return (path / BUILD_INFO_NAME).is_file() or (path / "dataset_dict.json").is_file()


def save_build(result: BuildResult, out: Path) -> Path:
    """Write the DatasetDict and ``build_info.json`` to ``out`` (replacing an earlier build there)."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise DataBuildError(f"--out {out} is a file; give a directory path")
        if any(out.iterdir()):
            if not _is_build_dir(out):
                raise DataBuildError(
                    f"--out {out} exists and is not a commentmod data build; choose an empty or new directory"
                )
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    to_dataset_dict(result.splits).save_to_disk(str(out))
    (out / BUILD_INFO_NAME).write_text(
        json.dumps(result.info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return out


def load_build_info(dataset_dir: Path | str) -> dict[str, Any]:
    """The ``build_info.json`` of a build directory."""
    path = Path(dataset_dir) / BUILD_INFO_NAME
    if not path.is_file():
        raise DataBuildError(f"{dataset_dir} has no {BUILD_INFO_NAME}; build it with `commentmod data build`")
    info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return info


def _load_dataset_dict(dataset_dir: Path | str) -> Any:
    from datasets import load_from_disk

    path = Path(dataset_dir)
    if not _is_build_dir(path):
        raise DataBuildError(f"{path} is not a data build directory; build it with `commentmod data build`")
    return load_from_disk(str(path))


def load_columns(dataset_dir: Path | str) -> dict[str, dict[str, list[Any]]]:
    """Every split of a build as plain column lists."""
    dsd = _load_dataset_dict(dataset_dir)
    return {name: dsd[name].to_dict() for name in SPLIT_NAMES if name in dsd}


def load_split(dataset_dir: Path | str, split: str) -> list[CommentRecord]:
    """The records of one split (``train``, ``validation`` or ``test``)."""
    if split not in SPLIT_NAMES:
        raise DataBuildError(f"unknown split {split!r}; use one of {', '.join(SPLIT_NAMES)}")
    dsd = _load_dataset_dict(dataset_dir)
    if split not in dsd:
        raise DataBuildError(f"{dataset_dir} has no {split!r} split; rebuild it with `commentmod data build`")
    columns = dsd[split].to_dict()
    n = len(columns["id"])
    return [CommentRecord.from_row({c: v[i] for c, v in columns.items()}) for i in range(n)]


def source_weights(info: Mapping[str, Any]) -> dict[str, float]:
    """Per-source loss weight from a build's info (sources not listed weigh 1.0)."""
    return {s["name"]: float(s.get("weight", 1.0)) for s in info.get("sources", [])}


def data_sources_for_card(info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The used sources with licence and row counts, for ``RunInfo.data_sources`` / the model card."""
    return [
        {
            "name": s["name"],
            "licence": s["licence"],
            "languages": s["languages"],
            "rows": s["rows"],
            "synthetic_rows": s.get("synthetic_rows", {}),
        }
        for s in info.get("sources", [])
        if s.get("status") == "used"
    ]


# --------------------------------------------------------------------------- stats


@dataclass
class Stats:
    """Counts per (source, lang, kind): rows per split and label values 1/0/None.

    ``kind`` is ``""`` for real rows, ``"synthetic"`` for off-topic pairs, ``"augmented"`` for copies.
    """

    rows: dict[tuple[str, str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    labels: dict[tuple[str, str, str], dict[str, Counter[str]]] = field(
        default_factory=lambda: defaultdict(lambda: {n: Counter() for n in LABELS})
    )
    split_labels: dict[str, dict[str, Counter[str]]] = field(
        default_factory=lambda: defaultdict(lambda: {n: Counter() for n in LABELS})
    )


def stats_from_columns(columns: Mapping[str, Mapping[str, Sequence[Any]]]) -> Stats:
    """Count rows and label values from ``{split: {column: values}}``."""
    stats = Stats()
    for split, cols in columns.items():
        n = len(cols["id"])
        augmented = cols.get("augmented") or [False] * n
        for i in range(n):
            kind = "synthetic" if cols["synthetic"][i] else "augmented" if augmented[i] else ""
            key = (str(cols["source"][i]), str(cols["lang"][i]), kind)
            stats.rows[key][split] += 1
            for name in LABELS:
                value = str(cols[name][i])
                stats.labels[key][name][value] += 1
                stats.split_labels[split][name][value] += 1
    return stats


def stats_from_records(splits: Mapping[str, Sequence[CommentRecord]]) -> Stats:
    return stats_from_columns({name: records_to_columns(recs) for name, recs in splits.items()})


def _label_cell(counter: Counter[str]) -> str:
    return "/".join(str(counter.get(v, 0)) for v in LABEL_VALUES)


def format_stats(stats: Stats) -> str:
    """A plain-text table: rows per source x language (x synthetic) per split, label counts 1/0/None."""
    head = ["source", "lang", "train", "valid", "test", "total"] + [f"{n} 1/0/None" for n in LABELS]
    lines: list[list[str]] = []
    totals: Counter[str] = Counter()
    for key in sorted(stats.rows):
        source, lang, kind = key
        counts = stats.rows[key]
        totals.update(counts)
        lines.append(
            [
                source + (f" [{kind}]" if kind else ""),
                lang,
                *(str(counts.get(s, 0)) for s in SPLIT_NAMES),
                str(sum(counts.values())),
                *(_label_cell(stats.labels[key][n]) for n in LABELS),
            ]
        )
    all_labels = {n: sum((stats.split_labels[s][n] for s in stats.split_labels), Counter()) for n in LABELS}
    lines.append(
        [
            "TOTAL",
            "",
            *(str(totals.get(s, 0)) for s in SPLIT_NAMES),
            str(sum(totals.values())),
            *(_label_cell(all_labels[n]) for n in LABELS),
        ]
    )
    table = _render([head, *lines])
    split_head = ["split", "rows"] + [f"{n} 1/0/None" for n in LABELS]
    split_lines = [
        [s, str(totals.get(s, 0)), *(_label_cell(stats.split_labels[s][n]) for n in LABELS)]
        for s in SPLIT_NAMES
    ]
    return table + "\n\n" + _render([split_head, *split_lines])


def _render(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)

"""Synthetic off-topic pairs: a comment shown under a different, unrelated article of its source.

:func:`make_article_pairs` adds, per split, a minority of rows (``synthetic=True``): the comment
under a foreign article (``off_topic=1``) and, optionally, under its own (``off_topic=0``).
Articles count as unrelated by title-word Jaccard, TF-IDF cosine and comment-word overlap.
Only comments that name something of their own article are moved: a general reaction ("great
article", "fake news") is on topic under any article (LABELING.md), so it never becomes a positive.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ...model.inputs import normalise_for_dedup
from ...model.record import CommentRecord
from .catalog import PairSpec
from .sampling import stable_unit


def _content_words(text: str | None, min_len: int = 5) -> set[str]:
    return {w for w in normalise_for_dedup(text or "").split() if len(w) >= min_len}


def _stems(text: str | None) -> frozenset[str]:
    """First six letters of each word of five letters or more ("tramvaiul" and "tramvai" meet)."""
    return frozenset(w[:6] for w in normalise_for_dedup(text or "").split() if len(w) >= 5)


@dataclass(frozen=True)
class _Article:
    key: str
    title: str | None
    text: str | None
    groups: frozenset[str]
    title_words: frozenset[str]
    words: frozenset[str]
    vector: Mapping[str, float] = field(default_factory=dict)
    stems: frozenset[str] = frozenset()


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


def _article_lead(rec: CommentRecord) -> str:
    return f"{rec.article_title or ''} {(rec.article_text or '')[:1500]}"


def _article_words(rec: CommentRecord) -> Counter[str]:
    """Content-word counts of an article's title and lead (its first 1500 characters)."""
    return Counter(w for w in normalise_for_dedup(_article_lead(rec)).split() if len(w) >= 5)


def _distinct_articles(
    records: Sequence[CommentRecord],
) -> dict[tuple[str, str], list[tuple[str, CommentRecord, set[str]]]]:
    """``(source, lang)`` -> ``(article key, first record under it, groups of its comments)``."""
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
    return by_pool


def _article_pool(records: Sequence[CommentRecord]) -> dict[tuple[str, str], list[_Article]]:
    """Distinct articles per (source, lang), with the groups of the comments under each."""
    pool: dict[tuple[str, str], list[_Article]] = {}
    for pool_key, items in _distinct_articles(records).items():
        docs = [_article_words(rec) for _, rec, _ in items]
        pool[pool_key] = [
            _Article(
                key=key,
                title=rec.article_title,
                text=rec.article_text,
                groups=frozenset(groups),
                title_words=frozenset(_content_words(rec.article_title, 4)),
                words=frozenset(doc),
                vector=vector,
                stems=_stems(_article_lead(rec)),
            )
            for (key, rec, groups), doc, vector in zip(items, docs, _tfidf(docs), strict=True)
        ]
    return pool


def _common_stems(articles: Sequence[_Article], max_share: float = 0.1) -> frozenset[str]:
    """Stems in more than ``max_share`` of a pool's articles (function words, the site's boilerplate)."""
    if len(articles) < 10:
        return frozenset()
    df = Counter(s for a in articles for s in a.stems)
    return frozenset(s for s, n in df.items() if n > max_share * len(articles))


def _names_its_article(rec: CommentRecord, own: _Article | None, common: frozenset[str], need: int) -> bool:
    """Whether ``rec`` shares ``need`` distinctive stems with its own article (0: always true)."""
    if need <= 0:
        return True
    if own is None:
        return False
    return len((_stems(rec.text) & own.stems) - common) >= need


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def _pair_candidates(eligible: Sequence[CommentRecord], spec: PairSpec, seed: int) -> list[CommentRecord]:
    """Comments with article context, not off-topic, of ``min_words`` words or more; seeded order."""
    candidates = [
        r
        for r in eligible
        if (r.article_title or r.article_text)
        and r.labels["off_topic"] != 1
        and len(normalise_for_dedup(r.text).split()) >= spec.min_words
    ]
    candidates.sort(key=lambda r: stable_unit(seed, f"pair:{r.id}"))
    return candidates


def _own_article(rec: CommentRecord, articles: Sequence[_Article]) -> _Article | None:
    own_key = _article_key(rec)
    return next((a for a in articles if a.key == own_key), None)


def _foreign_article(
    rec: CommentRecord, own: _Article | None, articles: Sequence[_Article], spec: PairSpec, seed: int
) -> _Article | None:
    """A seeded choice among the articles unrelated to ``rec`` and to its own article ``own`` (None
    when its article is not in ``articles``), or None."""
    own_key = _article_key(rec)
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
        return None
    return min(options, key=lambda a: stable_unit(seed, f"{rec.id}|{a.key}"))


def _pair_rows(rec: CommentRecord, other: _Article, spec: PairSpec) -> list[CommentRecord]:
    """``rec`` under ``other`` (off_topic=1) and, with ``include_on_topic``, under its own (0)."""
    kept = dict(rec.labels) if spec.copy_labels else {}
    suffix = hashlib.blake2b(other.key.encode(), digest_size=4).hexdigest()
    rows = [
        replace(
            rec,
            id=f"{rec.id}#offtopic-{suffix}",
            article_title=other.title,
            article_text=other.text,
            labels={**kept, "off_topic": 1},
            synthetic=True,
        )
    ]
    if spec.include_on_topic:
        rows.append(replace(rec, id=f"{rec.id}#ontopic", labels={**kept, "off_topic": 0}, synthetic=True))
    return rows


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
    it. The comment must share ``min_own_overlap`` distinctive word stems with its own article
    (a general reaction is on topic anywhere, LABELING.md). Synthetic rows keep the comment's
    group (so they sit in its split) and are at most ``max_fraction`` of the rows. Foreign articles
    come from ``articles`` (default: ``records``; the build passes every split's records when
    ``articles_from`` is ``all``: only the article is shared across splits, never the comment).
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
    common = {key: _common_stems(arts) for key, arts in pool.items()}
    out: list[CommentRecord] = []
    for rec in _pair_candidates(eligible, spec, seed):
        if len(out) + per_pair > budget:
            break
        articles_here = pool.get((rec.source, rec.lang), [])
        own = _own_article(rec, articles_here)
        if not _names_its_article(
            rec, own, common.get((rec.source, rec.lang), frozenset()), spec.min_own_overlap
        ):
            continue
        other = _foreign_article(rec, own, articles_here, spec, seed)
        if other is not None:
            out.extend(_pair_rows(rec, other, spec))
    return out

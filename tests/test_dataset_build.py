from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from commentmod.model.emoji import has_emoji, strip_emoji
from commentmod.model.inputs import normalise_for_dedup
from commentmod.model.record import CommentRecord
from commentmod.serving.cli import main
from commentmod.training.data.augment import augment_emoji
from commentmod.training.data.build import build_dataset
from commentmod.training.data.build_info import data_sources_for_card, source_weights
from commentmod.training.data.build_io import (
    BUILD_INFO_NAME,
    ROW_COLUMNS,
    DataBuildError,
    load_build_info,
    load_columns,
    load_split,
    save_build,
)
from commentmod.training.data.catalog import (
    CatalogError,
    DataCatalog,
    DedupSpec,
    EmojiAugmentSpec,
    PairSpec,
    SplitSpec,
)
from commentmod.training.data.catalog_load import catalog_from_dict
from commentmod.training.data.dedup import deduplicate
from commentmod.training.data.pairs import make_article_pairs
from commentmod.training.data.sampling import cap_records, limit_positive_rate
from commentmod.training.data.selection import select_sources
from commentmod.training.data.splits import assign_groups, assign_splits
from commentmod.training.data.stats import format_stats, stats_from_columns, stats_from_records

SPLITS = ("train", "validation", "test")
TOPICS = {
    "tram": (
        "Linia de tramvai din Mănăștur se redeschide",
        "Lucrările la șine s-au terminat, spune primăria.",
    ),
    "spital": ("Spitalul județean intră în renovare", "Secțiile se mută temporar în fosta policlinică."),
    "bac": ("Rezultatele la bacalaureat au scăzut", "Rata de promovare a ajuns la 71 la sută anul acesta."),
    "zapada": ("Cod portocaliu de ninsori în Moldova", "Zeci de drumuri județene sunt închise de viscol."),
    "pret": ("Prețul benzinei a trecut de opt lei", "Distribuitorii spun că scumpirile vor continua."),
    "fotbal": ("Echipa locală a câștigat derbiul", "Golul victoriei a venit în ultimul minut al meciului."),
}
WORDS = [
    *("alfa", "beta", "gama", "delta", "epsilon", "zeta"),
    *("theta", "iota", "kappa", "lambda", "omicron", "sigma"),
]


def _rec(source: str, i: int, text: str | None = None, **over: Any) -> CommentRecord:
    fields: dict[str, Any] = {
        "id": f"{source}:{i}",
        "text": text if text is not None else f"comentariul {i} {' '.join(WORDS[: 3 + i % 9])}",
        "source": source,
        "licence": "MIT",
        "lang": "ro",
        "labels": {"abusive": i % 2},
    }
    fields.update(over)
    return CommentRecord(**fields)


def _news(source: str, n_per_topic: int = 6, topics: tuple[str, ...] = tuple(TOPICS)) -> list[CommentRecord]:
    """Comments with article context, grouped by article; long enough to be paired."""
    out = []
    for t, topic in enumerate(topics):
        title, body = TOPICS[topic]
        for j in range(n_per_topic):
            i = t * 100 + j
            named = max(title.split(), key=len)  # names its article: only such comments are paired
            text = f"{source} scrie {i} despre {named}: " + " ".join(
                WORDS[(j + k) % len(WORDS)] for k in range(9)
            )
            out.append(
                _rec(
                    source, i, text, article_title=title, article_text=body, group=f"{source}:article:{topic}"
                )
            )
    return out


def _lookup(table: dict[str, Callable[..., Iterator[CommentRecord]]]) -> Callable[[str], Any]:
    def lookup(name: str) -> Any:
        if name not in table:
            raise KeyError(f"no converter named {name!r}")
        return table[name]

    return lookup


def _catalog(*sources: dict[str, Any], **top: Any) -> DataCatalog:
    return catalog_from_dict({"sources": list(sources), **top})


def _src(name: str, **over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "converter": name.replace("-", "_"),
        "languages": ["ro"],
        "licence": "MIT",
    }
    entry.update(over)
    return entry


def _root(tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "data"
    for name in names:
        (root / name).mkdir(parents=True)
    return root


# --------------------------------------------------------------------------- dedup


def test_dedup_keeps_first_by_normalised_text_and_merges_labels() -> None:
    records = [
        _rec("a", 1, "Ești un CRETIN!", labels={"abusive": 1}),
        _rec("b", 2, "esti un cretin", labels={"abusive": 1, "mocking": 0}),
        _rec("b", 3, "Alt text", labels={"abusive": 0}),
        _rec("c", 4, "ești, un cretin...", labels={"abusive": 0}),
    ]
    kept, report = deduplicate(records)
    assert [r.id for r in kept] == ["a:1", "b:3"]
    assert kept[0].labels == {"abusive": None, "mocking": 0, "off_topic": None}  # 1 vs 0 -> unknown
    assert report.removed == {"b": 1, "c": 1} and report.conflicts == {"abusive": 1}
    kept, _ = deduplicate(records, DedupSpec(conflict="positive"))
    assert kept[0].labels["abusive"] == 1
    kept, _ = deduplicate(records, DedupSpec(conflict="first"))
    assert kept[0].labels["abusive"] == 1


def test_dedup_keeps_distinct_emoji_only_comments() -> None:
    kept, _ = deduplicate([_rec("a", 1, "😂😂"), _rec("a", 2, "🤡"), _rec("a", 3, "😂😂")])
    assert [r.text for r in kept] == ["😂😂", "🤡"]


# --------------------------------------------------------------------------- split


def test_grouped_split_is_deterministic_disjoint_and_stable_when_data_grows() -> None:
    records = [_rec("a", i, group=f"a:g{i % 40}") for i in range(400)]
    splits = assign_splits(records, SplitSpec(), seed=7)
    assert sum(len(v) for v in splits.values()) == 400
    owner = {}
    for name, recs in splits.items():
        for rec in recs:
            assert owner.setdefault(rec.group, name) == name
    assert all(splits[s] for s in SPLITS)
    assert assign_splits(records, SplitSpec(), seed=7) == splits
    grown = assign_groups([f"a:g{i}" for i in range(40)] + [f"b:g{i}" for i in range(40)], SplitSpec(), 7)
    assert all(grown[g] == owner[g] for g in owner)
    assert assign_groups(list(owner), SplitSpec(), 8) != {g: owner[g] for g in owner}


def test_a_source_with_few_groups_gets_every_split_without_moving_others() -> None:
    big = [_rec("big", i) for i in range(300)]
    small = [_rec("small", i, group=f"small:article:{i % 5}") for i in range(50)]
    splits = assign_splits(big + small, SplitSpec(), seed=0)  # seed 0: hashing alone puts all 5 in train
    for name in SPLITS:
        assert any(r.source == "small" for r in splits[name])
    alone = assign_splits(big, SplitSpec(), seed=0)
    for name in SPLITS:
        assert [r for r in splits[name] if r.source == "big"] == alone[name]
    # the same per language of a multilingual source
    multi = [
        _rec("multi", i, lang=lang, group=f"multi:{lang}:{i % 4}") for lang in ("ro", "en") for i in range(20)
    ]
    splits = assign_splits(multi, SplitSpec(), seed=0)
    for name in SPLITS:
        assert {r.lang for r in splits[name]} == {"ro", "en"}


def test_tiny_builds_still_fill_every_split() -> None:
    for n in (3, 4, 5):
        where = assign_groups([f"g{i}" for i in range(n)], SplitSpec(), seed=13)
        assert set(where.values()) == set(SPLITS)
    assert list(assign_groups(["only"], SplitSpec(), 13).values()) in (["train"], ["validation"], ["test"])
    where = assign_groups([f"g{i}" for i in range(6)], SplitSpec(train=0.9, validation=0.1, test=0.0), 1)
    assert set(where.values()) == {"train", "validation"}


# --------------------------------------------------------------------------- pairs


def test_article_pairs_are_a_flagged_minority_with_foreign_articles() -> None:
    records = _news("news") + [_rec("plain", i) for i in range(60)]
    pairs = make_article_pairs(records, PairSpec(max_fraction=0.1), 13, ["news"])
    assert pairs and len(pairs) <= 0.1 * (len(records) + len(pairs))
    by_id = {r.id: r for r in records}
    off = [p for p in pairs if p.labels["off_topic"] == 1]
    on = [p for p in pairs if p.labels["off_topic"] == 0]
    assert len(off) == len(on)
    for p in pairs:
        orig = by_id[p.id.split("#")[0]]
        assert p.synthetic and p.text == orig.text and p.group == orig.group and p.source == "news"
        assert p.labels["abusive"] is None and p.labels["mocking"] is None
        if p.labels["off_topic"] == 1:
            assert p.article_title != orig.article_title
            assert p.article_title in {t for t, _ in TOPICS.values()}
        else:
            assert (p.article_title, p.article_text) == (orig.article_title, orig.article_text)
    assert make_article_pairs(records, PairSpec(max_fraction=0.1), 13, ["news"]) == pairs


def test_article_pairs_respect_length_labels_groups_sources_and_switches() -> None:
    title, body = TOPICS["tram"]
    short = _rec("news", 1, "prea scurt", article_title=title, article_text=body, group="news:a")
    offtopic = _rec(
        "news",
        2,
        " ".join(WORDS),
        article_title=title,
        article_text=body,
        group="news:a",
        labels={"off_topic": 1},
    )
    other = _news("news", 3, topics=("bac",))
    records = [short, offtopic, *other, *[_rec("plain", i) for i in range(100)]]
    pairs = make_article_pairs(records, PairSpec(max_fraction=0.3), 1, ["news"])
    assert {p.id.split("#")[0] for p in pairs} <= {r.id for r in other}
    assert all(p.labels["off_topic"] == 0 or p.article_title == title for p in pairs)
    assert make_article_pairs(records, PairSpec(enabled=False), 1, ["news"]) == []
    assert make_article_pairs(records, PairSpec(), 1, ["plain"]) == []
    only_off = make_article_pairs(records, PairSpec(max_fraction=0.3, include_on_topic=False), 1, ["news"])
    assert only_off and all(p.labels["off_topic"] == 1 for p in only_off)
    kept = make_article_pairs(records, PairSpec(max_fraction=0.3, copy_labels=True), 1, ["news"])
    assert all(p.labels["abusive"] is not None for p in kept)


def test_general_reactions_are_never_made_off_topic() -> None:
    """A comment that names nothing of its article ("great article") is on topic anywhere."""
    generic = [
        replace(r, id=f"generic:{k}", text="multumesc pentru articol, foarte bine scris si documentat " * 2)
        for k, r in enumerate(_news("news"))
    ]
    records = [*generic, *[_rec("plain", i) for i in range(60)]]
    assert make_article_pairs(records, PairSpec(max_fraction=0.3), 1, ["news"]) == []
    assert make_article_pairs(records, PairSpec(max_fraction=0.3, min_own_overlap=0), 1, ["news"])
    specific = _news("news")
    pairs = make_article_pairs([*generic, *specific], PairSpec(max_fraction=0.3), 1, ["news"])
    assert pairs and {p.id.split("#")[0] for p in pairs} <= {r.id for r in specific}


def test_foreign_articles_can_come_from_other_splits() -> None:
    one_article = _news("news", 6, topics=("bac",)) + [_rec("plain", i) for i in range(100)]
    assert make_article_pairs(one_article, PairSpec(max_fraction=0.2), 2, ["news"]) == []
    elsewhere = _news("news", 2, topics=("spital", "zapada"))
    pairs = make_article_pairs(one_article, PairSpec(max_fraction=0.2), 2, ["news"], one_article + elsewhere)
    off = [p for p in pairs if p.labels["off_topic"] == 1]
    assert off and {p.article_title for p in off} <= {TOPICS["spital"][0], TOPICS["zapada"][0]}
    assert {p.id.split("#")[0] for p in pairs} <= {r.id for r in one_article}


def test_same_story_articles_are_never_paired() -> None:
    title, body = TOPICS["tram"]
    twin = [
        _rec(
            "news",
            500 + j,
            f"alt comentariu {j} " + " ".join(WORDS),
            article_title=title + " - FOTO",
            article_text=body,
            group="news:article:tram-foto",
        )
        for j in range(5)
    ]
    records = _news("news", 5, topics=("tram",)) + twin + [_rec("plain", i) for i in range(200)]
    assert make_article_pairs(records, PairSpec(max_fraction=0.3), 3, ["news"]) == []
    english = [
        _rec(
            "news",
            900 + j,
            " ".join(WORDS),
            lang="en",
            article_title="Budget vote tonight",
            article_text="The council votes.",
            group="news:en",
        )
        for j in range(5)
    ]
    assert make_article_pairs(records + english, PairSpec(max_fraction=0.3), 3, ["news"]) == []


# --------------------------------------------------------------------------- load + whole build


def test_load_caps_filters_languages_and_adopts_catalog_identity(tmp_path: Path) -> None:
    def convert(folder: Path, *, shout: bool = False) -> Iterator[CommentRecord]:
        assert folder.name == "fake-src"
        for i in range(30):
            text = f"\ufeffcomment {i}" + ("!" if shout else "")
            yield CommentRecord(
                id=str(i), text=text, source="whatever", licence="unknown", lang="ro" if i % 3 else "en"
            )
        yield CommentRecord(id="empty", text="   ", source="whatever", licence="unknown", lang="ro")

    catalog = _catalog(_src("fake-src", languages=["ro", "en"], max_rows=10, params={"shout": True}))
    sel = select_sources(catalog, langs=["ro"])
    result = build_dataset(catalog, sel, _root(tmp_path, "fake-src"), lookup=_lookup({"fake_src": convert}))
    recs = [r for s in SPLITS for r in result.splits[s]]
    assert len(recs) == 10 and all(r.lang == "ro" for r in recs)
    assert all(r.source == "fake-src" and r.licence == "MIT" and r.id.startswith("fake-src:") for r in recs)
    assert all(
        r.group.startswith("fake-src:") and r.text.endswith("!") and "\ufeff" not in r.text for r in recs
    )
    info = result.info["sources"][0]
    assert (info["read"], info["dropped_lang"], info["dropped_empty"], info["dropped_cap"]) == (31, 10, 1, 10)


def test_cap_is_a_seeded_sample_in_original_order() -> None:
    records = [_rec("a", i) for i in range(50)]
    capped = cap_records(records, 20, 1)
    assert len(capped) == 20 and capped == sorted(capped, key=records.index)
    assert capped == cap_records(records, 20, 1) and capped != records[:20]
    assert cap_records(records, None, 1) is records


def test_missing_folder_and_missing_converter_are_skipped_with_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = _catalog(_src("present"), _src("absent"), _src("noconv"), _src("pkg", path=None))
    lookup = _lookup(
        {
            "present": lambda folder: iter(_news("x", 2)),
            "absent": lambda folder: iter([]),
            "pkg": lambda folder: iter([_rec("pkg", 1)]),
        }
    )
    with caplog.at_level(logging.WARNING):
        result = build_dataset(
            catalog, select_sources(catalog), _root(tmp_path, "present", "noconv"), lookup=lookup
        )
    skipped = {s["name"]: s["reason"] for s in result.info["skipped"]}
    assert set(skipped) == {"absent", "noconv"}
    assert "missing" in skipped["absent"] and "converter module 'noconv' not found" in skipped["noconv"]
    assert "skipping absent" in caplog.text and "skipping noconv" in caplog.text
    rows = {s["name"]: sum(s["rows"].values()) for s in result.info["sources"]}
    assert rows == {"present": 12, "absent": 0, "noconv": 0, "pkg": 1}


def test_nothing_to_build_and_bad_params_are_clear_errors(tmp_path: Path) -> None:
    catalog = _catalog(_src("absent"))
    with pytest.raises(DataBuildError, match=r"no records to build from.*absent"):
        build_dataset(catalog, select_sources(catalog), tmp_path, lookup=_lookup({}))
    catalog = _catalog(_src("src", params={"threshold": 2}))

    def convert(folder: Path, *, limit: int = 1) -> Iterator[CommentRecord]:
        yield _rec("src", 1)

    with pytest.raises(CatalogError, match=r"threshold.*takes limit"):
        build_dataset(
            catalog, select_sources(catalog), _root(tmp_path, "src"), lookup=_lookup({"src": convert})
        )


def test_failing_converter_is_skipped_unless_strict(tmp_path: Path) -> None:
    def broken(folder: Path) -> Iterator[CommentRecord]:
        yield _rec("broken", 1)
        raise ValueError("row 2: bad label 'x'")

    catalog = _catalog(_src("broken"), _src("good"))
    lookup = _lookup({"broken": broken, "good": lambda folder: iter(_news("good", 2))})
    root = _root(tmp_path, "broken", "good")
    result = build_dataset(catalog, select_sources(catalog), root, lookup=lookup)
    assert "bad label" in result.info["skipped"][0]["reason"]
    assert all(r.source == "good" for s in SPLITS for r in result.splits[s])
    with pytest.raises(DataBuildError, match=r"broken.*bad label"):
        build_dataset(catalog, select_sources(catalog), root, lookup=lookup, strict=True)


def _full_build(tmp_path: Path) -> tuple[Any, Path]:
    catalog = _catalog(
        _src("news", article_pairs=True, weight=2.0),
        _src("tweets", languages=["en"], licence="CC-BY-NC-SA-4.0"),
        pairs={"max_fraction": 0.1},
    )
    tweets = [_rec("tweets", i, lang="en", labels={"mocking": i % 3 == 0}) for i in range(150)]
    # a tweet duplicating a news comment (normalised) is dropped; news comes first in the catalog
    dup_text = _news("news")[0].text.upper() + "!!"
    tweets.append(_rec("tweets", 999, dup_text, lang="en"))
    lookup = _lookup({"news": lambda folder: iter(_news("news", 8)), "tweets": lambda folder: iter(tweets)})
    result = build_dataset(catalog, select_sources(catalog), _root(tmp_path, "news", "tweets"), lookup=lookup)
    return result, save_build(result, tmp_path / "out")


def test_no_group_and_no_text_crosses_splits(tmp_path: Path) -> None:
    result, out = _full_build(tmp_path)
    group_split: dict[str, str] = {}
    text_split: dict[str, tuple[str, str]] = {}
    for split in SPLITS:
        recs = load_split(out, split)
        assert recs, f"{split} is empty"
        for rec in recs:
            assert group_split.setdefault(str(rec.group), split) == split
            key = normalise_for_dedup(rec.text)
            first = text_split.setdefault(key, (split, str(rec.group)))
            if first != (split, str(rec.group)):
                pytest.fail(f"text {rec.text!r} in {first} and {(split, rec.group)}")
            if rec.synthetic:
                assert first == (split, str(rec.group))
    assert sum(r.source == "tweets" for s in SPLITS for r in result.splits[s]) == 150


def test_saved_build_round_trips_and_describes_itself(tmp_path: Path) -> None:
    result, out = _full_build(tmp_path)
    for split in SPLITS:
        assert load_split(out, split) == result.splits[split]
    columns = load_columns(out)
    assert tuple(columns["train"]) == ROW_COLUMNS
    from datasets import load_from_disk

    features = load_from_disk(str(out))["train"].features
    assert features["abusive"].dtype == "int8" and features["synthetic"].dtype == "bool"
    assert None in columns["train"]["mocking"]
    info = load_build_info(out)
    assert info["seed"] == 13 and info["config"]["pairs"]["max_fraction"] == 0.1
    news = next(s for s in info["sources"] if s["name"] == "news")
    assert news["licence"] == "MIT" and news["status"] == "used"
    assert sum(news["rows"].values()) == 48 and sum(news["synthetic_rows"].values()) > 0
    tweets = next(s for s in info["sources"] if s["name"] == "tweets")
    assert tweets["dropped_duplicates"] == 1 and tweets["licence_class"] == "non-commercial"
    assert info["splits"] == {s: len(result.splits[s]) for s in SPLITS}
    for split in SPLITS:
        assert info["synthetic"][split] <= 0.1 * info["splits"][split] + 1e-9
    assert source_weights(info) == {"news": 2.0, "tweets": 1.0}
    card = data_sources_for_card(info)
    assert [c["name"] for c in card] == ["news", "tweets"] and card[1]["licence"] == "CC-BY-NC-SA-4.0"


def test_save_refuses_to_clobber_a_foreign_directory(tmp_path: Path) -> None:
    result, out = _full_build(tmp_path)
    save_build(result, out)  # replacing an earlier build is fine
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(DataBuildError, match="not a commentmod data build"):
        save_build(result, foreign)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(DataBuildError, match="not a data build"):
        load_split(foreign, "train")
    with pytest.raises(DataBuildError, match="unknown split"):
        load_split(out, "dev")
    with pytest.raises(DataBuildError, match=BUILD_INFO_NAME):
        load_build_info(foreign)


def test_stats_table_counts_sources_languages_labels_and_splits(tmp_path: Path) -> None:
    result, out = _full_build(tmp_path)
    stats = stats_from_records(result.splits)
    assert stats == stats_from_columns(load_columns(out))
    tweets = stats.labels[("tweets", "en", "")]
    assert tweets["mocking"]["1"] == 50 and tweets["mocking"]["0"] == 100 and tweets["abusive"]["None"] == 150
    assert sum(stats.rows[("tweets", "en", "")].values()) == 150
    table = format_stats(stats)
    lines = table.splitlines()
    assert any(line.startswith("news [synthetic]") for line in lines)
    tweet_line = next(line for line in lines if line.startswith("tweets "))
    assert "50/100/0" in tweet_line and tweet_line.split()[5] == "150"
    total = sum(len(v) for v in result.splits.values())
    assert next(line for line in lines if line.startswith("TOTAL")).split()[4] == str(total)
    assert any(line.startswith("validation") for line in lines)


def test_cli_build_and_stats_with_the_handmade_converter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMMENTMOD_DATA", raising=False)
    root = tmp_path / "datasets"
    folder = root / "handmade-ro-uk-ru"
    folder.mkdir(parents=True)
    rows = []
    for t, topic in enumerate(TOPICS):
        title, body = TOPICS[topic]
        for j in range(4):
            rows.append(
                {
                    "id": f"hm-{t}{j}",
                    "lang": "ro",
                    "text": f"{topic} comentariul {j} " + " ".join(WORDS),
                    "article_id": topic,
                    "article_title": title,
                    "article_text": body,
                    "abusive": j % 2,
                    "mocking": 0,
                    "off_topic": int(j == 3),
                }
            )
    (folder / "comments.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    config = tmp_path / "data.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    _src(
                        "handmade-ro-uk-ru",
                        languages=["ro", "uk", "ru"],
                        licence="CC0-1.0",
                        article_pairs=True,
                    ),
                    _src("not-here", licence="unknown"),
                ],
                "pairs": {"max_fraction": 0.2},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "built"
    code = main(["data", "build", "--config", str(config), "--out", str(out), "--data-root", str(root)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "handmade-ro-uk-ru" in printed and "not-here" in printed and f"wrote {out}" in printed
    assert all(load_split(out, s) for s in SPLITS)
    assert main(["data", "stats", str(out)]) == 0
    stats_out = capsys.readouterr().out
    assert "TOTAL" in stats_out and "handmade-ro-uk-ru [synthetic]" in stats_out
    code = main(
        [
            "data",
            "build",
            "--config",
            str(config),
            "--out",
            str(out),
            "--data-root",
            str(root),
            "--sources",
            "nope",
        ]
    )
    assert code == 2


# --------------------------------------------------------------------------- positive-rate cap


def test_positive_rate_cap_is_seeded_and_keeps_other_labels() -> None:
    records = [_rec("s", i, labels={"mocking": 1}) for i in range(12)]
    records += [_rec("s", 100 + i, labels={"mocking": 0}) for i in range(9)]
    records += [_rec("s", 200 + i, labels={"mocking": 1, "abusive": 1}) for i in range(3)]
    records += [_rec("s", 300, labels={"abusive": 0})]
    capped, n_capped, n_dropped = limit_positive_rate(records, {"mocking": 0.25}, seed=3)
    mocking = [r.labels["mocking"] for r in capped]
    assert mocking.count(0) == 9 and mocking.count(1) == 3  # 0.25 / 0.75 * 9 negatives
    kept_unknown = sum(1 for r in capped if r.labels["abusive"] == 1 and r.labels["mocking"] is None)
    assert (n_capped, n_dropped) == (12, 12 - kept_unknown) and len(capped) == len(records) - n_dropped
    # a capped row that still knows another label stays, with mocking unknown
    assert all(r.labels["mocking"] in (1, None) for r in capped if r.labels["abusive"] == 1)
    assert sum(1 for r in capped if r.labels["abusive"] == 1) == 3
    assert any(r.id == "s:300" for r in capped)  # rows without the label are untouched
    order = [r.id for r in records]
    assert [r.id for r in capped] == sorted((r.id for r in capped), key=order.index)  # original order
    assert limit_positive_rate(records, {"mocking": 0.25}, seed=3) == (capped, n_capped, n_dropped)
    assert limit_positive_rate(records, {"mocking": 0.25}, seed=4)[0] != capped
    assert limit_positive_rate(records, {}, seed=3) == (records, 0, 0)
    assert limit_positive_rate(records, {"mocking": 1.0}, seed=3) == (records, 0, 0)
    only_positive = [_rec("s", i, labels={"mocking": 1}) for i in range(5)]
    assert limit_positive_rate(only_positive, {"mocking": 0.5}, seed=3) == ([], 5, 5)


def test_build_applies_the_positive_rate_cap_and_reports_it(tmp_path: Path) -> None:
    rows = [_rec("bal", i, labels={"mocking": i % 2}) for i in range(200)]
    catalog = _catalog(_src("bal", max_positive_rate={"mocking": 0.2}))
    lookup = _lookup({"bal": lambda folder: iter(rows)})
    result = build_dataset(catalog, select_sources(catalog), _root(tmp_path, "bal"), lookup=lookup)
    recs = [r for s in SPLITS for r in result.splits[s]]
    assert (
        sum(r.labels["mocking"] == 1 for r in recs) == 25
        and sum(r.labels["mocking"] == 0 for r in recs) == 100
    )
    info = result.info["sources"][0]
    assert info["capped_positives"] == 75 and info["dropped_positive_rate"] == 75
    assert info["max_positive_rate"] == {"mocking": 0.2}


# --------------------------------------------------------------------------- emoji counterfactuals


def test_strip_emoji_removes_whole_sequences_and_tidies_spacing() -> None:
    assert strip_emoji("Bravo 👏👏, încă un termen ratat 🙄") == "Bravo, încă un termen ratat"
    assert strip_emoji("family 👨\u200d👩\u200d👧 ok 👍🏽 ❤️ fine") == "family ok fine"
    assert strip_emoji("line one 😂\n🤡\nline two") == "line one\nline two"
    assert strip_emoji("no emoji here: ©, 1st!") == "no emoji here: ©, 1st!"
    assert has_emoji("ok ❤️") and has_emoji("🇷🇴") and not has_emoji("plain, text!")


def _mix(lang: str, n_pos: int, n_pos_emoji: int, n_neg: int, n_neg_emoji: int) -> list[CommentRecord]:
    out = []
    for i in range(n_pos):
        text = f"{lang} sure, great plan number {i} as always" + (" 🙄" if i < n_pos_emoji else "")
        out.append(
            _rec(
                "m", i, text, id=f"m:{lang}:{i}", lang=lang, labels={"mocking": 1}, group=f"m:{lang}:g{i % 7}"
            )
        )
    for i in range(n_neg):
        text = f"{lang} the tram opens in march, line {i}" + (" 😂" if i < n_neg_emoji else "")
        labels = {"mocking": 0, "abusive": 1 if i % 10 == 9 else 0}
        out.append(
            _rec(
                "m", 0, text, id=f"m:{lang}:{1000 + i}", lang=lang, labels=labels, group=f"m:{lang}:g{i % 5}"
            )
        )
    return out


def _share(recs: list[CommentRecord], lang: str, value: int) -> float:
    cell = [r for r in recs if r.lang == lang and r.labels["mocking"] == value]
    return sum(has_emoji(r.text) for r in cell) / len(cell)


def test_emoji_augmentation_makes_emoji_uninformative_per_language() -> None:
    records = _mix("ro", 40, 20, 200, 4) + _mix("en", 30, 15, 100, 40)
    records.append(_rec("m", 5000, "🙄", lang="ro", labels={"mocking": 1}))  # nothing left without emoji
    records.append(_rec("m", 5001, "spam 👍", lang="ro", synthetic=True, labels={"off_topic": 1}))
    spec = EmojiAugmentSpec(enabled=True)
    copies, report = augment_emoji(records, spec, seed=5)
    after = records + copies
    for lang in ("ro", "en"):
        assert abs(_share(after, lang, 1) - _share(after, lang, 0)) < 0.01, lang
    by_id = {r.id: r for r in records}
    for copy in copies:
        base_id, suffix = copy.id.rsplit("#", 1)
        base = by_id[base_id]
        assert copy.augmented and not base.augmented and suffix in ("emoji", "noemoji")
        assert (copy.group, copy.source, copy.licence, copy.lang, copy.labels) == (
            base.group,
            base.source,
            base.licence,
            base.lang,
            base.labels,
        )
        if suffix == "noemoji":
            assert has_emoji(base.text) and not has_emoji(copy.text) and copy.text == strip_emoji(base.text)
        else:
            assert copy.text.startswith(base.text + " ") and copy.text[len(base.text) + 1 :] in spec.emoji
            assert base.labels["mocking"] == 0 and base.labels["abusive"] != 1  # never onto abusive rows
    assert "m:5000" not in {c.id.rsplit("#", 1)[0] for c in copies}  # too short once stripped
    assert "m:5001" not in {c.id.rsplit("#", 1)[0] for c in copies}  # synthetic rows are left alone
    ro = report["cells"]["ro"]
    assert ro["copies"] == {
        "1": 20,
        "0": sum(1 for c in copies if c.lang == "ro" and c.labels["mocking"] == 0),
    }
    assert ro["before"]["emoji_share"]["1"] > ro["before"]["emoji_share"]["0"]
    # en: emoji were commoner on mocking=0; emoji-free copies of those rows even it out
    assert any(c.lang == "en" and c.id.endswith("#noemoji") and c.labels["mocking"] == 0 for c in copies)
    assert augment_emoji(records, spec, seed=5) == (copies, report)
    assert augment_emoji(records, EmojiAugmentSpec(enabled=False), seed=5) == ([], {"enabled": False})


def test_emoji_augmentation_fixed_rate_and_whole_split_cell() -> None:
    records = _mix("ro", 40, 20, 200, 0)
    copies, report = augment_emoji(records, EmojiAugmentSpec(enabled=True, add_rate=0.5, by="all"), seed=1)
    added = [c for c in copies if c.id.endswith("#emoji")]
    eligible = sum(1 for r in records if r.labels["mocking"] == 0 and r.labels["abusive"] != 1)
    assert 0.35 * eligible < len(added) < 0.65 * eligible and set(report["cells"]) == {"all"}
    copies, _ = augment_emoji(records, EmojiAugmentSpec(enabled=True, strip_rate=0.0, min_words=1), seed=1)
    assert not any(c.id.endswith("#noemoji") for c in copies)


def test_build_augments_the_train_split_only(tmp_path: Path) -> None:
    rows = _mix("ro", 60, 30, 300, 6)
    catalog = _catalog(_src("m"), augment={"emoji": {"enabled": True}})
    lookup = _lookup({"m": lambda folder: iter(rows)})
    result = build_dataset(catalog, select_sources(catalog), _root(tmp_path, "m"), lookup=lookup)
    assert result.info["augmented"]["train"] > 0
    assert result.info["augmented"]["validation"] == result.info["augmented"]["test"] == 0
    train_groups = {r.group for r in result.splits["train"] if not r.augmented}
    assert all(r.group in train_groups for r in result.splits["train"] if r.augmented)
    info = result.info["sources"][0]
    assert info["augmented_rows"]["train"] == result.info["augmented"]["train"]
    assert sum(info["rows"].values()) == len(rows)  # real rows are counted apart from the copies
    assert set(result.info["augment"]["cells"]) == {"ro"}
    out = save_build(result, tmp_path / "out")
    assert load_split(out, "train") == result.splits["train"]
    stats = stats_from_columns(load_columns(out))
    assert sum(stats.rows[("m", "ro", "augmented")].values()) == result.info["augmented"]["train"]
    assert any(line.startswith("m [augmented]") for line in format_stats(stats).splitlines())

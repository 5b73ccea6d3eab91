from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from commentmod.training.data.catalog import CatalogError
from commentmod.training.data.catalog_load import catalog_from_dict, load_catalog
from commentmod.training.data.licences import KNOWN_LICENCES, is_commercial_ok, licence_class
from commentmod.training.data.selection import DATA_ROOT_ENV, REPO_ROOT, resolve_data_root, select_sources

CONFIG = REPO_ROOT / "configs" / "data.yaml"
PAIR_SOURCES = {"news-ro-offense", "sfu-ctc", "fox-news-comments", "handmade-ro-uk-ru", "starter"}


def _source(name: str = "ro-offense", **over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "converter": name.replace("-", "_"),
        "languages": ["ro"],
        "licence": "Apache-2.0",
    }
    entry.update(over)
    return entry


def _catalog(*sources: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"sources": list(sources) or [_source()], **top}


def test_repo_catalog_lists_every_dataset_with_conventional_converter_names() -> None:
    catalog = load_catalog(CONFIG)
    names = catalog.names()
    assert "starter" in names and len(names) == 23
    starter = catalog.source("starter")
    assert starter.path is None and starter.converter == "starter"
    for spec in catalog.sources:
        if spec.name != "starter":
            assert spec.converter == spec.name.replace("-", "_")
            assert spec.path == spec.name
        assert spec.licence in KNOWN_LICENCES
    assert {s.name for s in catalog.sources if s.article_pairs} == PAIR_SOURCES
    assert abs(sum(catalog.split.fractions().values()) - 1) < 1e-9
    assert 0 < catalog.pairs.max_fraction <= 0.1


def test_repo_catalog_matches_the_shared_dataset_folders(shared_dir: Path) -> None:
    folders = {p.name for p in (shared_dir / "datasets").iterdir() if p.is_dir()}
    listed = {s.path for s in load_catalog(CONFIG).sources if s.path}
    assert folders == listed


def test_repo_catalog_licences_follow_provenance() -> None:
    catalog = load_catalog(CONFIG)
    expected = {
        "ro-offense": "Apache-2.0",
        "news-ro-offense": "Apache-2.0",
        "civil-toxic-spans": "CC0-1.0",
        "handmade-ro-uk-ru": "CC0-1.0",
        "sfu-ctc": "CC-BY-NC-SA-4.0",
        "roff": "unknown",
        "semeval2018-irony": "research-only",
        "figlang2020-sarcasm-reddit-twitter": "unknown",
        "sarcasm-v2-iac": "research-only",
        "fanchuan-parody-en": "MIT",
    }
    assert {k: catalog.source(k).licence for k in expected} == expected


def test_repo_catalog_caps_the_balanced_sarcasm_sets_and_augments_train() -> None:
    catalog = load_catalog(CONFIG)
    for name in ("figlang2020-sarcasm-reddit-twitter", "sarcasm-v2-iac"):
        assert catalog.source(name).max_positive_rate == {"mocking": 0.25}
    # positives only: a positive-rate cap would remove them all
    assert catalog.source("fanchuan-parody-en").max_positive_rate == {}
    emoji = catalog.augment.emoji
    assert emoji.enabled and emoji.add_rate is None and emoji.by == "lang" and emoji.strip_rate == 1.0
    assert set(emoji.emoji) == {"👏", "🙏", "❤️", "😊", "😢", "👍"}
    excluded = dict(select_sources(catalog, commercial_ok=True).excluded)
    assert "figlang2020-sarcasm-reddit-twitter" in excluded and "sarcasm-v2-iac" in excluded
    assert "fanchuan-parody-en" not in excluded


def test_defaults_and_round_trip_through_to_dict() -> None:
    catalog = catalog_from_dict(_catalog(_source(params={"x": 1}, max_rows=10)))
    spec = catalog.sources[0]
    assert spec.path == "ro-offense" and spec.weight == 1.0 and spec.enabled and not spec.article_pairs
    assert spec.max_positive_rate == {}
    assert catalog.seed == 13 and catalog.dedup.conflict == "unknown"
    assert not catalog.augment.emoji.enabled  # off unless the catalog turns it on
    again = catalog_from_dict(catalog.to_dict())
    assert again == catalog


def test_positive_rate_and_augment_parse_and_round_trip() -> None:
    catalog = catalog_from_dict(
        _catalog(
            _source(max_positive_rate={"mocking": 0.3}),
            augment={
                "emoji": {"enabled": True, "add_rate": 0.2, "by": "all", "emoji": ["😊"], "min_words": 2}
            },
        )
    )
    assert catalog.sources[0].max_positive_rate == {"mocking": 0.3}
    emoji = catalog.augment.emoji
    assert (emoji.enabled, emoji.add_rate, emoji.by, emoji.emoji, emoji.min_words) == (
        True,
        0.2,
        "all",
        ("😊",),
        2,
    )
    assert catalog.to_dict()["augment"]["emoji"]["add_rate"] == 0.2
    assert catalog_from_dict(catalog.to_dict()) == catalog
    auto = catalog_from_dict(_catalog(augment={"emoji": {"enabled": True}}))
    assert auto.augment.emoji.add_rate is None and auto.to_dict()["augment"]["emoji"]["add_rate"] == "auto"
    assert catalog_from_dict(auto.to_dict()) == auto


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_catalog(_source(max_row=5)), "did you mean 'max_rows'"),
        (_catalog(_source(licence="CC BY NC SA 4.0")), "not recognised"),
        (_catalog(_source(licence="Apache 2.0")), "did you mean 'Apache-2.0'"),
        (_catalog(_source(languages=["Romanian"])), "not a language code"),
        (_catalog(_source(languages=[])), "list of language codes"),
        (_catalog(_source(converter="ro-offense")), "module name"),
        (_catalog(_source(weight="heavy")), "weight"),
        (_catalog(_source(max_rows=0)), ">= 1"),
        (_catalog(_source(path="/abs/path")), "relative to the data root"),
        (_catalog(_source(article_pairs="yes")), "true or false"),
        (_catalog(_source(max_positive_rate=0.3)), "mapping of label to rate"),
        (_catalog(_source(max_positive_rate={"sarcasm": 0.3})), "not a label"),
        (_catalog(_source(max_positive_rate={"mocking": 1.5})), "max_positive_rate.mocking"),
        (_catalog(augment={"emoji": {"add_rate": "lots"}}), "add_rate"),
        (_catalog(augment={"emoji": {"by": "source"}}), "'lang'"),
        (_catalog(augment={"emoji": {"emoji": []}}), "list of emoji"),
        (_catalog(augment={"emoji": {"strip": 1.0}}), "did you mean 'strip_rate'"),
        (_catalog(augment={"exclamation": {}}), "valid keys are emoji"),
        ({"sources": [{"name": "x", "languages": ["en"], "licence": "MIT"}]}, "missing 'converter'"),
        ({"sources": []}, "no 'sources'"),
        (_catalog(_source(), _source()), "listed twice"),
        (_catalog(split={"train": 0.8, "validation": 0.3, "test": 0.1}), "sum to"),
        (_catalog(split={"train": 0.8, "valid": 0.2}), "did you mean 'validation'"),
        (_catalog(pairs={"max_fraction": 0.9}), "pairs.max_fraction"),
        (_catalog(dedup={"conflict": "majority"}), "unknown, positive, first"),
        (_catalog(pairs={"articles_from": "train"}), "'all'"),
        (_catalog(filters={"langs": "xx-yy"}), "language code"),
        (_catalog(sorces=[]), "did you mean 'sources'"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_validation_errors_say_what_is_wrong_and_what_to_write(data: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        catalog_from_dict(data)


def test_load_catalog_reports_file_and_yaml_problems(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(_catalog(_source(licence="GPL"))), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"wrong\.yaml.*licence 'GPL'"):
        load_catalog(wrong)


def test_licence_classes() -> None:
    assert [licence_class(x) for x in ("MIT", "CC-BY-SA-4.0", "CC-BY-NC-SA-4.0", "research-only", "odd")] == [
        "permissive",
        "share-alike",
        "non-commercial",
        "research-only",
        "unknown",
    ]
    assert is_commercial_ok("Apache-2.0") and is_commercial_ok("CC0-1.0") and is_commercial_ok("CC-BY-4.0")
    assert not is_commercial_ok("CC-BY-NC-4.0") and not is_commercial_ok("unknown")


def test_select_sources_by_name_language_licence_and_enabled() -> None:
    catalog = catalog_from_dict(
        _catalog(
            _source("ro-offense"),
            _source("sfu-ctc", languages=["en"], licence="CC-BY-NC-SA-4.0"),
            _source("ru-vk", languages=["ru"], licence="MIT"),
            _source("off", enabled=False),
        )
    )
    assert [s.name for s in select_sources(catalog).sources] == ["ro-offense", "sfu-ctc", "ru-vk"]
    sel = select_sources(catalog, commercial_ok=True)
    assert [s.name for s in sel.sources] == ["ro-offense", "ru-vk"]
    assert ("sfu-ctc", "licence CC-BY-NC-SA-4.0 is not commercial-ok") in sel.excluded
    assert [s.name for s in select_sources(catalog, langs=["en", "ru"]).sources] == ["sfu-ctc", "ru-vk"]
    assert [s.name for s in select_sources(catalog, names=["off"]).sources] == ["off"]
    with pytest.raises(CatalogError, match="unknown source"):
        select_sources(catalog, names=["nope"])
    with pytest.raises(CatalogError, match="language code"):
        select_sources(catalog, langs=["Romanian"])


def test_catalog_filters_are_defaults_that_arguments_override() -> None:
    catalog = catalog_from_dict(
        _catalog(
            _source("ro-offense"),
            _source("sfu-ctc", languages=["en"], licence="CC-BY-NC-SA-4.0"),
            filters={"commercial_ok": True, "langs": ["en", "ro"]},
        )
    )
    assert [s.name for s in select_sources(catalog).sources] == ["ro-offense"]
    assert [s.name for s in select_sources(catalog, commercial_ok=False).sources] == ["ro-offense", "sfu-ctc"]


def test_resolve_data_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    (tmp_path / "cli").mkdir()
    (tmp_path / "env").mkdir()
    (tmp_path / "cat").mkdir()
    assert resolve_data_root("cli", "cat") == tmp_path / "cli"
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    assert resolve_data_root(None, "cat") == tmp_path / "env"
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert resolve_data_root(None, "cat") == tmp_path / "cat"
    # not under the cwd: tried relative to the repo, else the cwd path is returned anyway
    assert resolve_data_root(None, "configs") == REPO_ROOT / "configs"
    assert resolve_data_root(None, "missing-dir") == tmp_path / "missing-dir"

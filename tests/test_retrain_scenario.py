"""The retrain scenario at test size (issue 12): a base model, a new site, fast retrain, gate, promote;
then a poisoned batch that the gate refuses.

* Base data: comments in English and Romanian whose labels follow cue words (insults, mocking
  phrases, spam); the tiny encoder is trained a few steps on it, then the n-gram model and stacker.
* The new site: comments on the same kind of news, but its readers insult each other with words the
  base data never has (and sometimes with the base insults); moderators' decisions on them (abusive,
  off_topic) go into a label store through a CSV import, one article per ten comments.
* Fast retrain: the site's held-out PR-AUC goes up, the base test split holds, the gate promotes:
  an artifact appears with version, parent id and label snapshot in its manifest and a "changes since
  parent" section in its card; ``commentmod models list`` shows both versions.
* A poisoned batch (the site's next comments with every decision flipped) is imported on top: the
  fast retrain from the promoted model is refused, the failing cells are named, nothing is written.
"""

from __future__ import annotations

import csv
import json
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commentmod.model.record import CommentRecord

pytestmark = pytest.mark.scenario

FILLER = {
    "en": [
        "the council approved the new budget for the schools",
        "the tram line will open next year after the works",
        "the mayor said the roads will be repaired this summer",
        "the library will close on sundays from next month",
        "water prices go up again in the autumn",
        "the new bridge over the river is almost ready",
    ],
    "ro": [
        "consiliul a aprobat bugetul nou pentru scoli",
        "linia de tramvai va fi gata anul viitor dupa lucrari",
        "primarul a spus ca strazile vor fi reparate vara asta",
        "biblioteca se inchide duminica de luna viitoare",
        "pretul apei creste iar in toamna",
        "podul nou peste rau este aproape gata",
    ],
}
INSULT = {
    "en": ["you idiot", "what a moron", "stupid clown"],
    "ro": ["esti un cretin", "prostule", "nesimtitule"],
}
MOCK = {
    "en": ["sure, genius, great plan", "wow what a surprise"],
    "ro": ["bravo geniule, mare plan", "ce surpriza"],
}
SPAM = {
    "en": ["earn money from home at easy-cash dot com"],
    "ro": ["castiga bani de acasa pe bani-usori punct ro"],
}
# the new site's own words: none of them appears in the base data
SITE_INSULT = {"en": ["zorblat", "kniffwhacker", "grubwhistle"], "ro": ["zmeurac", "frangulache", "bostanoi"]}
SITE_TOPIC = {
    "en": ["at the harbour regatta", "near the gondola station"],
    "ro": ["la regata din port", "langa telegondola"],
}
NOISE = 0.1
POISON = 1200
SITE_SPAM = {"en": ["crypto giveaway claim now"], "ro": ["giveaway crypto revendica acum"]}


def base_record(i: int, split: str, rng: random.Random) -> CommentRecord:
    lang = "en" if i % 2 else "ro"
    labels = {"abusive": int(rng.random() < 0.3), "mocking": int(rng.random() < 0.25), "off_topic": 0}
    labels["off_topic"] = int(rng.random() < 0.15)
    parts = [rng.choice(FILLER[lang])]
    for name, cues in (("abusive", INSULT), ("mocking", MOCK), ("off_topic", SPAM)):
        if labels[name]:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(cues[lang]))
    if rng.random() < NOISE:  # a wrong decision now and then: PR-AUC below 1 moves when the model does
        name = rng.choice(list(labels))
        labels[name] = 1 - labels[name]
    return CommentRecord(
        id=f"base-{split}-{i}", text=" ".join(parts), source=f"base-{lang}", licence="MIT", lang=lang,
        article_title=rng.choice(FILLER[lang]), labels=labels,
    )  # fmt: skip


def write_base_build(out: Path, sizes: dict[str, int], seed: int = 1) -> Path:
    from commentmod.training.data.build_io import to_dataset_dict

    rng = random.Random(seed)
    splits = {name: [base_record(i, name, rng) for i in range(n)] for name, n in sizes.items()}
    to_dataset_dict(splits).save_to_disk(str(out))
    sources = [{"name": f"base-{lang}", "licence": "MIT", "weight": 1.0, "status": "used"} for lang in FILLER]
    (out / "build_info.json").write_text(json.dumps({"sources": sources}), encoding="utf-8")
    return out


def site_rows(n: int, start: int, rng: random.Random, flip: bool = False) -> list[dict[str, Any]]:
    """``n`` comments of the new site (ten per article) as CSV rows of moderators' decisions;
    ``flip``: every decision is the opposite of the truth (the poisoned batch)."""
    rows = []
    for i in range(start, start + n):
        lang = "en" if i % 2 else "ro"
        abusive, spam = rng.random() < 0.4, rng.random() < 0.15
        parts = [rng.choice(FILLER[lang]), rng.choice(SITE_TOPIC[lang])]
        if abusive:  # the site's own insults, the common ones, or both
            kind = rng.random()
            if kind < 0.6:
                parts.insert(0, rng.choice(SITE_INSULT[lang]))
            if kind > 0.3:
                parts.append(rng.choice(INSULT[lang]))
        if spam:
            parts.append(rng.choice(SITE_SPAM[lang]))
        rows.append(
            {
                "id": f"site-{i}",
                "text": " ".join(parts),
                "article_id": f"article-{i // 10}",
                "article_title": rng.choice(SITE_TOPIC[lang]),
                "lang": lang,
                "abusive": int(abusive != flip),
                "off_topic": int(spam != flip),
                "moderator": "mod-b" if flip else "mod-a",
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def base_run(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run dir, data build): the tiny encoder trained a few steps on the base data, + hybrid."""
    from commentmod.training.fit.config import config_from_dict
    from commentmod.training.fit.hybrid_fit import fit_hybrid
    from commentmod.training.fit.train import train

    root = tmp_path_factory.mktemp("retrain-base")
    data = write_base_build(root / "data", {"train": 600, "validation": 200, "test": 400})
    cfg = config_from_dict(
        {
            "base_model": str(tiny_base_dir),
            "data": {"dataset_dir": str(data)},
            "context": {"max_length": 48, "min_context_tokens": 4, "max_context_tokens": 16, "stride": 4},
            "batch_size": 16,
            "learning_rate": 1e-3,
            "head_lr": 1e-2,
            "epochs": 1,
            "max_steps": 30,
            "num_threads": 1,
            "seed": 3,
            "device": "cpu",
            "precision": "fp32",
        }
    )
    run = train(cfg, root / "run").out_dir
    fit_hybrid(run, data, device="cpu")
    return run, data


def retrain_options(parent: Path, store: Path, out: Path, **kw: Any) -> Any:
    from commentmod.training.retrain.gate import GateLimits
    from commentmod.training.retrain.options import RetrainOptions

    return RetrainOptions(
        parent=parent, labels=store, out=out, limits=GateLimits(min_positives=10, min_negatives=10),
        replay_rows=None, validation_rows=None, test_rows=None, int8=False, device="cpu", threads=1, **kw,
    )  # fmt: skip


def cell(comparison: Any, label: str, lang: str = "all") -> Any:
    return next(c for c in comparison.cells if (c.label, c.lang) == (label, lang))


def check_promoted(result: Any, run: Path, runs: Path, snapshot: str) -> None:
    """The honest batch: site up, base held, an artifact with its lineage and changes section."""
    from commentmod.model.manifest_io import read_manifest
    from commentmod.serving.scorer import Scorer
    from commentmod.training.retrain.versions import model_id

    verdict = result.verdict
    assert verdict.passed, verdict.reasons()
    # the site's held-out abusive PR-AUC goes up; the base test split holds (within 0.01) everywhere
    assert cell(verdict.new, "abusive").child >= cell(verdict.new, "abusive").parent + 0.05
    assert len(verdict.base.cells) == 9 and all(c.difference >= -0.01 for c in verdict.base.cells)
    art = runs / "site-v2" / "artifact"
    lineage = read_manifest(art).extra["lineage"]
    assert lineage["version"] == 2 and lineage["parent_version"] == 1
    assert lineage["parent_id"] == model_id(run) and lineage["model_id"] == model_id(runs / "site-v2")
    assert lineage["label_snapshot"] == snapshot and lineage["mode"] == "fast"
    assert lineage["metrics"]["new_test"]["abusive"] == pytest.approx(cell(verdict.new, "abusive").child)
    card = (art / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Changes since parent" in card and "(b) held-out new labels" in card
    items = [("zorblat la regata din port", None, None), ("la regata din port", None, None)]
    slang, clean = Scorer.load(art).probabilities(items)
    assert slang[0] > clean[0]  # the site's own insult is learnt
    check_mocking_kept(run, runs / "site-v2")


def check_mocking_kept(parent: Path, child: Path) -> None:
    """The site never judged mocking: its head row, thresholds and stacker entry are the parent's."""
    from safetensors.numpy import load_file

    from commentmod.training.fit.hybrid_fit import load_hybrid
    from commentmod.training.fit.modeling import RunInfo

    info, parent_info = RunInfo.load(child), RunInfo.load(parent)
    assert info.extra["retrain"]["kept_from_parent"]["labels"] == ["mocking"]
    j = list(info.labels).index("mocking")
    heads = [load_file(d / "model.safetensors") for d in (parent, child)]
    key = next(k for k in heads[0] if k.startswith("head.") and k.endswith("weight"))
    np.testing.assert_array_equal(heads[0][key][j], heads[1][key][j])
    assert not np.array_equal(heads[0][key][0], heads[1][key][0])  # abusive was refitted
    assert info.thresholds["mocking"] == parent_info.thresholds["mocking"]
    (spec, thresholds), (parent_spec, parent_thresholds) = load_hybrid(child), load_hybrid(parent)
    kept, was = spec.per_label["mocking"], parent_spec.per_label["mocking"]
    assert (kept.coef_transformer, kept.coef_ngram, kept.intercept) == (
        was.coef_transformer,
        was.coef_ngram,
        was.intercept,
    )
    assert (
        kept.why.startswith("kept from the parent") and thresholds["mocking"] == parent_thresholds["mocking"]
    )


def check_refused(code: int, err: str, report: Path, runs: Path) -> None:
    """The poisoned batch: exit 3, the failing base cells named, no run, no artifact."""
    assert code == 3
    refused = json.loads(report.read_text(encoding="utf-8"))["verdict"]
    assert not refused["passed"] and not refused["base_test"]["passed"]
    failed = [c for c in refused["base_test"]["cells"] if not c["passed"]]
    assert any(c["label"] == "abusive" for c in failed)
    for c in failed:
        assert f"base test split: {c['label']} x {c['lang']}: PR-AUC" in err
    assert sorted(p.name for p in runs.iterdir()) == [".retrain-cache", "base", "site-v2"]
    # the base samples were encoded once: 6 row sets the first time, 3 new ones (new labels) the second
    assert len(list((runs / ".retrain-cache").glob("*.npz"))) == 9


def test_new_site_is_promoted_and_poison_is_refused(
    base_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from commentmod.serving.cli import main
    from commentmod.training.export.artifact import ExportOptions, export_artifact
    from commentmod.training.labels import LabelStore
    from commentmod.training.retrain.pipeline import retrain
    from commentmod.training.retrain.versions import model_id

    run, _ = base_run
    runs = tmp_path / "runs"
    export_artifact(run, runs / "base" / "artifact", ExportOptions(int8=False, name="base"))
    rng = random.Random(7)
    store = tmp_path / "labels.sqlite"
    with LabelStore(store) as s:
        s.import_file(write_csv(tmp_path / "site.csv", site_rows(600, 0, rng)), "csv")
        snapshot = s.snapshot_hash()
    start = time.perf_counter()
    result = retrain(retrain_options(run, store, runs / "site-v2", cache=runs / ".retrain-cache"))
    assert time.perf_counter() - start < 120, result.seconds
    check_promoted(result, run, runs, snapshot)

    capsys.readouterr()
    assert main(["models", "list", str(runs)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in listing[1:]] == [["base", "1"], ["site-v2", "2"]]
    assert result.lineage.model_id in listing[2] and model_id(run) in listing[2]

    # the site's next comments, every decision flipped: refused on the base test split
    with LabelStore(store) as s:
        s.import_file(write_csv(tmp_path / "poison.csv", site_rows(POISON, 600, rng, flip=True)), "csv")
    report = tmp_path / "v3.json"
    args = [
        "retrain",
        "--from",
        str(runs / "site-v2"),
        "--labels",
        str(store),
        "--out",
        str(runs / "site-v3"),
    ]
    args += ["--replay-rows", "all", "--min-support", "10", "--no-int8", "--threads", "1"]
    code = main([*args, "--json", str(report)])
    check_refused(code, capsys.readouterr().err, report, runs)


def test_full_mode_fine_tunes_the_parent_encoder(base_run: tuple[Path, Path], tmp_path: Path) -> None:
    """``--mode full`` continues fine-tuning (the parent's 30-step schedule) on replay + new labels; with
    a permissive gate it is promoted, and the child's encoder differs from the parent's."""
    from safetensors.numpy import load_file

    from commentmod.model.manifest_io import read_manifest
    from commentmod.training.fit.modeling import RunInfo
    from commentmod.training.labels import LabelStore
    from commentmod.training.retrain.gate import GateLimits
    from commentmod.training.retrain.pipeline import retrain

    run, data = base_run
    store = tmp_path / "labels.sqlite"
    with LabelStore(store) as s:
        s.import_file(write_csv(tmp_path / "site.csv", site_rows(300, 0, random.Random(3))), "csv")
    options = retrain_options(run, store, tmp_path / "full", mode="full")
    options = replace(options, limits=GateLimits(1.0, 1.0, 5, 5))
    result = retrain(options)
    assert result.promoted and len(result.verdict.base.cells) == 9
    assert read_manifest(tmp_path / "full" / "artifact").extra["lineage"]["mode"] == "full"
    info = RunInfo.load(tmp_path / "full")
    assert info.extra["dataset_dir"] == str(data) and info.extra["steps"] == 30
    assert info.training_config["data"]["dataset_dir"] == str(data)
    assert [s["name"] for s in info.data_sources] == ["base-en", "base-ro", "label-store"]
    before, after = load_file(run / "model.safetensors"), load_file(tmp_path / "full" / "model.safetensors")
    key = next(k for k in before if k.startswith("encoder.") and "attention" in k)
    assert not np.allclose(before[key], after[key])
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging or work dirs left

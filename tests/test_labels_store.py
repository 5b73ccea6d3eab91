"""The label store: every import format, masking, idempotency, conflicts, bad rows, stats and the CLI."""

from __future__ import annotations

import csv
import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from commentmod.model.labels import LABELS
from commentmod.serving.cli import main
from commentmod.training.labels import LabelStore, LabelStoreError, labeling_config
from commentmod.training.labels.coral import DEFAULT_REASON_MAP, load_reason_map
from commentmod.training.labels.resolve import Vote, resolve

T0 = "2024-04-30T10:00:00Z"
T1, T2, T3, T4 = (f"2024-05-0{day}T10:00:00Z" for day in (1, 2, 3, 4))


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    columns = columns or ["id", "text", "article_title", "lang", *LABELS, "moderator", "decided_at"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in columns})
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def decision(cid: str, moderator: str, when: str, **labels: int | None) -> dict[str, Any]:
    return {"id": cid, "text": f"comment {cid}", "moderator": moderator, "decided_at": when, **labels}


def labels_of(store: LabelStore) -> dict[str, dict[str, int | None]]:
    return {r.id.split(":", 1)[1]: dict(r.labels) for r in store.records()}


@pytest.fixture
def store(tmp_path: Path):
    with LabelStore(tmp_path / "labels.sqlite") as opened:
        yield opened


# -- formats ---------------------------------------------------------------------------------------


def test_csv_import_masks_empty_labels(tmp_path: Path, store: LabelStore) -> None:
    path = write_csv(
        tmp_path / "decisions.csv",
        [
            {"id": "c1", "text": "Ești un cretin.", "article_title": "Tramvai", "lang": "ro", "abusive": "1"},
            {"id": "c2", "text": "Vând Logan 2012", "lang": "ro", "abusive": "0", "off_topic": "1"},
        ],
    )
    report = store.import_file(path, "csv")
    assert (report.imported, report.decisions, report.duplicates, report.bad) == (2, 3, 0, [])
    records = {r.id: r for r in store.records()}
    assert set(records) == {"label-store:c1", "label-store:c2"}
    c1, c2 = records["label-store:c1"], records["label-store:c2"]
    assert dict(c1.labels) == {"abusive": 1, "mocking": None, "off_topic": None}  # empty -> None, never 0
    assert dict(c2.labels) == {"abusive": 0, "mocking": None, "off_topic": 1}
    assert (c1.text, c1.lang, c1.article_title, c1.source) == (
        "Ești un cretin.",
        "ro",
        "Tramvai",
        "label-store",
    )
    assert c1.licence == "proprietary"


def test_jsonl_import_keeps_provenance(tmp_path: Path, store: LabelStore) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "c1", "text": "genius plan 🙄", "mocking": 1, "abusive": None, "moderator": "ana",
             "decided_at": "2024-05-01T12:00:00+02:00", "article_id": "a7"},
            {"id": "c2", "text": "ok", "abusive": False, "mocking": "0"},
        ],
    )  # fmt: skip
    report = store.import_file(path, "jsonl", licence="CC-BY-4.0")
    assert report.imported == 2
    assert labels_of(store) == {
        "c1": {"abusive": None, "mocking": 1, "off_topic": None},
        "c2": {"abusive": 0, "mocking": 0, "off_topic": None},
    }
    conn = sqlite3.connect(store.path)
    row = conn.execute(
        "SELECT d.moderator, d.decided_at, d.source_line, i.file_path, i.file_sha256, i.licence "
        "FROM decisions d JOIN imports i ON i.id = d.import_id WHERE d.comment_id = 'c1'"
    ).fetchone()
    assert row[:4] == ("ana", "2024-05-01T10:00:00.000000Z", 1, str(path))
    assert len(row[4]) == 64 and row[5] == "CC-BY-4.0"
    record = next(r for r in store.records() if r.id == "label-store:c1")
    assert record.group == "label-store:article:a7" and record.licence == "CC-BY-4.0"


def labelstudio_export() -> list[dict[str, Any]]:
    def result(name: str, choice: str) -> dict[str, Any]:
        return {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [choice]}}

    return [
        {
            "id": 17,
            "data": {"comment_id": "c1", "text": "Сдохни, тварь.", "article_title": "Дороги", "lang": "ru"},
            "annotations": [
                {"id": 1, "completed_by": {"id": 3, "email": "ana@site"}, "was_cancelled": False,
                 "created_at": T1, "updated_at": T2,
                 "result": [result("abusive", "yes"), result("mocking", "no")]},
                {"id": 2, "completed_by": 4, "was_cancelled": True, "created_at": T3,
                 "result": [result("abusive", "no")]},
            ],
        },
        {"id": 18, "data": {"text": "who watched the match?"}, "annotations": [
            {"id": 3, "completed_by": 4, "created_at": T1, "result": [result("off_topic", "yes")]}]},
        {"id": 19, "data": {"comment_id": "c3", "text": "x"}, "annotations": [
            {"id": 4, "completed_by": 4, "created_at": T1, "result": [result("abuse", "yes")]}]},
        {"id": 20, "data": {"comment_id": "c4", "text": "y"}, "annotations": []},
    ]  # fmt: skip


def test_labelstudio_import(tmp_path: Path, store: LabelStore) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(labelstudio_export(), ensure_ascii=False), encoding="utf-8")
    report = store.import_file(path, "labelstudio")
    assert report.imported == 2
    assert [(b.where, "abuse" in b.message) for b in report.bad] == [("task 3 (id 19) annotation 1", True)]
    assert sorted(s.reason for s in report.skipped) == ["annotation cancelled", "task not annotated"]
    assert labels_of(store) == {
        "c1": {"abusive": 1, "mocking": 0, "off_topic": None},  # the cancelled "no" is not read
        "ls-task:18": {"abusive": None, "mocking": None, "off_topic": 1},
    }
    moderators = store.stats().moderators
    assert moderators == {"ana@site": 2, "ls-user:4": 1}
    row = (
        sqlite3.connect(store.path)
        .execute("SELECT decided_at, source_line, source_part FROM decisions WHERE comment_id = 'c1' LIMIT 1")
        .fetchone()
    )
    assert row == ("2024-05-02T10:00:00.000000Z", 1, 1)  # updated_at, task 1, annotation 1


def test_labeling_config_names_the_labels() -> None:
    root = ET.fromstring(labeling_config())
    choices = {c.get("name"): c for c in root.iter("Choices")}
    assert list(choices) == list(LABELS)
    for control in choices.values():
        assert control.get("toName") == "text"
        assert [c.get("value") for c in control.iter("Choice")] == ["yes", "no"]
    texts = {t.get("name"): t.get("value") for t in root.iter("Text")}
    assert texts == {"text": "$text", "article_title": "$article_title"}


def coral_rows() -> list[Any]:
    story = {"id": "s1", "url": "https://news/s1", "metadata": {"title": "New tram line"}}
    return [
        {"id": "k1", "body": "great article", "story": story, "status": "APPROVED", "moderatorID": "m1",
         "createdAt": T1},
        {"comment_id": "k2", "body": "idiot", "story_id": "s1", "status": "REJECTED",
         "rejection_reason": {"code": "ABUSIVE"}, "moderator": {"username": "mod2"}, "created_at": T2},
        {"comment_id": "k3", "text": "buy now", "status": "REJECTED", "reason": "spam", "created_at": T2},
        {"comment_id": "k4", "body": "hmm", "status": "REJECTED", "rejection_reason": {"code": "OTHER"}},
        {"comment_id": "k5", "body": "pending", "status": "PREMOD"},
        {"comment_id": "k6", "status": "APPROVED"},
    ]  # fmt: skip


def test_coral_default_mapping(tmp_path: Path, store: LabelStore) -> None:
    report = store.import_file(write_jsonl(tmp_path / "coral.jsonl", coral_rows()), "coral")
    assert report.imported == 3
    assert [(b.where, "missing text" in b.message) for b in report.bad] == [("line 6", True)]
    assert sorted(s.reason for s in report.skipped) == [
        "rejection reason OTHER maps to no label",
        "status PREMOD is not a moderator's decision",
    ]
    assert labels_of(store) == {
        "k1": {"abusive": 0, "mocking": 0, "off_topic": 0},  # APPROVED -> 0 for every label
        "k2": {"abusive": 1, "mocking": None, "off_topic": None},  # the others stay unjudged
        "k3": {"abusive": None, "mocking": None, "off_topic": 1},
    }
    k1 = next(r for r in store.records() if r.id == "label-store:k1")
    assert k1.article_title == "New tram line" and k1.group == "label-store:article:s1"
    assert store.stats().moderators == {"m1": 3, "mod2": 1, "": 1}


def test_coral_reason_map_override(tmp_path: Path, store: LabelStore) -> None:
    yaml_path = tmp_path / "reasons.yaml"
    yaml_path.write_text("other: mocking\nSPAM: [off_topic, abusive]\nABUSIVE: null\n", encoding="utf-8")
    reason_map = load_reason_map(yaml_path)
    assert (
        reason_map["OTHER"] == ("mocking",) and reason_map["HATE_SPEECH"] == DEFAULT_REASON_MAP["HATE_SPEECH"]
    )
    report = store.import_file(
        write_jsonl(tmp_path / "coral.jsonl", coral_rows()), "coral", reason_map=reason_map
    )
    labels = labels_of(store)
    assert "k2" not in labels  # ABUSIVE now maps to no label
    assert labels["k3"] == {"abusive": 1, "mocking": None, "off_topic": 1}
    assert labels["k4"] == {"abusive": None, "mocking": 1, "off_topic": None}
    assert "rejection reason ABUSIVE maps to no label" in {s.reason for s in report.skipped}


def test_reason_map_with_unknown_label_is_an_error(tmp_path: Path) -> None:
    yaml_path = tmp_path / "reasons.yaml"
    yaml_path.write_text("INSULT: rude\n", encoding="utf-8")
    with pytest.raises(LabelStoreError, match=r"INSULT maps to unknown label\(s\) \['rude'\]"):
        load_reason_map(yaml_path)
    with pytest.raises(LabelStoreError, match="does not exist"):
        load_reason_map(tmp_path / "missing.yaml")


# -- idempotency -----------------------------------------------------------------------------------


def test_reimport_adds_nothing(tmp_path: Path, store: LabelStore) -> None:
    path = write_csv(
        tmp_path / "d.csv",
        [{"id": "c1", "text": "a", "abusive": "1"}, {"id": "c2", "text": "b", "mocking": "0"}],
    )
    first = store.import_file(path, "csv")
    snapshot = store.snapshot_hash()
    second = store.import_file(path, "csv")
    assert (first.imported, second.imported, second.duplicates) == (2, 0, 2)
    stats = store.stats()
    assert (stats.imports, stats.decisions) == (1, 2)
    assert store.snapshot_hash() == snapshot


def test_overlapping_export_adds_only_new_decisions(tmp_path: Path, store: LabelStore) -> None:
    old = [decision("c1", "ana", T1, abusive=1), decision("c2", "bob", T1, mocking=1)]
    store.import_file(write_jsonl(tmp_path / "may.jsonl", old), "jsonl")
    newer = write_jsonl(tmp_path / "june.jsonl", [*old, decision("c3", "ana", T2, off_topic=1)])
    report = store.import_file(newer, "jsonl")
    assert (report.imported, report.duplicates) == (1, 2)
    assert store.stats().decisions == 3


# -- conflicts -------------------------------------------------------------------------------------


def test_latest_decision_of_one_moderator_wins(tmp_path: Path, store: LabelStore) -> None:
    # the newer decision comes first in the file and from the first import: time decides, not order
    store.import_file(write_jsonl(tmp_path / "a.jsonl", [decision("c1", "ana", T2, abusive=0)]), "jsonl")
    store.import_file(write_jsonl(tmp_path / "b.jsonl", [decision("c1", "ana", T1, abusive=1)]), "jsonl")
    assert labels_of(store)["c1"]["abusive"] == 0
    assert store.resolved()["c1"]["abusive"].rule == "latest"
    assert store.stats().conflicts == {"latest": 1}


def test_undated_decisions_take_the_time_of_their_import(tmp_path: Path, store: LabelStore) -> None:
    store.import_file(write_csv(tmp_path / "a.csv", [{"id": "c1", "text": "t", "abusive": "1"}]), "csv")
    store.import_file(write_csv(tmp_path / "b.csv", [{"id": "c1", "text": "t", "abusive": "0"}]), "csv")
    assert labels_of(store)["c1"]["abusive"] == 0


def test_majority_of_moderators_beats_the_latest(tmp_path: Path, store: LabelStore) -> None:
    rows = [
        decision("c1", "ana", T1, abusive=1),
        decision("c1", "bob", T2, abusive=1),
        decision("c1", "cat", T3, abusive=0),  # latest, but outvoted
    ]
    store.import_file(write_jsonl(tmp_path / "a.jsonl", rows), "jsonl")
    resolution = store.resolved()["c1"]["abusive"]
    assert (resolution.value, resolution.rule, resolution.conflict) == (1, "majority", True)
    # ana changes her mind: only her latest decision counts, so the majority flips
    store.import_file(write_jsonl(tmp_path / "b.jsonl", [decision("c1", "ana", T4, abusive=0)]), "jsonl")
    assert labels_of(store)["c1"]["abusive"] == 0
    assert store.resolved()["c1"]["abusive"].rule == "majority"


def test_tie_between_moderators_goes_to_the_latest(tmp_path: Path, store: LabelStore) -> None:
    rows = [decision("c1", "ana", T2, mocking=1), decision("c1", "bob", T1, mocking=0)]
    store.import_file(write_jsonl(tmp_path / "a.jsonl", rows), "jsonl")
    resolution = store.resolved()["c1"]["mocking"]
    assert (resolution.value, resolution.rule) == (1, "tie-latest")


def test_resolve_rule_directly() -> None:
    def vote(value: int, moderator: str, when: str, ident: int) -> Vote:
        return Vote(value, moderator, (when, 1, ident, 0, ident))

    assert resolve([vote(1, "a", T1, 1)]).rule == "latest"
    agree = resolve([vote(0, "a", T1, 1), vote(0, "b", T2, 2)])
    assert (agree.value, agree.conflict) == (0, False)
    majority = resolve([vote(0, "a", T1, 1), vote(0, "b", T1, 2), vote(1, "c", T3, 3), vote(1, "a", T0, 4)])
    assert (majority.value, majority.rule) == (0, "majority")
    with pytest.raises(ValueError):
        resolve([])


# -- bad rows --------------------------------------------------------------------------------------


def test_bad_jsonl_rows_are_reported_with_lines(tmp_path: Path, store: LabelStore) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": "c1", "text": "fine", "abusive": 1},
            '{"id": "c2", "text": broken',
            {"id": "c3", "text": "x", "abusive": "maybe"},
            {"id": "c4", "text": "   ", "abusive": 1},
            [1, 2],
            {"id": "c6", "text": "t", "abusive": 1, "decided_at": "yesterday"},
            {"id": "c7", "text": "also fine", "off_topic": 0},
        ],
    )
    report = store.import_file(path, "jsonl")
    assert report.imported == 2
    assert [b.where for b in report.bad] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    lines = report.bad_lines()
    assert lines[0].startswith(f"{path}: line 2: not valid JSON")
    assert "label 'abusive' is 'maybe'; write 1, 0 or leave it empty" in lines[1]
    assert "missing text" in lines[2] and "expected a JSON object" in lines[3] and "'yesterday'" in lines[4]
    assert set(labels_of(store)) == {"c1", "c7"}


def test_bad_csv_rows_are_reported_by_their_first_line(tmp_path: Path, store: LabelStore) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "id,text,abusive,mocking,off_topic\n"
        'c1,"two\nlines",1,,\n'  # lines 2-3
        "c2,t,2,,\n"  # line 4: unknown value
        "c3,t,1\n"  # line 5: too few fields
        ",t,1,,\n"  # line 6: no id
        "c5,fine,,1,\n",  # line 7
        encoding="utf-8",
    )
    report = store.import_file(path, "csv")
    assert report.imported == 2
    assert [(b.where, b.message.split(" ")[0]) for b in report.bad] == [
        ("line 4", "label"),
        ("line 5", "row"),
        ("line 6", "missing"),
    ]
    assert labels_of(store)["c1"] == {"abusive": 1, "mocking": None, "off_topic": None}
    assert next(r.text for r in store.records() if r.id == "label-store:c1") == "two\nlines"


def test_unreadable_files_raise_and_keep_nothing(tmp_path: Path, store: LabelStore) -> None:
    with pytest.raises(LabelStoreError, match="cannot read import file"):
        store.import_file(tmp_path / "missing.csv", "csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,text,abusive\nc1,caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(LabelStoreError, match="not UTF-8"):
        store.import_file(latin, "csv")
    wrong = write_csv(tmp_path / "wrong.csv", [{"comment": "x"}], columns=["comment"])
    with pytest.raises(LabelStoreError, match="needs id, text and at least one of"):
        store.import_file(wrong, "csv")
    broken = tmp_path / "ls.json"
    broken.write_text('[{"id": 1,', encoding="utf-8")
    with pytest.raises(LabelStoreError, match="not a Label Studio JSON export"):
        store.import_file(broken, "labelstudio")
    with pytest.raises(LabelStoreError, match="licence 'site-own' is not one the data catalog knows"):
        store.import_file(
            write_csv(tmp_path / "ok.csv", [{"id": "c", "text": "t", "abusive": "1"}]),
            "csv",
            licence="site-own",
        )
    assert store.stats().decisions == 0


# -- store -----------------------------------------------------------------------------------------


def test_schema_is_versioned_and_in_wal_mode(tmp_path: Path, store: LabelStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    with pytest.raises(LabelStoreError, match="schema version 99; this commentmod reads version 1"):
        LabelStore(store.path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(LabelStoreError, match="not a usable SQLite label store"):
        LabelStore(junk)
    with pytest.raises(LabelStoreError, match="does not exist"):
        LabelStore(tmp_path / "none.sqlite", create=False)


def test_snapshot_hash_depends_on_resolved_labels_only(tmp_path: Path) -> None:
    rows = [decision("c1", "ana", T1, abusive=1), decision("c2", "bob", T2, mocking=0)]
    with LabelStore(tmp_path / "one.sqlite") as one, LabelStore(tmp_path / "two.sqlite") as two:
        one.import_file(write_jsonl(tmp_path / "a.jsonl", rows), "jsonl")
        two.import_file(write_jsonl(tmp_path / "b2.jsonl", rows[1:]), "jsonl")
        two.import_file(write_jsonl(tmp_path / "b1.jsonl", rows[:1]), "jsonl")
        assert one.snapshot_hash() == two.snapshot_hash()
        before = one.snapshot_hash()
        one.import_file(write_jsonl(tmp_path / "c.jsonl", [decision("c1", "ana", T3, abusive=0)]), "jsonl")
        assert len(before) == 64 and one.snapshot_hash() != before


def test_stats_by_label_and_language(tmp_path: Path, store: LabelStore) -> None:
    rows = [
        {**decision("c1", "ana", T1, abusive=1), "lang": "ro"},
        {**decision("c1", "bob", T2, abusive=0), "lang": "ro"},  # tie -> latest (0)
        {**decision("c2", "ana", T1, abusive=1, mocking=1), "lang": "ro"},
        {**decision("c3", "ana", T1, off_topic=0), "lang": "en"},
    ]
    store.import_file(write_jsonl(tmp_path / "d.jsonl", rows), "jsonl")
    stats = store.stats()
    counts = {key: (c.positives, c.negatives, c.unjudged) for key, c in stats.by_label_lang.items()}
    assert counts[("abusive", "ro")] == (1, 1, 0)
    assert counts[("mocking", "ro")] == (1, 0, 1)
    assert counts[("off_topic", "en")] == (0, 1, 0)
    assert stats.conflicts == {"tie-latest": 1}
    assert stats.moderators == {"ana": 4, "bob": 1}
    text = "\n".join(stats.lines())
    assert "abusive    ro             1         1         0" in text
    assert (
        "conflicts (comment x label with both yes and no): 1 (0 by latest, 0 by majority, 1 by tie-latest)"
        in text
    )
    assert "moderators: 2" in text and "  ana: 4 decision(s)" in text


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_import_and_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "labels.sqlite"
    good = write_jsonl(
        tmp_path / "d.jsonl",
        [decision("c1", "ana", T1, abusive=1), "{broken", decision("c2", "bob", T2, mocking=0)],
    )
    assert main(["labels", "import", str(good), "--store", str(db), "--format", "jsonl"]) == 0
    out, err = capsys.readouterr()
    assert "imported 2 row(s) (2 label decision(s))" in out and "bad rows skipped: 1" in out
    assert f"bad row: {good}: line 2: not valid JSON" in err
    assert main(["labels", "import", str(good), "--store", str(db), "--format", "jsonl"]) == 0
    out, _ = capsys.readouterr()
    assert "imported 0 row(s)" in out and "duplicates skipped: 2" in out
    assert main(["labels", "stats", "--store", str(db)]) == 0
    out, _ = capsys.readouterr()
    assert "1 import(s), 2 comment(s), 2 label decision(s)" in out and "moderators: 2" in out


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "labels.sqlite")
    assert main(["labels", "import", str(tmp_path / "nope.csv"), "--store", db, "--format", "csv"]) == 2
    assert "error: cannot read import file" in capsys.readouterr().err
    all_bad = write_jsonl(tmp_path / "bad.jsonl", ["{", {"id": "x"}])
    assert main(["labels", "import", str(all_bad), "--store", db, "--format", "jsonl"]) == 1
    assert main(["labels", "stats", "--store", str(tmp_path / "other.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_coral_with_reason_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "labels.sqlite"
    reasons = tmp_path / "reasons.yaml"
    reasons.write_text("OTHER: mocking\n", encoding="utf-8")
    coral = write_jsonl(tmp_path / "coral.jsonl", coral_rows())
    argv = [
        "labels",
        "import",
        str(coral),
        "--store",
        str(db),
        "--format",
        "coral",
        "--reason-map",
        str(reasons),
    ]
    assert main([*argv, "--licence", "CC0-1.0"]) == 0
    out, _ = capsys.readouterr()
    assert "imported 4 row(s)" in out and "status PREMOD is not a moderator's decision: 1" in out
    with LabelStore(db, create=False) as store:
        records = {r.id: r for r in store.records()}
    assert records["label-store:k4"].labels["mocking"] == 1
    assert {r.licence for r in records.values()} == {"CC0-1.0"}
    assert (
        main(
            [
                "labels",
                "import",
                str(coral),
                "--store",
                str(db),
                "--format",
                "jsonl",
                "--reason-map",
                str(reasons),
            ]
        )
        == 2
    )

